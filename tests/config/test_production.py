"""Production settings: Django's deployment checks, and HTTPS redirects that spare the probes."""

import os
import re

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tenants.models import Tenant
from tests.conftest import host_of
from tests.support.manage import manage


def test_the_deployment_checks_pass_with_production_settings() -> None:
    env = {
        **os.environ,
        "MYCRM_ENV": "production",
        "SECRET_KEY": "a-production-secret-" + "x" * 40,
        "BASE_DOMAIN": "mycrm.example",
        "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example:587",
        "DEBUG": "false",
    }
    for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"):  # set by the test run
        env.pop(name, None)
    done = manage(env, "check", "--deploy")
    reported = set(re.findall(r"\((\w+\.\w+)\)", done.stdout + done.stderr))
    # Only the HSTS preload list remains: joining it is the operator's commitment to make.
    assert reported == {"security.W021"}, done.stdout + done.stderr


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_to_https_but_the_probes_are_not(tenant_a: Tenant) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    page = client.get("/contacts/")
    assert page.status_code == 301
    assert page["Location"] == f"https://{host_of(tenant_a)}/contacts/"
    assert client.get("/healthz").status_code == 200
    assert Client(HTTP_HOST=settings.BASE_DOMAIN).get("/readyz").status_code == 200
    assert Client(HTTP_HOST=settings.BASE_DOMAIN).get("/signup/").status_code == 301
    # Behind the load balancer, the forwarded scheme counts (SECURE_PROXY_SSL_HEADER).
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        forwarded = Client(HTTP_HOST=host_of(tenant_a), HTTP_X_FORWARDED_PROTO="https")
        assert forwarded.get("/contacts/").status_code == 302  # on to sign-in, over HTTPS
