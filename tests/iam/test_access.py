"""Signing in: allauth pages, the membership wall, and password reset links."""

import re

import pytest
from django.core import mail
from django.test import Client

from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_member_signs_in_on_the_tenant_host_with_email_and_password(tenant_a: Tenant) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = client.post("/accounts/login/", {"login": "member@alpha.test", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_without_saying_whether_the_account_exists(
    tenant_a: Tenant,
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    wrong = client.post("/accounts/login/", {"login": "member@alpha.test", "password": "nope"})
    unknown = client.post("/accounts/login/", {"login": "ghost@alpha.test", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 200
    assert client.get("/contacts/").status_code == 302


def test_non_member_sees_a_403_page_naming_the_problem(tenant_b: Tenant, member_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(member_a)
    response = client.get("/")
    assert response.status_code == 403
    assert b"not a member" in response.content


def test_sign_out_works_for_a_non_member(tenant_b: Tenant, member_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(member_a)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_password_reset_link_uses_the_canonical_host_not_the_request_host(
    tenant_a: Tenant,
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.post("/accounts/password/reset/", {"email": "member@alpha.test"})
    assert len(mail.outbox) == 1
    links = re.findall(r"https?://[^\s]+", mail.outbox[0].body)
    assert links and all(link.startswith("http://localhost:8000/") for link in links)
    reset_path = links[0].split("localhost:8000", 1)[1]
    public = Client(HTTP_HOST="localhost")
    page = public.get(reset_path, follow=True)
    assert page.status_code == 200
    done = public.post(
        page.redirect_chain[-1][0] if page.redirect_chain else reset_path,
        {"password1": "An0ther-long-passphrase", "password2": "An0ther-long-passphrase"},
    )
    assert done.status_code == 302
    assert User.objects.get(email="member@alpha.test").check_password("An0ther-long-passphrase")
