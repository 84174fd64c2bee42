"""HTML pages of the CRM: list, search, create with field errors, edit, delete."""

import re

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Company, Contact
from iam.models import Membership, User
from iam.services import invitation_create
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import CompanyFactory, ContactFactory, DealFactory

pytestmark = pytest.mark.django_db


def test_member_creates_a_contact_from_the_form(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Vandelay Industries")
    response = client_a.post(
        "/contacts/new/",
        {
            "first_name": "Art",
            "last_name": "Vandelay",
            "email": "art@vandelay.test",
            "company": company.pk,
        },
    )
    assert response.status_code == 302
    with tenant_context(tenant_a):
        contact = Contact.objects.get(last_name="Vandelay")
    assert response["Location"] == f"/contacts/{contact.pk}/"
    page = client_a.get(response["Location"])
    assert b"art@vandelay.test" in page.content
    assert b"Vandelay Industries" in page.content


def test_contact_form_shows_field_errors_and_saves_nothing(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        before = Contact.objects.count()
    response = client_a.post("/contacts/new/", {"first_name": "", "email": "nope"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"first_name", "email"}
    assert b"Enter a valid email address" in response.content
    with tenant_context(tenant_a):
        assert Contact.objects.count() == before


def test_contact_list_search_answers_htmx_with_rows_only(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        ContactFactory(first_name="Kramer", last_name="Cosmo")
        ContactFactory(first_name="Newman", last_name="Postal")
    full = client_a.get("/contacts/")
    assert b"<html" in full.content
    rows = client_a.get("/contacts/", {"q": "kram"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in rows.content
    assert b"Kramer" in rows.content and b"Newman" not in rows.content
    assert "HX-Request" in rows["Vary"]


def test_edit_and_delete_a_contact(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="George")
    edited = client_a.post(
        f"/contacts/{contact.pk}/edit/", {"first_name": "George", "last_name": "Costanza"}
    )
    assert edited.status_code == 302
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=contact.pk).last_name == "Costanza"
    assert client_a.post(f"/contacts/{contact.pk}/delete/").status_code == 302
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(pk=contact.pk).exists()


def test_companies_pages(client_a: Client, tenant_a: Tenant) -> None:
    created = client_a.post("/companies/new/", {"name": "Kramerica"})
    assert created.status_code == 302
    with tenant_context(tenant_a):
        company = Company.objects.get(name="Kramerica")
        ContactFactory(first_name="Bob", last_name="Sacamano", company=company)
    assert b"Kramerica" in client_a.get("/companies/").content
    detail = client_a.get(f"/companies/{company.pk}/")
    assert b"Sacamano" in detail.content
    assert client_a.post(f"/companies/{company.pk}/delete/").status_code == 302


def test_dashboard_shows_the_default_pipelines_open_stages(client_a: Client) -> None:
    page = client_a.get("/")
    assert page.status_code == 200
    assert b"Lead in" in page.content and b"Negotiation" in page.content


def test_contact_form_takes_birthday_and_address_and_stores_them_encrypted(
    client_a: Client, tenant_a: Tenant
) -> None:
    response = client_a.post(
        "/contacts/new/",
        {"first_name": "Marie", "birthday": "1867-11-07", "address": "36 Quai de Béthune\nParis"},
    )
    assert response.status_code == 302
    page = client_a.get(response["Location"])
    assert "Quai de Béthune" in page.content.decode()
    with tenant_context(tenant_a):
        contact = Contact.objects.get(first_name="Marie")
        assert str(contact.birthday) == "1867-11-07"
        with connection.cursor() as cur:
            cur.execute("SELECT address, birthday FROM crm_contact WHERE id = %s", [contact.pk])
            stored = cur.fetchone()
        assert all(value.startswith("v1.") for value in stored)


def test_company_form_cuts_a_web_address_down_to_its_domain(
    client_a: Client, tenant_a: Tenant
) -> None:
    created = client_a.post(
        "/companies/new/", {"name": "Przykład", "domain": "https://www.example.pl/o-nas"}
    )
    assert created.status_code == 302
    with tenant_context(tenant_a):
        assert Company.objects.get(name="Przykład").domain == "example.pl"
    refused = client_a.post("/companies/new/", {"name": "Nowhere", "domain": "no domain here"})
    assert refused.status_code == 400
    assert "example.com" in refused.context["form"].errors["domain"][0]
    with tenant_context(tenant_a):
        assert not Company.objects.filter(name="Nowhere").exists()


def _getting_started(page: str) -> str:
    found = re.search(r'<section[^>]*data-testid="getting-started".*?</section>', page, re.DOTALL)
    return found.group(0) if found else ""


def test_a_new_owner_is_welcomed_with_first_steps_until_they_are_taken(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    Membership.objects.filter(tenant=tenant_a, user=member_a).delete()  # alone, as after sign-up
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    page = client.get("/").content.decode()
    assert "Welcome back" not in page and "Welcome to Alpha Inc" in page
    steps = _getting_started(page)
    for link in ("/contacts/import/", "/settings/members/", "/companies/new/", "/deals/new/"):
        assert f'href="{link}"' in steps
    assert "0 of 4 done" in steps

    with tenant_context(tenant_a):
        ContactFactory()
    steps = _getting_started(client.get("/").content.decode())
    assert "1 of 4 done" in steps and 'href="/contacts/import/"' not in steps

    invitation_create(tenant=tenant_a, by=owner_a, email="new@alpha.test")
    with tenant_context(tenant_a):
        CompanyFactory()
    steps = _getting_started(client.get("/").content.decode())
    assert "3 of 4 done" in steps and 'href="/deals/new/"' in steps
    with tenant_context(tenant_a):
        DealFactory()
    page = client.get("/").content.decode()
    assert _getting_started(page) == ""  # all done: the list goes
    assert "Welcome back" in page


def test_a_member_is_not_asked_to_invite_people(client_a: Client) -> None:
    steps = _getting_started(client_a.get("/").content.decode())
    assert 'href="/contacts/import/"' in steps and "/settings/members/" not in steps
