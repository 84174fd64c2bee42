"""HTML pages of leads: list with filters and sorting, form with field errors, status
actions, owner, conversion (with its confirmation when disqualified), deletion, isolation."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Contact, Lead
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_member_creates_a_lead_from_the_form(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    response = client_a.post(
        "/leads/new/",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@engine.test",
            "company_name": "Engines",
            "source": "event",
            "status": "new",
            "owner_id": str(member_a.pk),
        },
    )
    assert response.status_code == 302, response.content
    with tenant_context(tenant_a):
        lead = Lead.objects.get(last_name="Lovelace")
    assert lead.owner_id == member_a.pk
    assert response["Location"] == f"/leads/{lead.pk}/"
    page = client_a.get(response["Location"]).content.decode()
    assert "ada@engine.test" in page
    assert "Engines" in page


def test_lead_form_shows_field_errors_and_saves_nothing(client_a: Client, tenant_a: Tenant) -> None:
    response = client_a.post(
        "/leads/new/", {"last_name": "", "email": "nope", "status": "disqualified"}
    )
    assert response.status_code == 400
    assert {"last_name", "email"} <= set(response.context["form"].errors)
    reason = client_a.post("/leads/new/", {"last_name": "Smith", "status": "disqualified"})
    assert reason.status_code == 400
    assert set(reason.context["form"].errors) == {"disqualified_reason"}
    with tenant_context(tenant_a):
        assert not Lead.objects.exists()


def test_list_filters_sorts_and_shows_cards_for_phones(
    client_a: Client, tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    with tenant_context(tenant_a):
        LeadFactory(last_name="Mine-Working", owner_id=member_a.pk, status="working")
        LeadFactory(last_name="Theirs-New", owner_id=owner_a.pk, status="new")
        LeadFactory(last_name="Aardvark", owner_id=owner_a.pk, status="qualified")
    everything = client_a.get("/leads/").content.decode()
    assert 'data-testid="lead-cards"' in everything
    assert everything.count("Mine-Working</a>") == 2  # a card and a table row
    mine = client_a.get("/leads/", {"mine": "on"}).content.decode()
    assert "Mine-Working" in mine and "Theirs-New" not in mine
    working = client_a.get("/leads/", {"status": "working"}).content.decode()
    assert "Mine-Working" in working and "Aardvark" not in working
    owned = client_a.get("/leads/", {"owner": owner_a.pk}).content.decode()
    assert "Theirs-New" in owned and "Mine-Working" not in owned
    by_name = client_a.get("/leads/", {"ordering": "name"})
    names = [lead.last_name for lead in by_name.context["page"]]
    assert names == ["Aardvark", "Mine-Working", "Theirs-New"]
    assert "ordering=-name" in by_name.content.decode()  # the column sorts the other way next


def test_list_query_count_does_not_grow_with_leads(
    client_a: Client, tenant_a: Tenant, django_assert_max_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        LeadFactory.create_batch(25)
    # Warm: the host, the session and the organization's key, read once per process.
    assert client_a.get("/leads/").status_code == 200
    with django_assert_max_num_queries(15):  # type: ignore[operator]
        assert client_a.get("/leads/").status_code == 200


def test_status_actions_need_a_reason_to_disqualify(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    refused = client_a.post(f"/leads/{lead.pk}/status/", {"status": "disqualified"})
    assert refused.status_code == 400
    assert "Say why the lead is disqualified." in refused.content.decode()
    assert client_a.post(f"/leads/{lead.pk}/status/", {"status": "qualified"}).status_code == 302
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).status == Lead.Status.QUALIFIED


def test_owner_is_reassigned_to_members_only(
    client_a: Client, tenant_a: Tenant, owner_a: User, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    client_a.post(f"/leads/{lead.pk}/owner/", {"owner_id": owner_b.pk})
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).owner_id is None
    client_a.post(f"/leads/{lead.pk}/owner/", {"owner_id": owner_a.pk})
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).owner_id == owner_a.pk


def test_converting_from_the_page_lands_on_the_contact_and_links_it(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(first_name="Grace", last_name="Hopper", company_name="Navy")
    response = client_a.post(f"/leads/{lead.pk}/convert/", {"currency": "USD"})
    assert response.status_code == 302
    with tenant_context(tenant_a):
        contact = Contact.objects.get(last_name="Hopper")
    assert response["Location"] == f"/contacts/{contact.pk}/"
    page = client_a.get(f"/leads/{lead.pk}/").content.decode()
    assert f"/contacts/{contact.pk}/" in page
    assert 'id="convert-dialog"' not in page  # converted: no second conversion offered


def test_a_disqualified_lead_asks_for_confirmation_before_converting(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(status="disqualified", disqualified_reason="Too small")
    asked = client_a.post(f"/leads/{lead.pk}/convert/", {"currency": "USD"})
    assert asked.status_code == 409
    assert "confirm to convert anyway" in asked.content.decode()
    assert "data-open" in asked.content.decode()  # the dialog opens again
    with tenant_context(tenant_a):
        assert not Contact.objects.exists()
    confirmed = client_a.post(
        f"/leads/{lead.pk}/convert/", {"currency": "USD", "confirm_disqualified": "on"}
    )
    assert confirmed.status_code == 302


def test_convert_form_errors_are_shown_in_the_dialog(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    response = client_a.post(
        f"/leads/{lead.pk}/convert/", {"create_deal": "on", "amount": "-3", "currency": "QQQ"}
    )
    assert response.status_code == 400
    assert set(response.context["convert_form"].errors) == {"amount", "currency"}
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).converted_at is None


def test_delete_removes_the_lead(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory()
    assert client_a.post(f"/leads/{lead.pk}/delete/")["Location"] == "/leads/"
    with tenant_context(tenant_a):
        assert not Lead.objects.filter(pk=lead.pk).exists()


def test_menu_has_leads(client_a: Client) -> None:
    page = client_a.get("/leads/").content.decode()
    assert '<a href="/leads/" class="nav-link" aria-current="page">Leads</a>' in page


def test_lead_pages_of_a_are_404_from_b(tenant_a: Tenant, tenant_b: Tenant, owner_b: User) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(last_name="Alpha-Only-Lead")
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(owner_b)
    assert "Alpha-Only-Lead" not in client.get("/leads/", {"q": "Alpha"}).content.decode()
    assert client.get(f"/leads/{lead.pk}/").status_code == 404
    assert client.get(f"/leads/{lead.pk}/edit/").status_code == 404
    for action in ("status", "owner", "convert", "delete"):
        assert client.post(f"/leads/{lead.pk}/{action}/", {"status": "new"}).status_code == 404
    with tenant_context(tenant_a):
        stored = Lead.objects.get(pk=lead.pk)
    assert (stored.status, stored.converted_at) == (Lead.Status.NEW, None)


def test_a_null_character_in_the_search_is_refused_not_a_server_error(client_a: Client) -> None:
    assert client_a.get("/leads/", {"q": "a\x00b"}).status_code == 400


def test_a_filter_that_is_not_valid_is_ignored_with_a_note(client_a: Client) -> None:
    response = client_a.get("/leads/", {"status": "won", "q": "x" * 201})
    assert response.status_code == 200
    assert "Some filters are not valid and were ignored." in response.content.decode()


def test_the_lead_page_offers_owners_by_name(
    client_a: Client, tenant_a: Tenant, owner_a: User
) -> None:
    owner_a.full_name = "Olga Owner"
    owner_a.save(update_fields=["full_name"])
    with tenant_context(tenant_a):
        lead = LeadFactory(owner_id=owner_a.pk)
    page = client_a.get(f"/leads/{lead.pk}/").content.decode()
    assert f'<option value="{owner_a.pk}" selected>Olga Owner</option>' in page
    assert f">{owner_a.email}</option>" not in page
