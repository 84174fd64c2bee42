"""A contact of tenant A cannot be reached from tenant B by any route."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Contact
from iam.models import User
from iam.services import api_token_create
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contact_a(tenant_a: Tenant) -> Contact:
    with tenant_context(tenant_a):
        return ContactFactory(first_name="Secretive", last_name="Alpha-Only")


def test_contact_of_a_is_invisible_from_b_through_the_orm(
    contact_a: Contact, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        assert not Contact.objects.filter(last_name="Alpha-Only").exists()
        assert not Contact.objects.filter(pk=contact_a.pk, first_name="Secretive").exists()
    with tenant_context(tenant_a):
        assert Contact.objects.filter(last_name="Alpha-Only").count() == 1


def test_contact_of_a_is_invisible_from_b_through_the_api(
    contact_a: Contact, tenant_b: Tenant, owner_b: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(owner_b)
    listing = client.get("/api/v1/contacts/")
    assert listing.status_code == 200
    assert "Alpha-Only" not in listing.content.decode()
    detail = client.get(f"/api/v1/contacts/{contact_a.pk}/")
    assert detail.status_code == 404
    assert detail["Content-Type"] == "application/problem+json"


def test_contact_of_a_is_invisible_from_b_through_the_html_pages(
    contact_a: Contact, tenant_b: Tenant, owner_b: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(owner_b)
    listing = client.get("/contacts/")
    assert listing.status_code == 200
    assert "Alpha-Only" not in listing.content.decode()
    assert client.get(f"/contacts/{contact_a.pk}/").status_code == 404
    searched = client.get("/contacts/", {"q": "Alpha-Only"}).content.decode()
    assert "Secretive" not in searched
    assert f"/contacts/{contact_a.pk}/" not in searched


def test_contact_of_a_is_invisible_from_b_through_the_admin(
    contact_a: Contact, tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    client_b = Client(HTTP_HOST=host_of(tenant_b))
    client_b.force_login(owner_b)
    changelist = client_b.get("/admin/crm/contact/")
    assert changelist.status_code == 200
    assert "Alpha-Only" not in changelist.content.decode()
    change = client_b.get(f"/admin/crm/contact/{contact_a.pk}/change/")
    assert change.status_code in (302, 404)
    assert "Alpha-Only" not in change.content.decode()

    client_a = Client(HTTP_HOST=host_of(tenant_a))
    client_a.force_login(owner_a)
    assert "Alpha-Only" in client_a.get("/admin/crm/contact/").content.decode()


def test_change_history_of_a_is_invisible_from_b_through_the_admin(
    contact_a: Contact, tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    client_a = Client(HTTP_HOST=host_of(tenant_a))
    client_a.force_login(owner_a)
    changed = client_a.post(
        f"/admin/crm/contact/{contact_a.pk}/change/",
        {"first_name": "Secretive", "last_name": "Alpha-Only", "title": "Alpha's buyer"},
    )
    assert changed.status_code == 302
    history_a = client_a.get(f"/admin/crm/contact/{contact_a.pk}/history/").content.decode()
    assert "Title" in history_a and owner_a.email in history_a

    client_b = Client(HTTP_HOST=host_of(tenant_b))
    client_b.force_login(owner_b)
    missing = client_b.get(f"/admin/crm/contact/{contact_a.pk}/history/")
    assert missing.status_code in (302, 404)
    assert "Alpha-Only" not in missing.content.decode()
    # B's own record with the same id has a history of its own (none), not A's.
    with tenant_context(tenant_b):
        ContactFactory(pk=contact_a.pk, first_name="Beta", last_name="Own")
    twin = client_b.get(f"/admin/crm/contact/{contact_a.pk}/history/")
    assert twin.status_code == 200
    for leaked in ("Alpha-Only", "Title", owner_a.email):
        assert leaked not in twin.content.decode()
    assert "Alpha-Only" not in client_b.get("/admin/").content.decode()


def test_member_of_a_gets_403_on_every_page_and_api_call_of_b(
    client_a: Client, tenant_b: Tenant, contact_a: Contact
) -> None:
    # The same session (cookie spanning subdomains) presented to B's host.
    client_a.defaults["HTTP_HOST"] = host_of(tenant_b)
    for path in (
        "/",
        "/contacts/",
        "/companies/",
        "/settings/api-tokens/",
        "/trash/",
        "/contacts/import/",
        "/leads/import/",
        "/deals/import/",
        f"/merge/contact/{contact_a.pk}/",
        "/admin/",
        f"/admin/crm/contact/{contact_a.pk}/history/",
    ):
        assert client_a.get(path).status_code == 403, path
    for path in (
        "/api/v1/contacts/",
        "/api/v1/companies/",
        f"/api/v1/contacts/{contact_a.pk}/",
        "/api/v1/trash/",
    ):
        response = client_a.get(path)
        assert response.status_code == 403, path
        assert response["Content-Type"] == "application/problem+json"
    created = client_a.post(
        "/api/v1/contacts/", {"first_name": "Intruder"}, content_type="application/json"
    )
    assert created.status_code == 403
    with tenant_context(tenant_b):
        assert not Contact.objects.filter(first_name="Intruder").exists()


def test_token_of_a_is_rejected_at_b(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User, contact_a: Contact
) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="script")
    at_a = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert at_a.get("/api/v1/contacts/").status_code == 200
    at_b = Client(HTTP_HOST=host_of(tenant_b), HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = at_b.get("/api/v1/contacts/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert at_b.get(f"/api/v1/contacts/{contact_a.pk}/").status_code == 401
