"""The trash through the API: deleting moves a record there, the trash lists it, a restore
brings it back, whoever may delete it may delete it for good; another organization sees
none."""

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Company, Contact, Deal, Lead
from crm.services import contact_create, contact_delete
from crm.services.trash import TRASH_DAYS
from iam.models import Membership, Role, User
from tenants.models import Tenant
from tests.conftest import token_client
from tests.factories import UserFactory

from .factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db

RECORDS = {
    "contacts": ("contact", ContactFactory, Contact),
    "companies": ("company", CompanyFactory, Company),
    "leads": ("lead", LeadFactory, Lead),
    "deals": ("deal", DealFactory, Deal),
}


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def make(tenant: Tenant, plural: str, **fields: Any) -> Any:
    with tenant_context(tenant):
        return RECORDS[plural][1](**fields)


@pytest.mark.parametrize("plural", list(RECORDS))
def test_a_deleted_record_is_in_the_trash_not_in_its_list_nor_at_its_address(
    api: Client, tenant_a: Tenant, member_a: User, plural: str
) -> None:
    record = make(tenant_a, plural)
    assert api.delete(f"/api/v1/{plural}/{record.pk}/").status_code == 204

    assert api.get(f"/api/v1/{plural}/{record.pk}/").status_code == 404
    assert record.pk not in [r["id"] for r in api.get(f"/api/v1/{plural}/").json()["results"]]
    trash = api.get("/api/v1/trash/").json()
    assert trash["count"] == 1
    (entry,) = trash["results"]
    assert (entry["type"], entry["id"], entry["deleted_by"]) == (
        RECORDS[plural][0],
        record.pk,
        member_a.pk,
    )
    assert entry["deleted_by_name"]
    assert entry["days_left"] == TRASH_DAYS - 1


@pytest.mark.parametrize("plural", list(RECORDS))
def test_a_restore_brings_the_record_back_to_its_list(
    api: Client, tenant_a: Tenant, plural: str
) -> None:
    record = make(tenant_a, plural)
    api.delete(f"/api/v1/{plural}/{record.pk}/")

    restored = api.post(f"/api/v1/{plural}/{record.pk}/restore/")

    assert restored.status_code == 200, restored.content
    assert restored.json()["id"] == record.pk
    assert restored.json()["url"].endswith(f"/api/v1/{plural}/{record.pk}/")
    assert api.get(f"/api/v1/{plural}/{record.pk}/").status_code == 200
    assert api.get("/api/v1/trash/").json()["count"] == 0


def test_restoring_a_record_that_is_not_in_the_trash_is_a_404(
    api: Client, tenant_a: Tenant
) -> None:
    contact = make(tenant_a, "contacts")
    answer = api.post(f"/api/v1/contacts/{contact.pk}/restore/")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/problem+json"


def test_a_restore_that_would_duplicate_an_email_address_is_a_409(
    api: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        first = contact_create(by=member_a, first_name="Ada", email="ada@example.com")
        contact_delete(contact=first, by=member_a)
        second = contact_create(by=member_a, first_name="Ada", email="ada@example.com")

    answer = api.post(f"/api/v1/contacts/{first.pk}/restore/")

    assert answer.status_code == 409
    problem = answer.json()
    assert problem["code"] == "contact-email-taken"
    assert problem["errors"] == {"email": [problem["detail"]]}
    assert problem["contact"] == second.pk


def test_the_trash_lists_one_kind_when_asked(api: Client, tenant_a: Tenant) -> None:
    contact, lead = make(tenant_a, "contacts"), make(tenant_a, "leads")
    api.delete(f"/api/v1/contacts/{contact.pk}/")
    api.delete(f"/api/v1/leads/{lead.pk}/")
    only = api.get("/api/v1/trash/", {"type": "lead"}).json()
    assert [(e["type"], e["id"]) for e in only["results"]] == [("lead", lead.pk)]
    for bad_type in ("tag", ""):
        bad = api.get("/api/v1/trash/", {"type": bad_type})
        assert bad.status_code == 400
        assert "type" in bad.json()["errors"]


def test_the_trash_list_reads_a_fixed_number_of_statements_whatever_its_length(
    api: Client, tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    def statements(per_kind: int) -> int:
        with tenant_context(tenant_a):
            for model in (Deal, Lead, Contact, Company):
                model.with_trashed.all().delete()
            for n, (_, factory, model) in enumerate(RECORDS.values()):
                for i in range(per_kind):
                    record = factory()
                    model.objects.filter(pk=record.pk).update(
                        deleted_at=record.created_at,
                        deleted_by_id=(member_a, owner_a)[(n + i) % 2].pk,
                    )
        api.get("/api/v1/trash/")
        with CaptureQueriesContext(connection) as queries:
            answer = api.get("/api/v1/trash/", {"page_size": "100"})
        assert len(answer.json()["results"]) == per_kind * 4
        return len(queries)

    assert statements(10) == statements(1)
    assert statements(1) <= 6


def test_only_those_who_may_delete_a_record_delete_it_for_good(
    api: Client, owner_api: Client, tenant_a: Tenant
) -> None:
    reader = UserFactory()
    Membership.objects.create(user=reader, tenant=tenant_a, role=Role.READ_ONLY)
    reader_api = token_client(reader, tenant_a)
    deal = make(tenant_a, "deals")
    api.delete(f"/api/v1/deals/{deal.pk}/")
    # Viewable, not deletable: refused with the reason, and not listed.
    refused = reader_api.delete(f"/api/v1/trash/deal/{deal.pk}/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access-denied"
    assert "delete deals" in refused.json()["detail"]
    assert reader_api.get("/api/v1/trash/").json()["count"] == 0
    assert api.delete(f"/api/v1/trash/deal/{deal.pk}/").status_code == 204
    with tenant_context(tenant_a):
        assert not Deal.with_trashed.filter(pk=deal.pk).exists()
    assert owner_api.delete(f"/api/v1/trash/deal/{deal.pk}/").status_code == 404


def test_another_organizations_trash_is_out_of_reach(
    api: Client, tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    other = make(tenant_b, "contacts")
    with tenant_context(tenant_b):
        contact_delete(contact=other, by=owner_b)
    owner_of_a = token_client(User.objects.get(email="owner@alpha.test"), tenant_a)

    assert api.get("/api/v1/trash/").json()["count"] == 0
    assert api.post(f"/api/v1/contacts/{other.pk}/restore/").status_code == 404
    assert owner_of_a.delete(f"/api/v1/trash/contact/{other.pk}/").status_code == 404
    with tenant_context(tenant_b):
        assert Contact.trashed.filter(pk=other.pk).exists()
