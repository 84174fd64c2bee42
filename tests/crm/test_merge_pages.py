"""The merge pages: from a contact's or company's page, find the duplicate, compare the two
side by side and merge with a choice per field."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Activity, Company, Contact
from crm.services import contact_create
from iam.models import User
from tenants.models import Tenant

from .factories import ActivityFactory, CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_a_contact_page_offers_merge_and_finds_the_duplicate_by_name(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        ada = ContactFactory(first_name="Ada", last_name="Lovelace")
        dup = ContactFactory(first_name="Ada", last_name="Lovelace-King")
    assert (
        f'href="/merge/contact/{ada.pk}/"' in client_a.get(f"/contacts/{ada.pk}/").content.decode()
    )

    page = client_a.get(f"/merge/contact/{ada.pk}/", {"q": "lovelace"}).content.decode()

    candidates = page.split('data-testid="merge-candidates"', 1)[1]
    assert f"/merge/contact/{ada.pk}/{dup.pk}/" in candidates
    assert f"/merge/contact/{ada.pk}/{ada.pk}/" not in candidates


def test_the_comparison_shows_both_values_and_merging_keeps_the_choices(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        ada = contact_create(by=member_a, first_name="Ada", title="CTO", email="ada@old.test")
        dup = contact_create(by=member_a, first_name="Ada", title="CEO", email="ada@new.test")
        note = ActivityFactory(contact=dup)
    url = f"/merge/contact/{ada.pk}/{dup.pk}/"
    page = client_a.get(url).content.decode()
    assert "ada@old.test" in page and "ada@new.test" in page and "CEO" in page

    answer = client_a.post(
        url, {"survivor": dup.pk, "email": ada.pk, "title": dup.pk, "first_name": ada.pk}
    )

    assert answer.status_code == 302
    assert answer["Location"] == f"/contacts/{dup.pk}/"
    with tenant_context(tenant_a):
        kept = Contact.objects.get(pk=dup.pk)
        assert (kept.email, kept.title) == ("ada@old.test", "CEO")
        assert Contact.trashed.filter(pk=ada.pk).exists()
        assert Activity.objects.get(pk=note.pk).contact_id == dup.pk


def test_companies_merge_from_their_page(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        acme, dup = CompanyFactory(name="Acme"), CompanyFactory(name="Acme Inc", domain="acme.test")
        person = ContactFactory(company=dup)
    assert (
        f'href="/merge/company/{acme.pk}/"'
        in client_a.get(f"/companies/{acme.pk}/").content.decode()
    )
    answer = client_a.post(
        f"/merge/company/{acme.pk}/{dup.pk}/", {"survivor": acme.pk, "domain": dup.pk}
    )
    assert answer.status_code == 302
    with tenant_context(tenant_a):
        assert Company.objects.get(pk=acme.pk).domain == "acme.test"
        assert Contact.objects.get(pk=person.pk).company_id == acme.pk


def test_without_a_survivor_the_page_asks_for_one_and_nothing_changes(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        ada, dup = ContactFactory(), ContactFactory()
    answer = client_a.post(f"/merge/contact/{ada.pk}/{dup.pk}/", {})
    assert answer.status_code == 400
    assert "Choose the record that stays." in answer.content.decode()
    with tenant_context(tenant_a):
        assert Contact.objects.filter(pk__in=[ada.pk, dup.pk]).count() == 2


def test_a_record_is_not_compared_with_itself_nor_with_a_trashed_or_foreign_one(
    client_a: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_a):
        ada, gone = ContactFactory(), ContactFactory()
        Contact.objects.filter(pk=gone.pk).update(deleted_at=ada.created_at)
    with tenant_context(tenant_b):
        # Ids repeat across organizations: one that names no contact of A at all.
        foreign = ContactFactory()
        while foreign.pk <= gone.pk:
            foreign = ContactFactory()
    for other in (ada.pk, gone.pk, foreign.pk):
        assert client_a.get(f"/merge/contact/{ada.pk}/{other}/").status_code == 404
        assert (
            client_a.post(f"/merge/contact/{ada.pk}/{other}/", {"survivor": ada.pk}).status_code
            == 404
        )
    assert client_a.get(f"/merge/contact/{foreign.pk}/").status_code == 404
    assert client_a.get(f"/merge/lead/{ada.pk}/").status_code == 404
    with tenant_context(tenant_b):
        assert Contact.objects.filter(pk=foreign.pk).exists()
