"""Vault unreachable: cached keys keep reads working, writes needing a key fail closed with a
clear error (503 on the API, a message in the UI), and nothing is stored in plaintext."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Contact
from iam.models import User
from pii import keys
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

DEAD_VAULT = "http://127.0.0.1:9"


@pytest.fixture
def member_client(tenant_a: Tenant, member_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(member_a)
    return client


def test_api_write_fails_closed_with_503_and_stores_nothing(
    member_client: Client, tenant_a: Tenant, settings: object
) -> None:
    settings.VAULT_ADDR = DEAD_VAULT  # type: ignore[attr-defined]
    response = member_client.post(
        "/api/v1/contacts/",
        {"first_name": "Nope", "email": "nope@x.test"},
        content_type="application/json",
    )
    assert response.status_code == 503
    assert response.json()["code"] == "key-service-unavailable"
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(first_name="Nope").exists()


def test_ui_write_fails_closed_with_a_message(
    member_client: Client, tenant_a: Tenant, settings: object
) -> None:
    settings.VAULT_ADDR = DEAD_VAULT  # type: ignore[attr-defined]
    response = member_client.post("/contacts/new/", {"first_name": "Nope", "email": "n@x.test"})
    assert response.status_code == 503
    assert b"key service is unreachable" in response.content
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(first_name="Nope").exists()


def test_reads_work_while_the_key_is_cached_and_fail_clearly_after(
    member_client: Client, tenant_a: Tenant, settings: object
) -> None:
    created = member_client.post(
        "/api/v1/contacts/",
        {"first_name": "Kept", "email": "kept@x.test"},
        content_type="application/json",
    ).json()
    settings.VAULT_ADDR = DEAD_VAULT  # type: ignore[attr-defined]
    assert member_client.get(f"/api/v1/contacts/{created['id']}/").json()["email"] == "kept@x.test"
    assert b"kept@x.test" in member_client.get(f"/contacts/{created['id']}/").content

    keys.forget_all()  # the cache lifetime has passed
    api = member_client.get(f"/api/v1/contacts/{created['id']}/")
    assert api.status_code == 503
    page = member_client.get(f"/contacts/{created['id']}/")
    assert page.status_code == 503
    assert b"unavailable right now" in page.content


def test_service_resumes_by_itself_when_vault_returns(
    member_client: Client, settings: object
) -> None:
    real = settings.VAULT_ADDR  # type: ignore[attr-defined]
    settings.VAULT_ADDR = DEAD_VAULT  # type: ignore[attr-defined]
    down = member_client.post(
        "/api/v1/contacts/",
        {"first_name": "Later", "email": "later@x.test"},
        content_type="application/json",
    )
    assert down.status_code == 503
    settings.VAULT_ADDR = real  # type: ignore[attr-defined]
    up = member_client.post(
        "/api/v1/contacts/",
        {"first_name": "Later", "email": "later@x.test"},
        content_type="application/json",
    )
    assert up.status_code == 201
