"""Deals behind the decision point: pages, the board and its moves, the API, line items and
stage history each decide on the deal; lists and the board are narrowed in their query."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Deal, Stage
from crm.selectors.deals import DealFilters, deal_list
from iam import authz
from iam.models import AccessPolicy, Role, User
from iam.org.models import RecordShare
from tenants.models import Tenant
from tests.conftest import host_of

from .access_support import (
    BIG_WINS,
    OWN_DEALS,
    api,
    browser,
    denied,
    member,
    scoped,
    team_of,
)
from .factories import DealFactory


def _stage(name: str) -> Stage:
    return Stage.objects.get(pipeline__is_default=True, name=name)


def test_a_read_only_member_sees_deals_but_changes_none(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        reader = member(tenant_a, Role.READ_ONLY)
        deal = DealFactory(name="Fjord renewal")
        won = _stage("Won")
    page = browser(reader, tenant_a)

    assert "Fjord renewal" in page.get("/deals/").content.decode()
    detail = page.get(f"/deals/{deal.pk}/").content.decode()
    assert f"/deals/{deal.pk}/edit/" not in detail and f"/deals/{deal.pk}/delete/" not in detail
    refused = page.get(f"/deals/{deal.pk}/edit/")
    assert refused.status_code == 403
    assert "None of your roles (Read-only) allows you to edit deals." in refused.content.decode()
    assert page.post(f"/deals/{deal.pk}/delete/").status_code == 403
    assert page.post(f"/deals/{deal.pk}/move/", {"stage": won.pk}).status_code == 403
    assert page.get("/deals/new/").status_code == 403

    client = api(reader, tenant_a)
    assert client.get(f"/api/v1/deals/{deal.pk}/").status_code == 200
    body = denied(
        client.patch(f"/api/v1/deals/{deal.pk}/", {"name": "X"}, content_type="application/json")
    )
    assert "allows you to edit deals" in body["detail"]
    denied(client.delete(f"/api/v1/deals/{deal.pk}/"))
    denied(client.post(f"/api/v1/deals/{deal.pk}/move/", {"stage": won.pk}, "application/json"))
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=deal.pk).name == "Fjord renewal"
        assert Deal.objects.get(pk=deal.pk).stage_id != won.pk


def test_own_scope_shows_own_and_shared_deals_in_list_board_and_api(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("deal", "own", "edit"))
        mine = DealFactory(name="Aurora", owner_id=rep.pk)
        shared = DealFactory(name="Borealis", owner_id=None)
        hidden = DealFactory(name="Cassiopeia", owner_id=None)
        RecordShare.objects.create(record_type="deal", record_id=shared.pk, user_id=rep.pk)
    page = browser(rep, tenant_a)

    listed = page.get("/deals/").content.decode()
    assert "Aurora" in listed and "Borealis" in listed and "Cassiopeia" not in listed
    board = page.get("/deals/board/").content.decode()
    assert f'data-deal="{mine.pk}"' in board and f'data-deal="{shared.pk}"' in board
    assert f'data-deal="{hidden.pk}"' not in board
    # The shared card (a view share) can't be moved: no menu, not draggable.
    assert board.count("data-move-menu>") == 1 and board.count(" data-locked>") == 1
    assert page.get(f"/deals/{hidden.pk}/").status_code == 404
    assert page.get(f"/deals/{shared.pk}/").status_code == 200

    client = api(rep, tenant_a)
    ids = {d["id"] for d in client.get("/api/v1/deals/").json()["results"]}
    assert ids == {mine.pk, shared.pk}
    assert client.get(f"/api/v1/deals/{hidden.pk}/").status_code == 404
    assert client.get(f"/api/v1/deals/{hidden.pk}/stage-changes/").status_code == 404
    assert client.get(f"/api/v1/deals/{hidden.pk}/timeline/").status_code == 404
    assert client.get(f"/api/v1/deals/{hidden.pk}/line-items/").status_code == 404
    # A view share opens viewing, not editing.
    denied(
        client.patch(f"/api/v1/deals/{shared.pk}/", {"name": "X"}, content_type="application/json")
    )
    changed = client.patch(
        f"/api/v1/deals/{mine.pk}/", {"name": "Mine, renamed"}, content_type="application/json"
    )
    assert changed.status_code == 200


def test_team_scope_reaches_teammates_deals_and_the_query_count_is_pinned(
    tenant_a: Tenant, django_assert_num_queries: object
) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("deal", "team"))
        mate, stranger = member(tenant_a), member(tenant_a)
        team = team_of(tenant_a, rep, mate)
        mates = DealFactory(name="Dorado", owner_id=mate.pk)
        theirs = DealFactory(name="Eridanus", owner_id=stranger.pk)
        shared = DealFactory(name="Fornax", owner_id=stranger.pk)
        RecordShare.objects.create(record_type="deal", record_id=shared.pk, team_id=team.pk)
        principal = authz.principal_for(user=rep, tenant=tenant_a)
        # Filtered and narrowed in the same statements, whatever the rights: the deals, then
        # their contacts and their tags.
        with django_assert_num_queries(3):  # type: ignore[operator]
            found = list(deal_list(filters=DealFilters(amount_min=Decimal(1)), principal=principal))
    assert {d.pk for d in found} == {mates.pk, shared.pk}
    assert theirs.pk not in {d.pk for d in found}

    page = browser(rep, tenant_a)
    with CaptureQueriesContext(connection) as run:
        listed = page.get("/deals/", {"q": ""}).content.decode()
    assert "Dorado" in listed and "Fornax" in listed and "Eridanus" not in listed
    deal_statements = [q["sql"] for q in run.captured_queries if 'FROM "crm_deal"' in q["sql"]]
    # The page's count and its rows: narrowed in SQL (the share as EXISTS), no row by row.
    assert len(deal_statements) == 2, deal_statements
    assert all("iam_org_recordshare" in sql for sql in deal_statements)


def test_a_policy_on_deals_refuses_with_its_name_on_pages_and_api(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a)
        AccessPolicy.objects.create(tenant=tenant_a, name="Own deals only", source=OWN_DEALS)
        theirs = DealFactory(owner_id=None)
        mine = DealFactory(owner_id=rep.pk)
    page = browser(rep, tenant_a)

    refused = page.get(f"/deals/{theirs.pk}/edit/")
    assert refused.status_code == 403
    assert "Own deals only" in refused.content.decode()
    assert f"/deals/{theirs.pk}/edit/" not in page.get(f"/deals/{theirs.pk}/").content.decode()
    assert page.get(f"/deals/{mine.pk}/edit/").status_code == 200

    body = denied(
        api(rep, tenant_a).patch(
            f"/api/v1/deals/{theirs.pk}/", {"name": "X"}, content_type="application/json"
        )
    )
    assert body["policies"] == ["Own deals only"]
    assert "Own deals only" in body["detail"]


def test_a_big_win_needs_a_manager_on_the_board_and_in_the_api(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        rep, boss = member(tenant_a), member(tenant_a, Role.MANAGER)
        AccessPolicy.objects.create(tenant=tenant_a, name="Big wins", source=BIG_WINS)
        big = DealFactory(owner_id=rep.pk, amount=Decimal(250_000))
        team_of(tenant_a, boss, rep)
        won, qualified = _stage("Won"), _stage("Qualified")
    page = browser(rep, tenant_a)

    by_htmx = page.post(f"/deals/{big.pk}/move/", {"stage": won.pk}, HTTP_HX_REQUEST="true")
    assert by_htmx.status_code == 403 and "Big wins" in by_htmx.content.decode()
    plain = page.post(f"/deals/{big.pk}/move/", {"stage": won.pk})
    assert plain.status_code == 403 and "Big wins" in plain.content.decode()
    client = api(rep, tenant_a)
    body = denied(
        client.post(f"/api/v1/deals/{big.pk}/move/", {"stage": won.pk}, "application/json")
    )
    assert body["policies"] == ["Big wins"]
    # The same move as an edit of the stage is decided as a move.
    body = denied(
        client.patch(f"/api/v1/deals/{big.pk}/", {"stage": won.pk}, content_type="application/json")
    )
    assert body["policies"] == ["Big wins"]
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=big.pk).stage.is_won is False

    # Any other stage is fine; the manager of the rep's team may win it.
    assert page.post(f"/deals/{big.pk}/move/", {"stage": qualified.pk}).status_code == 302
    moved = api(boss, tenant_a).post(
        f"/api/v1/deals/{big.pk}/move/", {"stage": won.pk}, "application/json"
    )
    assert moved.status_code == 200, moved.content
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=big.pk).stage_id == won.pk


def test_a_share_opens_one_deal_and_its_line_items_to_a_reader(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        reader = member(tenant_a, Role.READ_ONLY)
        deal, other = DealFactory(owner_id=None), DealFactory(owner_id=None)
        RecordShare.objects.create(
            record_type="deal", record_id=deal.pk, user_id=reader.pk, level="edit"
        )
    client = api(reader, tenant_a)
    line = {"name": "Setup", "quantity": "1", "unit_price": "100.00"}

    added = client.post(f"/api/v1/deals/{deal.pk}/line-items/", line, "application/json")
    assert added.status_code == 201, added.content
    denied(client.post(f"/api/v1/deals/{other.pk}/line-items/", line, "application/json"))
    assert client.get(f"/api/v1/deals/{other.pk}/line-items/").status_code == 200
    page = browser(reader, tenant_a)
    assert page.post(f"/deals/{other.pk}/line-items/add/", {}).status_code == 403
    assert "Add line" in page.get(f"/deals/{deal.pk}/").content.decode()
    assert "Add line" not in page.get(f"/deals/{other.pk}/").content.decode()
    # The share doesn't open deleting.
    assert page.post(f"/deals/{deal.pk}/delete/").status_code == 403


def test_changing_a_deals_owner_is_an_assignment(tenant_a: Tenant, member_a: User) -> None:
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=scoped("deal", "all", "edit"))
        deal = DealFactory(owner_id=rep.pk)
    body = denied(
        api(rep, tenant_a).patch(
            f"/api/v1/deals/{deal.pk}/", {"owner_id": member_a.pk}, content_type="application/json"
        )
    )
    assert "assign deals" in body["detail"]
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=deal.pk).owner_id == rep.pk


@pytest.mark.parametrize("path", ["/deals/", "/deals/board/", "/", "/tasks/"])
def test_another_organizations_member_gets_nothing_of_ours(
    tenant_a: Tenant, owner_b: User, path: str
) -> None:
    with tenant_context(tenant_a):
        DealFactory(name="Alpha secret")
    stranger = Client(HTTP_HOST=host_of(tenant_a))
    stranger.force_login(owner_b)
    response = stranger.get(path)
    assert response.status_code == 403
    assert "Alpha secret" not in response.content.decode()


def test_another_organizations_token_reaches_none_of_our_deals(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(name="Alpha secret")
    with tenant_context(tenant_b):
        assert not Deal.objects.filter(pk=deal.pk).exists()  # ids are per schema
    client = api(owner_b, tenant_b)
    assert client.get(f"/api/v1/deals/{deal.pk}/").status_code == 404
    assert client.get(f"/api/v1/deals/{deal.pk}/line-items/").status_code == 404
    assert client.get(f"/api/v1/deals/{deal.pk}/timeline/").status_code == 404
    assert "Alpha secret" not in client.get("/api/v1/deals/").content.decode()


def test_the_deal_forms_pickers_offer_only_what_the_member_may_view(tenant_a: Tenant) -> None:
    from .factories import CompanyFactory, ContactFactory

    rights = {**scoped("deal", "all", "edit", "create"), **scoped("contact", "own")}
    rights |= scoped("company", "own")
    with tenant_context(tenant_a):
        rep = member(tenant_a, Role.BILLING, rep=rights)
        ContactFactory(first_name="Vilja", last_name="Own", owner_id=rep.pk)
        hidden = ContactFactory(first_name="Vilja", last_name="Hidden", owner_id=None)
        CompanyFactory(name="Seen Oy", owner_id=rep.pk)
        CompanyFactory(name="Unseen Oy", owner_id=None)
    page = browser(rep, tenant_a)

    options = page.get("/deals/contact-options/", {"q": "vilja"}).content.decode()
    assert "Own" in options and "Hidden" not in options
    form = page.get("/deals/new/").content.decode()
    assert "Seen Oy" in form and "Unseen Oy" not in form
    with tenant_context(tenant_a):
        pipeline = Stage.objects.get(pipeline__is_default=True, name="Won").pipeline_id
    refused = page.post(
        "/deals/new/",
        {
            "name": "Sneaky",
            "pipeline": pipeline,
            "amount": "1",
            "currency": "EUR",
            "contacts": [hidden.pk],
        },
    )
    assert refused.status_code == 400
    with tenant_context(tenant_a):
        assert not Deal.objects.filter(name="Sneaky").exists()
