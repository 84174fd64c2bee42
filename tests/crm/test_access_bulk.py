"""Bulk writes behind the decision point: every item is decided on its record, and one the
caller may not change refuses the whole batch (400 naming it), on the API and the pages."""

from typing import Any

from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Deal, Lead
from iam.models import Role, User
from tenants.models import Tenant

from .access_support import api, browser, member, scoped
from .factories import DealFactory, LeadFactory


def _bulk(client: Client, records: str, body: Any) -> Any:
    return client.post(f"/api/v1/{records}/bulk/", body, content_type="application/json")


def test_one_item_the_caller_may_not_edit_refuses_the_batch(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("deal", "all", "edit", "create"))
        DealFactory()  # the rep's role reaches every deal for viewing...
        mine = DealFactory(owner_id=rep.pk, name="Mine")
        other = DealFactory(owner_id=None, name="Other")
    with tenant_context(tenant_a):
        rep_own = member(tenant_a, Role.BILLING, own_rep=scoped("deal", "own", "edit"))
        own_deal = DealFactory(owner_id=rep_own.pk, name="Own")

    response = _bulk(
        api(rep_own, tenant_a),
        "deals",
        {"update": [{"id": own_deal.pk, "name": "Own, renamed"}, {"id": other.pk, "name": "X"}]},
    )
    assert response.status_code == 400, response.content
    # ...but this one sees only their own: the other deal is "Not found.", as if missing.
    assert response.json()["errors"] == {"update.1.id": ["Not found."]}

    # Seen but not deletable: refused with the reason, and nothing of the batch is written.
    response = _bulk(
        api(rep, tenant_a),
        "deals",
        {"update": [{"id": mine.pk, "name": "Mine, renamed"}], "delete": [other.pk]},
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {
        "delete.0": ["None of your roles (Billing, rep) allows you to delete deals."]
    }
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=mine.pk).name == "Mine"
        assert Deal.objects.get(pk=own_deal.pk).name == "Own"
        assert Deal.objects.filter(pk=other.pk).exists()


def test_a_batch_giving_records_another_owner_needs_the_assign_right(
    tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("lead", "all", "edit", "create"))
        first, second = LeadFactory(owner_id=rep.pk), LeadFactory(owner_id=rep.pk)
    response = _bulk(
        api(rep, tenant_a),
        "leads",
        {"update": [{"id": first.pk, "title": "CTO"}, {"id": second.pk, "owner_id": member_a.pk}]},
    )
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"update.1"}
    assert "assign leads" in response.json()["errors"]["update.1"][0]
    creates = _bulk(api(rep, tenant_a), "leads", {"create": [{"last_name": "New"}]})
    assert creates.status_code == 200, creates.content
    with tenant_context(tenant_a):
        assert Lead.objects.get(pk=first.pk).title != "CTO"
        assert Lead.objects.get(pk=second.pk).owner_id == rep.pk


def test_creating_in_bulk_needs_the_create_right(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        reader = member(tenant_a, Role.READ_ONLY)
    response = _bulk(api(reader, tenant_a), "leads", {"create": [{"last_name": "New"}]})
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {
        "create.0": ["None of your roles (Read-only) allows you to create leads."]
    }


def test_the_list_pages_bulk_actions_decide_every_row(tenant_a: Tenant, member_a: User) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("deal", "team", "edit", "assign"))
        mine, strangers = DealFactory(owner_id=rep.pk), DealFactory(owner_id=member_a.pk)
        member(tenant_a, Role.BILLING)  # nobody's teammate
    page = browser(rep, tenant_a)

    bar = page.get("/deals/").content.decode()
    assert 'value="owner"' in bar and 'value="delete"' not in bar  # no delete right
    response = page.post(
        "/lists/deals/bulk/",
        {"ids": [mine.pk, strangers.pk], "action": "owner", "owner_id": member_a.pk},
        follow=True,
    )
    # The stranger's deal is out of the rep's sight: only the rep's own is given away.
    assert response.status_code == 200
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=mine.pk).owner_id == member_a.pk

    with tenant_context(tenant_a):
        viewer = member(tenant_a, Role.READ_ONLY)
        deal = DealFactory(owner_id=None)
    refused = browser(viewer, tenant_a).post(
        "/lists/deals/bulk/", {"ids": [deal.pk], "action": "delete"}, follow=True
    )
    assert "allows you to delete deals" in refused.content.decode()
    with tenant_context(tenant_a):
        assert Deal.objects.filter(pk=deal.pk).exists()
    assert 'data-testid="bulk-bar"' not in browser(viewer, tenant_a).get("/deals/").content.decode()


def test_another_organizations_ids_are_not_found_in_a_batch(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(name="Alpha")
    response = _bulk(api(owner_b, tenant_b), "deals", {"delete": [deal.pk]})
    assert response.status_code == 400
    assert response.json()["errors"] == {"delete.0": ["Not found."]}
    with tenant_context(tenant_a):
        assert Deal.objects.filter(pk=deal.pk).exists()
