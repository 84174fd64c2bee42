"""Requests are routed by host: public site, tenant, unknown (404), suspended (423)."""

import pytest
from django.test import Client

from iam.models import User
from tenants.models import Tenant
from tenants.services import tenant_restore, tenant_suspend
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def test_bare_domain_serves_the_public_site(public_client: Client) -> None:
    response = public_client.get("/")
    assert response.status_code == 200
    assert b"Sign up" in response.content


def test_tenant_host_serves_the_tenant_dashboard(client_a: Client, tenant_a: Tenant) -> None:
    response = client_a.get("/")
    assert response.status_code == 200
    assert tenant_a.name.encode() in response.content


def test_tenant_host_with_port_is_routed(tenant_a: Tenant, member_a: User) -> None:
    client = Client(HTTP_HOST=f"{host_of(tenant_a)}:8000")
    client.force_login(member_a)
    assert client.get("/").status_code == 200


def test_unknown_host_gets_a_404_page() -> None:
    response = Client(HTTP_HOST="nobody-here.localhost").get("/")
    assert response.status_code == 404
    assert b"No organization" in response.content


def test_unknown_host_gets_problem_json_on_the_api() -> None:
    response = Client(HTTP_HOST="nobody-here.localhost").get("/api/v1/contacts/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "organization-not-found"


def test_suspended_tenant_shows_a_clear_page_and_423_on_the_api(
    client_a: Client, tenant_a: Tenant
) -> None:
    tenant_suspend(tenant=tenant_a)
    page = client_a.get("/contacts/")
    assert page.status_code == 423
    assert b"suspended" in page.content.lower()
    api = client_a.get("/api/v1/contacts/")
    assert api.status_code == 423
    assert api["Content-Type"] == "application/problem+json"
    assert api.json()["code"] == "organization-suspended"
    tenant_restore(tenant=tenant_a)
    assert client_a.get("/contacts/").status_code == 200


def test_health_probes_answer_on_public_and_tenant_hosts(
    public_client: Client, tenant_a: Tenant
) -> None:
    tenant_client = Client(HTTP_HOST=host_of(tenant_a))
    for client in (public_client, tenant_client):
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.content
        assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "vault": "ok"}


def test_readyz_names_the_failing_part(public_client: Client, settings: object) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    response = public_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"


def test_anonymous_visitor_of_a_tenant_page_is_sent_to_sign_in(tenant_a: Tenant) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/contacts/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_anonymous_api_call_gets_401_problem(tenant_a: Tenant) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/api/v1/contacts/")
    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"
