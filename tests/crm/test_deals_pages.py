"""Deal pages and the pipeline board, and the pipeline settings pages."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Deal, DealStageChange, Pipeline, Stage
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import CompanyFactory, DealFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


def stage_of(tenant: Tenant, name: str) -> Stage:
    with tenant_context(tenant):
        return Stage.objects.get(pipeline__is_default=True, name=name)


def test_the_board_shows_each_stage_with_its_count_and_totals_per_currency(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        qualified = Stage.objects.get(pipeline__is_default=True, name="Qualified")
        DealFactory(name="Alpha", stage=qualified, amount=Decimal("1000.50"), currency="EUR")
        DealFactory(name="Beta", stage=qualified, amount=Decimal("2000.00"), currency="EUR")
        DealFactory(name="Gamma", stage=qualified, amount=Decimal("300.00"), currency="USD")
    page = client_a.get("/deals/board/")
    assert page.status_code == 200
    column = page.context["columns"][1]
    assert column.stage.name == "Qualified"
    assert column.count == 3
    assert column.totals == {"EUR": Decimal("3000.50"), "USD": Decimal("300.00")}
    html = page.content.decode()
    assert "3,000.50 EUR" in html
    assert "300.00 USD" in html
    assert html.index("Alpha") < html.index("Beta") < html.index("Gamma")


def test_the_board_reads_500_deals_in_a_fixed_number_of_statements(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        stages = list(Stage.objects.filter(pipeline__is_default=True))
        company = CompanyFactory()
        pipeline = Pipeline.objects.get(is_default=True)
        Deal.objects.bulk_create(
            Deal(
                name=f"Deal {i}",
                pipeline=pipeline,
                stage=stages[i % len(stages)],
                company=company if i % 2 else None,
                amount=Decimal(i),
                currency="EUR",
                position=i,
            )
            for i in range(500)
        )
    client_a.get("/deals/board/")  # the session's first request is counted once
    with CaptureQueriesContext(connection) as queries:
        page = client_a.get("/deals/board/")
    assert page.status_code == 200
    assert sum(c.count for c in page.context["columns"]) == 500
    assert page.content.decode().count('data-testid="deal-card"') == 500
    # Session, user, membership, what the member may do (roles, teams: one statement),
    # members for the owner names, pipelines and their stages, the board's stages, and one
    # statement for every card with its company (the cards the member may move need none
    # when their roles reach every deal).
    assert len(queries) <= 13, "\n".join(q["sql"] for q in queries.captured_queries)


def test_the_board_filters_by_owner_close_date_and_tag(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    from datetime import date

    with tenant_context(tenant_a):
        DealFactory(name="Mine soon", owner_id=member_a.pk, expected_close_on=date(2027, 1, 2))
        DealFactory(name="Theirs later", expected_close_on=date(2027, 9, 1))
    mine = client_a.get("/deals/board/", {"mine": "on"}).content.decode()
    assert "Mine soon" in mine
    assert "Theirs later" not in mine
    later = client_a.get("/deals/board/", {"close_from": "2027-06-01"}).content.decode()
    assert "Theirs later" in later
    assert "Mine soon" not in later


def test_dropping_a_card_on_won_saves_the_move_and_answers_the_new_totals(
    client_a: Client, tenant_a: Tenant
) -> None:
    won = stage_of(tenant_a, "Won")
    with tenant_context(tenant_a):
        deal = DealFactory(amount=Decimal("750.00"), currency="EUR")
    answer = client_a.post(
        f"/deals/{deal.pk}/move/", {"stage": won.pk, "position": 0}, HTTP_HX_REQUEST="true"
    )
    assert answer.status_code == 200
    html = answer.content.decode()
    assert f'id="stage-summary-{won.pk}"' in html
    assert 'hx-swap-oob="true"' in html
    assert "750.00 EUR" in html
    with tenant_context(tenant_a):
        deal.refresh_from_db()
        assert deal.stage_id == won.pk
        assert deal.closed_at is not None
        assert DealStageChange.objects.filter(deal=deal, to_stage=won).exists()


def test_the_board_move_needs_the_csrf_token(tenant_a: Tenant, member_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a), enforce_csrf_checks=True)
    client.force_login(member_a)
    with tenant_context(tenant_a):
        deal = DealFactory()
    won = stage_of(tenant_a, "Won")
    assert client.post(f"/deals/{deal.pk}/move/", {"stage": won.pk}).status_code == 403
    with tenant_context(tenant_a):
        assert Deal.objects.get(pk=deal.pk).stage_id != won.pk


def test_the_deal_form_shows_field_errors_and_saves_nothing(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        pipeline = Pipeline.objects.get(is_default=True)
    answer = client_a.post(
        "/deals/new/",
        {
            "name": "Rollout",
            "pipeline": pipeline.pk,
            "amount": "-3",
            "currency": "EURO",
            "expected_close_on": "someday",
        },
    )
    assert answer.status_code == 400
    errors = answer.context["form"].errors
    assert {"amount", "currency", "expected_close_on"} <= set(errors)
    with tenant_context(tenant_a):
        assert not Deal.objects.exists()


def test_a_deal_made_with_the_form_shows_on_its_page_with_its_history(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        pipeline = Pipeline.objects.get(is_default=True)
    created = client_a.post(
        "/deals/new/",
        {
            "name": "Rollout",
            "pipeline": pipeline.pk,
            "stage": stage_of(tenant_a, "Qualified").pk,
            "amount": "1200",
            "currency": "eur",
            "owner_id": member_a.pk,
        },
    )
    assert created.status_code == 302, created.context and created.context["form"].errors
    page = client_a.get(created["Location"])
    html = page.content.decode()
    assert "Rollout" in html
    assert "1200.00 EUR" in html
    assert "Created in Qualified" in html
    assert "Rollout" in client_a.get("/deals/").content.decode()


def test_members_cannot_open_the_pipeline_settings(client_a: Client, owner_client: Client) -> None:
    assert client_a.get("/settings/pipelines/").status_code == 403
    assert client_a.post("/settings/pipelines/new/", {"name": "X"}).status_code == 403
    page = owner_client.get("/settings/pipelines/")
    assert page.status_code == 200
    assert "Proposal sent" in page.content.decode()


def test_owners_add_a_pipeline_and_remove_a_stage_by_moving_its_deals(
    owner_client: Client, tenant_a: Tenant
) -> None:
    owner_client.post("/settings/pipelines/new/", {"name": "Renewals"})
    with tenant_context(tenant_a):
        assert Pipeline.objects.filter(name="Renewals").exists()
        deal = DealFactory()
    doomed, target = stage_of(tenant_a, "Lead in"), stage_of(tenant_a, "Qualified")
    refused = owner_client.post(f"/settings/stages/{doomed.pk}/remove/", {})
    assert refused.status_code == 302
    with tenant_context(tenant_a):
        assert not Stage.objects.get(pk=doomed.pk).is_archived
    owner_client.post(f"/settings/stages/{doomed.pk}/remove/", {"move_deals_to": target.pk})
    with tenant_context(tenant_a):
        assert Stage.objects.get(pk=doomed.pk).is_archived
        assert Deal.objects.get(pk=deal.pk).stage_id == target.pk


def test_deal_pages_of_another_organization_answer_404(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        deal = DealFactory(name="Alpha secret")
        pipeline = Pipeline.objects.create(name="Alpha pipeline")
        won = Stage.objects.get(pipeline__is_default=True, name="Won")
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(owner_b)
    with tenant_context(tenant_b):
        assert not Deal.objects.filter(pk=deal.pk).exists()
        assert not Pipeline.objects.filter(pk=pipeline.pk).exists()
    for url in (
        f"/deals/{deal.pk}/",
        f"/deals/{deal.pk}/edit/",
        f"/deals/board/{pipeline.pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/deals/{deal.pk}/move/", {"stage": won.pk}).status_code == 404
    assert client.post(f"/deals/{deal.pk}/delete/").status_code == 404
    assert "Alpha secret" not in client.get("/deals/").content.decode()
    assert "Alpha secret" not in client.get("/deals/board/").content.decode()


def _list_page_statements(client: Client, tenant: Tenant, deals: int) -> int:
    with tenant_context(tenant):
        Deal.objects.all().delete()
        company = CompanyFactory()
        for _ in range(deals):
            DealFactory(company=company)
    client.get("/deals/")
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/deals/")
    assert page.status_code == 200
    assert page.content.decode().count('data-testid="deal-cards"') == 1
    return len(queries)


def test_the_deal_list_page_reads_a_fixed_number_of_statements(
    client_a: Client, tenant_a: Tenant
) -> None:
    assert _list_page_statements(client_a, tenant_a, 2) == _list_page_statements(
        client_a, tenant_a, 25
    )


def test_the_deal_list_sorts_by_a_column_and_back(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        DealFactory(name="Small", amount=Decimal("10.00"))
        DealFactory(name="Large", amount=Decimal("9000.00"))
    up = client_a.get("/deals/", {"ordering": "amount"})
    html = up.content.decode()
    assert html.index("Small") < html.index("Large")
    assert "ordering=-amount" in up.context["heads"]["amount"].link
    down = client_a.get("/deals/", {"ordering": "-amount"}).content.decode()
    assert down.index("Large") < down.index("Small")


def test_board_cards_and_the_deal_page_name_the_owner_and_fall_back_to_the_address(
    client_a: Client, tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    User.objects.filter(pk=member_a.pk).update(full_name="Mia Member")
    User.objects.filter(pk=owner_a.pk).update(full_name="")
    with tenant_context(tenant_a):
        named = DealFactory(name="Named owner", owner_id=member_a.pk)
        DealFactory(name="Unnamed owner", owner_id=owner_a.pk)
    board = client_a.get("/deals/board/").content.decode()
    cards = board.split('data-testid="deal-card"')[1:]
    card_of = {next(n for n in ("Named owner", "Unnamed owner") if n in c): c for c in cards}
    assert "Mia Member" in card_of["Named owner"]
    assert "member@alpha.test" not in card_of["Named owner"]
    assert "owner@alpha.test" in card_of["Unnamed owner"]
    page = client_a.get(f"/deals/{named.pk}/")
    assert page.context["owner_label"] == "Mia Member"
    assert "Mia Member" in page.content.decode()


def test_the_deal_page_and_the_board_write_every_date_in_one_format(
    client_a: Client, tenant_a: Tenant
) -> None:
    import datetime as dt

    from django.utils.formats import date_format

    close_on = dt.date(2027, 3, 4)
    closed_at = dt.datetime(2027, 2, 1, 15, 30, tzinfo=dt.UTC)
    with tenant_context(tenant_a):
        deal = DealFactory(expected_close_on=close_on, closed_at=closed_at)
    html = client_a.get(f"/deals/{deal.pk}/").content.decode()
    assert f'data-testid="deal-expected-close">{date_format(close_on)}<' in html
    assert f'data-testid="deal-closed">{date_format(closed_at.date())}<' in html
    board = client_a.get("/deals/board/").content.decode()
    assert f">{date_format(close_on)}</time>" in board


def test_the_deal_form_never_lists_every_contact_and_keeps_those_chosen(
    client_a: Client, tenant_a: Tenant
) -> None:
    from .factories import ContactFactory

    with tenant_context(tenant_a):
        chosen = ContactFactory(first_name="Zoë", last_name="Müller")
        other = ContactFactory(first_name="Otto", last_name="Unchosen")
        deal = DealFactory(name="Picker deal")
    form = client_a.get("/deals/new/").content.decode()
    assert "Unchosen" not in form and "Müller" not in form
    assert 'hx-get="/deals/contact-options/"' in form

    saved = client_a.post(
        f"/deals/{deal.pk}/edit/",
        {
            "name": "Picker deal",
            "pipeline": deal.pipeline_id,
            "amount": "10",
            "currency": "EUR",
            "contacts": [chosen.pk],
            "primary_contact": chosen.pk,
            "q": "whatever was left in the search box",
        },
    )
    assert saved.status_code == 302, saved.content.decode()
    with tenant_context(tenant_a):
        links = list(deal.deal_contacts.values_list("contact_id", "is_primary"))
    assert links == [(chosen.pk, True)]
    edit = client_a.get(f"/deals/{deal.pk}/edit/").content.decode()
    assert "Müller" in edit and "Unchosen" not in edit
    assert f'name="primary_contact" value="{chosen.pk}" checked' in edit
    assert other.pk != chosen.pk


def test_the_contact_picker_finds_contacts_as_typed_with_a_typo_in_one_statement(
    client_a: Client, tenant_a: Tenant
) -> None:
    from .factories import ContactFactory

    with tenant_context(tenant_a):
        zoe = ContactFactory(first_name="Zoë", last_name="Müller")
        ContactFactory.create_batch(12, first_name="Mueller", last_name="Other")
    client_a.get("/deals/contact-options/?q=x")
    with CaptureQueriesContext(connection) as queries:
        found = client_a.get("/deals/contact-options/?q=zoe muler", HTTP_HX_REQUEST="true")
    assert found.status_code == 200
    html = found.content.decode()
    assert f'data-add-contact="{zoe.pk}"' in html
    # Session, user, membership, what the member may do (roles, teams: one statement), and
    # the search.
    assert len(queries) <= 6, "\n".join(q["sql"] for q in queries.captured_queries)
    many = client_a.get("/deals/contact-options/?q=mueller").content.decode()
    assert many.count("data-add-contact=") == 10
    nothing = client_a.get("/deals/contact-options/?q=qqqqqq").content.decode()
    assert "No contact matches" in nothing
    assert client_a.get("/deals/contact-options/").content.decode().strip() == ""


def test_the_contact_picker_never_offers_another_organizations_contacts(
    client_a: Client, tenant_b: Tenant
) -> None:
    from .factories import ContactFactory

    with tenant_context(tenant_b):
        ContactFactory(first_name="Bertha", last_name="Beta")
    assert "Bertha" not in client_a.get("/deals/contact-options/?q=bertha").content.decode()
    anonymous = Client(HTTP_HOST=host_of(tenant_b))
    assert anonymous.get("/deals/contact-options/?q=bertha").status_code == 302


def test_each_card_has_a_move_to_menu_that_works_without_dragging(
    client_a: Client, tenant_a: Tenant
) -> None:
    negotiation = stage_of(tenant_a, "Negotiation")
    with tenant_context(tenant_a):
        deal = DealFactory(name="By keyboard")
    board = client_a.get("/deals/board/?mine=").content.decode()
    card = board[board.index(f'data-deal="{deal.pk}"') :]
    card = card[: card.index("</li>")]
    assert "data-move-menu" in card
    assert f'name="stage" value="{negotiation.pk}"' in card
    assert "disabled" in card  # the card's own stage is no choice

    moved = client_a.post(f"/deals/{deal.pk}/move/?mine=", {"stage": negotiation.pk})
    assert moved.status_code == 302
    assert moved["Location"].endswith("?mine=")
    with tenant_context(tenant_a):
        deal.refresh_from_db()
    assert deal.stage_id == negotiation.pk
    assert "By keyboard moved to Negotiation." in client_a.get(moved["Location"]).content.decode()


def test_a_card_moved_to_a_lost_stage_keeps_the_reason_asked_for(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        lost = Stage.objects.get(pipeline__is_default=True, is_lost=True)
        deal = DealFactory()
    board = client_a.get("/deals/board/").content.decode()
    assert f'data-stage="{lost.pk}" data-lost' in board
    assert 'data-testid="lost-dialog"' in board
    answer = client_a.post(
        f"/deals/{deal.pk}/move/",
        {"stage": lost.pk, "position": 0, "lost_reason": "Chose a cheaper tool"},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200
    with tenant_context(tenant_a):
        deal.refresh_from_db()
    assert deal.stage_id == lost.pk and deal.lost_reason == "Chose a cheaper tool"
    too_long = client_a.post(
        f"/deals/{deal.pk}/move/", {"stage": lost.pk, "lost_reason": "x" * 201}
    )
    assert too_long.status_code == 400
