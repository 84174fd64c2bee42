"""Merging through the API: `POST /api/v1/contacts/merge/` and `/companies/merge/`."""

from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Company, Contact
from crm.services import contact_create
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

from .factories import ActivityFactory, CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


def merge(api: Client, records: str, body: dict[str, Any]) -> Any:
    return api.post(f"/api/v1/{records}/merge/", body, content_type="application/json")


def test_two_contacts_merge_into_the_survivor_with_the_chosen_values(
    api: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        ada = contact_create(by=member_a, first_name="Ada", title="CTO", email="ada@old.test")
        dup = contact_create(by=member_a, first_name="Ada", title="CEO", email="ada@new.test")
        note = ActivityFactory(contact=dup)

    answer = merge(
        api, "contacts", {"survivor": ada.pk, "others": [dup.pk], "fields": {"email": dup.pk}}
    )

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["id"], body["email"], body["title"]) == (ada.pk, "ada@new.test", "CTO")
    assert api.get(f"/api/v1/contacts/{dup.pk}/").status_code == 404
    timeline = api.get(f"/api/v1/contacts/{ada.pk}/timeline/").json()
    assert note.pk in [e["activity"]["id"] for e in timeline if e["activity"]]
    assert [(e["type"], e["id"]) for e in api.get("/api/v1/trash/").json()["results"]] == [
        ("contact", dup.pk)
    ]


def test_two_companies_merge_and_the_contacts_follow(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        acme, dup = CompanyFactory(name="Acme"), CompanyFactory(name="Acme Inc")
        person = ContactFactory(company=dup)

    answer = merge(
        api, "companies", {"survivor": acme.pk, "others": [dup.pk], "fields": {"name": dup.pk}}
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["name"] == "Acme Inc"
    assert api.get(f"/api/v1/contacts/{person.pk}/").json()["company"] == acme.pk
    with tenant_context(tenant_a):
        assert Company.trashed.filter(pk=dup.pk).exists()


@pytest.mark.parametrize(
    "case", ["itself", "trashed", "other-organization", "bad-field", "bad-choice"]
)
def test_a_merge_that_cannot_be_is_a_400_problem_and_changes_nothing(
    api: Client, tenant_a: Tenant, tenant_b: Tenant, case: str
) -> None:
    with tenant_context(tenant_a):
        ada, dup, gone = ContactFactory(), ContactFactory(), ContactFactory()
        Contact.objects.filter(pk=gone.pk).update(deleted_at=ada.created_at)
        stranger = ContactFactory()
    with tenant_context(tenant_b):
        # Ids repeat across organizations: one that names no contact of A at all.
        foreign = ContactFactory()
        while foreign.pk <= stranger.pk:
            foreign = ContactFactory()
    body = {
        "itself": {"survivor": ada.pk, "others": [ada.pk]},
        "trashed": {"survivor": ada.pk, "others": [gone.pk]},
        "other-organization": {"survivor": ada.pk, "others": [foreign.pk]},
        "bad-field": {"survivor": ada.pk, "others": [dup.pk], "fields": {"nickname": dup.pk}},
        "bad-choice": {"survivor": ada.pk, "others": [dup.pk], "fields": {"title": stranger.pk}},
    }[case]

    answer = merge(api, "contacts", body)

    assert answer.status_code == 400, answer.content
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["errors"]
    with tenant_context(tenant_a):
        assert set(Contact.objects.values_list("pk", flat=True)) >= {ada.pk, dup.pk}
    with tenant_context(tenant_b):
        assert Contact.objects.filter(pk=foreign.pk).exists()
