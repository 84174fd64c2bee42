"""Leads behind the decision point: the list and search are narrowed in their query, each
page and endpoint decides on the lead, and converting one is decided for what it creates."""

from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Deal, Lead
from iam.models import AccessPolicy, Role, User
from iam.org.models import RecordShare
from tenants.models import Tenant
from tests.conftest import host_of

from .access_support import OWN_LEADS, api, browser, denied, member, scoped, team_of
from .factories import LeadFactory


def test_a_read_only_member_sees_leads_but_changes_none(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        reader = member(tenant_a, Role.READ_ONLY)
        lead = LeadFactory(first_name="Ingrid", last_name="Lund", owner_id=None)
    page = browser(reader, tenant_a)

    assert "Lund" in page.get("/leads/").content.decode()
    detail = page.get(f"/leads/{lead.pk}/").content.decode()
    assert "Lund" in detail
    for hidden in (f"/leads/{lead.pk}/edit/", f"/leads/{lead.pk}/delete/", "convert-dialog"):
        assert hidden not in detail
    assert f"/leads/{lead.pk}/status/" not in detail and f"/leads/{lead.pk}/owner/" not in detail
    refused = page.post(f"/leads/{lead.pk}/status/", {"status": "working"})
    assert refused.status_code == 403
    assert "None of your roles (Read-only) allows you to edit leads." in refused.content.decode()
    assert page.post(f"/leads/{lead.pk}/delete/").status_code == 403
    assert page.post(f"/leads/{lead.pk}/convert/", {}).status_code == 403
    assert page.post(f"/leads/{lead.pk}/owner/", {"owner_id": ""}).status_code == 403

    client = api(reader, tenant_a)
    assert client.get(f"/api/v1/leads/{lead.pk}/score/").status_code == 200
    denied(client.patch(f"/api/v1/leads/{lead.pk}/", {"title": "X"}, "application/json"))
    denied(client.post(f"/api/v1/leads/{lead.pk}/convert/", {}, "application/json"))
    denied(client.delete(f"/api/v1/leads/{lead.pk}/"))
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).status == lead.status


def test_own_scope_shows_own_and_shared_leads_in_list_search_and_api(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("lead", "own", "edit"))
        mine = LeadFactory(last_name="Aalto", owner_id=rep.pk)
        shared = LeadFactory(last_name="Aaltonen", owner_id=None)
        hidden = LeadFactory(last_name="Aaltola", owner_id=None)
        RecordShare.objects.create(record_type="lead", record_id=shared.pk, user_id=rep.pk)
    page = browser(rep, tenant_a)

    listed = page.get("/leads/", {"q": "aalto"}).content.decode()
    assert "Aaltonen" in listed and "Aaltola" not in listed
    assert page.get(f"/leads/{hidden.pk}/").status_code == 404
    assert page.post(f"/leads/{hidden.pk}/status/", {"status": "working"}).status_code == 404

    client = api(rep, tenant_a)
    found = {lead["id"] for lead in client.get("/api/v1/leads/", {"q": "aalto"}).json()["results"]}
    assert found == {mine.pk, shared.pk}
    assert client.get(f"/api/v1/leads/{hidden.pk}/").status_code == 404
    assert client.get(f"/api/v1/leads/{hidden.pk}/timeline/").status_code == 404
    denied(client.patch(f"/api/v1/leads/{shared.pk}/", {"title": "X"}, "application/json"))
    assert (
        client.patch(f"/api/v1/leads/{mine.pk}/", {"title": "CTO"}, "application/json").status_code
        == 200
    )


def test_team_scope_reaches_teammates_leads(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("lead", "team"))
        mate, stranger = member(tenant_a), member(tenant_a)
        team_of(tenant_a, rep, mate)
        LeadFactory(last_name="Matelead", owner_id=mate.pk)
        LeadFactory(last_name="Strangerlead", owner_id=stranger.pk)
    listed = browser(rep, tenant_a).get("/leads/").content.decode()
    assert "Matelead" in listed and "Strangerlead" not in listed


def test_a_policy_on_leads_refuses_with_its_name_on_pages_and_api(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a)
        AccessPolicy.objects.create(tenant=tenant_a, name="Own leads only", source=OWN_LEADS)
        theirs = LeadFactory(owner_id=None)
        mine = LeadFactory(owner_id=rep.pk)
    page = browser(rep, tenant_a)

    refused = page.post(f"/leads/{theirs.pk}/status/", {"status": "working"})
    assert refused.status_code == 403 and "Own leads only" in refused.content.decode()
    assert page.post(f"/leads/{mine.pk}/status/", {"status": "working"}).status_code == 302
    body = denied(
        api(rep, tenant_a).patch(f"/api/v1/leads/{theirs.pk}/", {"title": "X"}, "application/json")
    )
    assert body["policies"] == ["Own leads only"]


def test_converting_needs_the_right_to_create_what_it_makes(tenant_a: Tenant) -> None:
    lead_editor = {**scoped("lead", "all", "edit"), "contact.create": "all"}
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=lead_editor)
        lead = LeadFactory(company_name="", owner_id=None)
    client = api(rep, tenant_a)

    body = denied(
        client.post(f"/api/v1/leads/{lead.pk}/convert/", {"create_deal": True}, "application/json")
    )
    assert "create deals" in body["detail"]
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).converted_at is None
        assert not Deal.objects.exists()
    converted = client.post(f"/api/v1/leads/{lead.pk}/convert/", {}, "application/json")
    assert converted.status_code == 200, converted.content


def test_giving_a_lead_to_another_owner_needs_the_assign_right(
    tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("lead", "all", "edit"))
        lead = LeadFactory(owner_id=rep.pk)
    page = browser(rep, tenant_a)
    assert f"/leads/{lead.pk}/owner/" not in page.get(f"/leads/{lead.pk}/").content.decode()
    assert page.post(f"/leads/{lead.pk}/owner/", {"owner_id": member_a.pk}).status_code == 403
    denied(
        api(rep, tenant_a).patch(
            f"/api/v1/leads/{lead.pk}/", {"owner_id": member_a.pk}, "application/json"
        )
    )
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=lead.pk).owner_id == rep.pk


def test_another_organization_reaches_none_of_our_leads(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        lead = LeadFactory(last_name="Alphasecret")
    stranger = Client(HTTP_HOST=host_of(tenant_a))
    stranger.force_login(owner_b)
    assert stranger.get("/leads/").status_code == 403
    assert stranger.get(f"/leads/{lead.pk}/").status_code == 403
    client = api(owner_b, tenant_b)
    assert client.get(f"/api/v1/leads/{lead.pk}/").status_code == 404
    assert "Alphasecret" not in client.get("/api/v1/leads/").content.decode()


def test_a_lead_shared_with_a_teammate_opens_to_them_from_its_share_panel(
    tenant_a: Tenant,
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("lead", "own", "edit"))
        lead = LeadFactory(last_name="Sharedlead", owner_id=None)
    page = browser(rep, tenant_a)
    assert page.get(f"/leads/{lead.pk}/").status_code == 404
    with tenant_context(tenant_a):
        RecordShare.objects.create(
            record_type="lead", record_id=lead.pk, user_id=rep.pk, level="edit"
        )
    detail = page.get(f"/leads/{lead.pk}/").content.decode()
    assert "Sharedlead" in detail and f"/share/lead/{lead.pk}/" in detail
    assert page.get(f"/share/lead/{lead.pk}/").status_code == 200
    assert page.post(f"/leads/{lead.pk}/status/", {"status": "working"}).status_code == 302
