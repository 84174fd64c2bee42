"""Vault unreachable or sealed: cached keys keep reads working, writes needing a key fail closed
with a clear error (503 on the API, a message in the UI), nothing is stored in plaintext, and
service resumes by itself when Vault is back."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context
from pytest_django.fixtures import Settings

from crm.models import Contact
from iam.models import User
from pii import keys, vault
from pii.models import TenantKey
from tenants.models import Tenant
from tenants.services import provision_tenant
from tests.conftest import host_of
from tests.factories import UserFactory
from tests.support.openbao import SealableOpenBao, sealable_openbao

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


@pytest.fixture
def sealable_vault(settings: Settings, tmp_path: Path) -> Iterator[SealableOpenBao]:
    """MyCRM pointed at an OpenBao of this test's own, which it may seal (see tests/support)."""
    with sealable_openbao(tmp_path) as bao:
        settings.VAULT_ADDR = bao.addr
        settings.VAULT_AUTH_METHOD = "token"
        settings.VAULT_TOKEN = bao.token
        vault.forget_session()
        yield bao
        vault.forget_session()


def _organization_client(slug: str) -> tuple[Tenant, Client]:
    """A brand-new organization (no key yet, in any Vault) and its owner's browser."""
    owner = UserFactory()
    tenant = provision_tenant(slug=slug, name=slug.title(), owner=owner)
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(owner)
    return tenant, client


def _post_contact(client: Client, first_name: str, email: str) -> Any:
    return client.post(
        "/api/v1/contacts/",
        {"first_name": first_name, "email": email},
        content_type="application/json",
    )


def test_a_sealed_vault_keeps_cached_keys_working_refuses_new_ones_and_recovers_unsealed(
    sealable_vault: SealableOpenBao,
) -> None:
    _, kept_client = _organization_client("sealed-kept")
    fresh, fresh_client = _organization_client("sealed-fresh")
    created = _post_contact(kept_client, "Kept", "kept@x.test")
    assert created.status_code == 201
    contact_id = created.json()["id"]
    session = vault.client()

    sealable_vault.seal()
    try:
        read = kept_client.get(f"/api/v1/contacts/{contact_id}/")
        assert read.status_code == 200 and read.json()["email"] == "kept@x.test"
        assert b"kept@x.test" in kept_client.get(f"/contacts/{contact_id}/").content
        assert _post_contact(kept_client, "Also", "also@x.test").status_code == 201

        refused = _post_contact(fresh_client, "Later", "later@x.test")
        assert refused.status_code == 503
        assert refused["Content-Type"].startswith("application/problem+json")
        assert refused.json()["code"] == "key-service-unavailable"
        assert not TenantKey.objects.filter(tenant=fresh).exists()
        with tenant_context(fresh):
            assert not Contact.objects.exists()
    finally:
        sealable_vault.unseal()

    # No restart, no new login: the next write simply works.
    resumed = _post_contact(fresh_client, "Later", "later@x.test")
    assert resumed.status_code == 201
    assert vault.client() is session
    assert TenantKey.objects.filter(tenant=fresh).exists()
    with tenant_context(fresh), connection.cursor() as cur:
        cur.execute("SELECT string_agg(c::text, '\n') FROM crm_contact c")
        raw = cur.fetchone()[0]
    assert "Later" in raw and "later@x.test" not in raw
