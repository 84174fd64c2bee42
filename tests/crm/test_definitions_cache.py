"""Custom field definitions are kept in each process by the organization's settings version:
read once, read afresh the moment a definition changes, never mixed between organizations,
and never kept from a transaction that may roll back."""

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm import selectors, services
from iam.models import User
from tenants.models import Tenant
from tenants.routing import forget_all_hosts
from tests.conftest import token_client

from .factories import ContactFactory, CustomFieldFactory

pytestmark = pytest.mark.django_db


def _listing(client: Client) -> tuple[dict[str, Any], list[str]]:
    """The first contact's custom values, and the SQL the listing ran."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/api/v1/contacts/")
    assert response.status_code == 200, response.content
    return response.json()["results"][0]["custom"], [q["sql"] for q in ctx.captured_queries]


def _reads_definitions(statements: list[str]) -> bool:
    return any("crm_customfield" in sql for sql in statements)


@pytest.fixture
def api_a(tenant_a: Tenant, member_a: User) -> Client:
    with tenant_context(tenant_a):
        ContactFactory()
        CustomFieldFactory(key="tier")
    return token_client(member_a, tenant_a)


def test_definitions_are_read_once_per_version(api_a: Client) -> None:
    custom, statements = _listing(api_a)
    assert custom == {"tier": None} and _reads_definitions(statements)
    custom, statements = _listing(api_a)
    assert custom == {"tier": None} and not _reads_definitions(statements)


def test_a_new_version_is_read_afresh_and_only_a_new_version(
    api_a: Client, tenant_a: Tenant
) -> None:
    _listing(api_a)
    with tenant_context(tenant_a):
        CustomFieldFactory(key="region")  # written around the services: no new version
    forget_all_hosts()  # what another process's announcement does
    assert _listing(api_a)[0] == {"tier": None}  # still the kept version's definitions

    # What another process's change looks like from here: a new version, then its announcement.
    Tenant.objects.filter(pk=tenant_a.pk).update(settings_version=F("settings_version") + 1)
    forget_all_hosts()
    custom, statements = _listing(api_a)
    assert custom == {"tier": None, "region": None} and _reads_definitions(statements)


def test_a_change_through_the_services_gives_a_new_version_and_shows_at_once(
    api_a: Client, tenant_a: Tenant, owner_a: User
) -> None:
    _listing(api_a)
    before = Tenant.objects.get(pk=tenant_a.pk).settings_version
    with tenant_context(tenant_a):
        field = services.custom_field_create(
            by=owner_a, entity="contact", label="Region", type="text"
        )
    assert Tenant.objects.get(pk=tenant_a.pk).settings_version > before
    assert _listing(api_a)[0] == {"tier": None, "region": None}
    with tenant_context(tenant_a):
        services.custom_field_delete(field=field, by=owner_a)
    assert _listing(api_a)[0] == {"tier": None}


def test_definitions_of_one_organization_never_show_at_another(
    api_a: Client, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_b):
        ContactFactory()
        CustomFieldFactory(key="beta_only")
    api_b = token_client(owner_b, tenant_b)
    for _ in range(3):
        assert _listing(api_a)[0] == {"tier": None}
        assert _listing(api_b)[0] == {"beta_only": None}


def test_a_change_that_rolls_back_is_never_kept(tenant_a: Tenant, owner_a: User) -> None:
    with tenant_context(tenant_a):
        CustomFieldFactory(key="tier")
        assert [d.key for d in selectors.custom_field_definitions("contact")] == ["tier"]
        with pytest.raises(RuntimeError), transaction.atomic():
            services.custom_field_create(by=owner_a, entity="contact", label="Gone", type="text")
            seen = selectors.custom_field_definitions("contact")
            assert [d.key for d in seen] == ["tier", "gone"]  # its own change, from the database
            raise RuntimeError("roll back")
        assert [d.key for d in selectors.custom_field_definitions("contact")] == ["tier"]
    kept = [d.key for defs in selectors._definitions.values() for d in defs]
    assert "gone" not in kept


def test_saving_an_organization_read_earlier_keeps_the_newer_version(
    tenant_a: Tenant, owner_a: User
) -> None:
    stale = Tenant.objects.get(pk=tenant_a.pk)
    with tenant_context(tenant_a):
        services.custom_field_create(by=owner_a, entity="contact", label="Region", type="text")
    newer = Tenant.objects.get(pk=tenant_a.pk).settings_version
    stale.name = "Alpha Renamed"
    stale.save()
    row = Tenant.objects.get(pk=tenant_a.pk)
    assert (row.name, row.settings_version) == ("Alpha Renamed", newer)
