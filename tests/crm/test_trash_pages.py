"""The Trash page: a member finds what was deleted, who deleted it and when, restores it or
deletes it for good, for the records they may delete; nothing of another organization shows
or answers."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Company, Contact, Deal, Lead
from crm.services import contact_create, contact_delete
from iam.models import Membership, Role, User
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import UserFactory

from .factories import CompanyFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


def test_a_deleted_contact_is_on_the_trash_page_with_who_and_how_long(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Zoë", last_name="Müller")
    answer = client_a.post(f"/contacts/{contact.pk}/delete/", follow=True)
    assert "moved to the trash" in answer.content.decode()
    assert client_a.get(f"/contacts/{contact.pk}/").status_code == 404
    assert "Zoë Müller" not in client_a.get("/contacts/").content.decode()

    page = client_a.get("/trash/").content.decode()

    assert "Zoë Müller" in page
    assert "30 days left" not in page and "29 days left" in page
    assert (member_a.full_name or member_a.email) in page
    assert 'href="/trash/"' in client_a.get("/").content.decode()  # in the menu


def test_restore_from_the_trash_page_opens_the_record_again(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Initech")
    client_a.post(f"/companies/{company.pk}/delete/")

    answer = client_a.post(f"/trash/company/{company.pk}/restore/")

    assert answer.status_code == 302
    assert answer["Location"] == f"/companies/{company.pk}/"
    assert "Initech" in client_a.get(answer["Location"]).content.decode()


def test_a_restore_blocked_by_a_taken_email_address_says_why(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        first = contact_create(by=member_a, first_name="Ada", email="ada@example.com")
        contact_delete(contact=first, by=member_a)
        contact_create(by=member_a, first_name="Ada two", email="ada@example.com")

    page = client_a.post(f"/trash/contact/{first.pk}/restore/", follow=True).content.decode()

    assert "can&#x27;t be restored" in page
    assert "ada@example.com" in page
    with tenant_context(tenant_a):
        assert Contact.trashed.filter(pk=first.pk).exists()


def test_only_those_who_may_delete_a_record_see_it_and_delete_it_for_good(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    reader = UserFactory()
    Membership.objects.create(user=reader, tenant=tenant_a, role=Role.READ_ONLY)
    reader_client = Client(HTTP_HOST=host_of(tenant_a))
    reader_client.force_login(reader)
    with tenant_context(tenant_a):
        deal = DealFactory(name="Rollout")
    client_a.post(f"/deals/{deal.pk}/delete/")
    # A role that may not delete deals has nothing of them in its trash, and may not act.
    assert "Rollout" not in reader_client.get("/trash/").content.decode()
    refused = reader_client.post(f"/trash/deal/{deal.pk}/delete/")
    assert refused.status_code == 403
    assert "allows you to delete deals" in refused.content.decode()
    assert reader_client.post(f"/trash/deal/{deal.pk}/restore/").status_code == 403

    assert "Delete for good" in client_a.get("/trash/").content.decode()
    assert client_a.post(f"/trash/deal/{deal.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert not Deal.with_trashed.filter(pk=deal.pk).exists()


def test_the_trash_page_filters_by_kind(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact, company = ContactFactory(first_name="Kept"), CompanyFactory(name="Gone Corp")
    client_a.post(f"/contacts/{contact.pk}/delete/")
    client_a.post(f"/companies/{company.pk}/delete/")
    page = client_a.get("/trash/", {"type": "company"}).content.decode()
    listed = page.split('data-testid="trash-entries"', 1)[1]
    assert "Gone Corp" in listed and "Kept" not in listed


def test_another_organizations_trash_is_out_of_reach(
    client_a: Client, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_b):
        other = ContactFactory(first_name="Bertha")
        contact_delete(contact=other, by=owner_b)
    assert "Bertha" not in client_a.get("/trash/").content.decode()
    assert client_a.post(f"/trash/contact/{other.pk}/restore/").status_code == 404
    assert client_a.post(f"/trash/nothing/{other.pk}/restore/").status_code == 404
    with tenant_context(tenant_b):
        assert Contact.trashed.filter(pk=other.pk).exists()


def test_a_contact_of_a_trashed_company_shows_it_as_in_the_trash(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Initech")
        contact = ContactFactory(company=company)
    client_a.post(f"/companies/{company.pk}/delete/")
    page = client_a.get(f"/contacts/{contact.pk}/").content.decode()
    assert "Initech (in the trash)" in page
    assert f'href="/companies/{company.pk}/"' not in page
    with tenant_context(tenant_a):
        assert Company.trashed.filter(pk=company.pk).exists()


def test_a_lead_converted_into_a_trashed_contact_names_it_without_a_link(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Grace", last_name="Hopper")
        lead = LeadFactory(converted_contact=contact)
        Lead.objects.filter(pk=lead.pk).update(converted_at=contact.created_at)
        contact_delete(contact=contact, by=member_a)
    page = client_a.get(f"/leads/{lead.pk}/").content.decode()
    assert "Grace Hopper (in the trash)" in page
    assert f'href="/contacts/{contact.pk}/"' not in page


def test_editing_a_contact_of_a_trashed_company_keeps_the_company(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Initech")
        contact = ContactFactory(company=company, first_name="Peter", email="", phone="")
    client_a.post(f"/companies/{company.pk}/delete/")
    form = client_a.get(f"/contacts/{contact.pk}/edit/").content.decode()
    assert "Initech is in the trash" in form

    answer = client_a.post(
        f"/contacts/{contact.pk}/edit/",
        {"first_name": "Peter", "last_name": "Gibbons", "company": company.pk},
    )

    assert answer.status_code == 302, answer.content.decode()[-1500:]
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=contact.pk).company_id == company.pk


def test_editing_a_deal_of_a_trashed_company_keeps_the_company(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Initech")
        deal = DealFactory(company=company, name="TPS reports")
    client_a.post(f"/companies/{company.pk}/delete/")
    form = client_a.get(f"/deals/{deal.pk}/edit/").content.decode()
    assert "Initech is in the trash" in form
    assert f'value="{company.pk}" selected' in form


def test_the_trash_page_reads_a_fixed_number_of_statements_whatever_its_length(
    client_a: Client, tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    def statements(per_kind: int) -> int:
        with tenant_context(tenant_a):
            for i in range(per_kind):
                for n, record in enumerate((ContactFactory(), CompanyFactory(), LeadFactory())):
                    type(record).objects.filter(pk=record.pk).update(
                        deleted_at=record.created_at,
                        deleted_by_id=(member_a, owner_a)[(n + i) % 2].pk,
                    )
        client_a.get("/trash/")
        with CaptureQueriesContext(connection) as queries:
            assert client_a.get("/trash/").status_code == 200
        return len(queries)

    few = statements(1)
    many = statements(8)
    # Host, session, user, membership, the page's count and rows, the names of who deleted.
    assert many <= few <= 9, (few, many)
