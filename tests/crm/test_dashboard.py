"""The dashboard: pipeline value by stage, deals won this month against last, my tasks, new
leads by source, lead scores and recent activity, each linking to the list behind it."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Activity, Deal, Lead, Stage
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import ActivityFactory, ContactFactory, DealFactory, LeadFactory

pytestmark = pytest.mark.django_db


def stage_named(name: str) -> Stage:
    return Stage.objects.get(pipeline__is_default=True, name=name)


def won_stage() -> Stage:
    return Stage.objects.get(pipeline__is_default=True, is_won=True)


def chart(page: object, key: str) -> dict:
    return page.context["charts"][key]  # type: ignore[attr-defined]


def test_pipeline_value_is_summed_per_stage_and_never_across_currencies(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        qualified = stage_named("Qualified")
        DealFactory(stage=qualified, amount=Decimal("1000.00"), currency="USD")
        DealFactory(stage=qualified, amount=Decimal("500.00"), currency="USD")
        DealFactory(stage=qualified, amount=Decimal("9000.00"), currency="EUR")
    page = client_a.get("/")
    assert page.status_code == 200
    board = page.context["board"]
    assert board.currency == "USD"  # two deals in USD, one in EUR
    assert board.other_currencies == ["EUR"]
    pipeline = chart(page, "pipeline")
    index = pipeline["labels"].index("Qualified")
    assert pipeline["values"][index] == 1500.0
    assert pipeline["links"][index] == f"/deals/?stage={qualified.pk}"
    html = page.content.decode()
    assert "1,500.00 USD" in html and "9,000.00 EUR" in html
    assert "amounts in EUR are listed in the tables, never added" in html


def test_a_stage_bar_links_to_the_deal_list_of_that_stage(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        DealFactory(name="In qualified", stage=stage_named("Qualified"))
        DealFactory(name="Elsewhere", stage=stage_named("Negotiation"))
    link = chart(client_a.get("/"), "pipeline")["links"][1]
    names = [d.name for d in client_a.get(link).context["page"]]
    assert names == ["In qualified"]


def test_won_deals_this_month_are_shown_against_last_month(
    client_a: Client, tenant_a: Tenant
) -> None:
    now = timezone.now()
    this_month = now.replace(day=1, hour=12)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=2)
    two_months_ago = (last_month.replace(day=1) - dt.timedelta(days=1)).replace(day=3)
    with tenant_context(tenant_a):
        won = won_stage()
        DealFactory(
            name="Now", stage=won, amount=Decimal("700"), currency="USD", closed_at=this_month
        )
        DealFactory(
            name="Then", stage=won, amount=Decimal("300"), currency="USD", closed_at=last_month
        )
        DealFactory(stage=won, amount=Decimal("999"), currency="USD", closed_at=two_months_ago)
        # Open deals are not won, whenever they were created.
        DealFactory(stage=stage_named("Qualified"), amount=Decimal("50"), currency="USD")
    page = client_a.get("/")
    board = page.context["board"]
    assert (board.last_month.count, board.this_month.count) == (1, 1)
    assert chart(page, "won")["values"] == [300.0, 700.0]
    this_link = chart(page, "won")["links"][1]
    names = [d.name for d in client_a.get(this_link).context["page"]]
    assert names == ["Now"]


def test_my_tasks_tile_counts_my_overdue_and_due_today_tasks_and_links_to_my_tasks(
    client_a: Client, tenant_a: Tenant, member_a: User, owner_a: User
) -> None:
    now = timezone.now()
    end_of_day = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    with tenant_context(tenant_a):
        contact = ContactFactory()

        def task(**fields: object) -> None:
            ActivityFactory(kind=Activity.Kind.TASK, subject="Call", contact=contact, **fields)

        task(assignee_id=member_a.pk, due_at=now - dt.timedelta(days=2))
        task(assignee_id=member_a.pk, due_at=now - dt.timedelta(minutes=5))
        task(assignee_id=member_a.pk, due_at=end_of_day - dt.timedelta(seconds=1))
        task(assignee_id=member_a.pk, due_at=now - dt.timedelta(days=1), is_done=True)
        task(assignee_id=owner_a.pk, due_at=now - dt.timedelta(days=1))  # someone else's
        task(assignee_id=member_a.pk, due_at=end_of_day + dt.timedelta(hours=1))  # tomorrow
    page = client_a.get("/")
    assert page.context["board"].overdue_tasks == 2
    assert page.context["board"].tasks_due_today == 1
    assert 'href="/tasks/"' in page.content.decode()


def test_new_leads_are_counted_by_source_and_link_to_the_leads_of_that_source(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        LeadFactory.create_batch(2, source=Lead.Source.REFERRAL)
        LeadFactory(source=Lead.Source.WEB)
        old = LeadFactory(source=Lead.Source.EVENT)
        Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    page = client_a.get("/")
    sources = chart(page, "sources")
    assert sources["labels"] == ["Referral", "Website"]
    assert sources["values"] == [2, 1]
    assert sources["links"][0] == "/leads/?source=referral"
    listed = client_a.get(sources["links"][0]).context["page"]
    assert {lead.source for lead in listed} == {Lead.Source.REFERRAL}
    assert len(listed) == 2


def test_lead_scores_are_shown_in_bands_of_twenty_points_for_open_leads(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        for score in (0, 19, 20, 55, 80, 100):
            LeadFactory(score=score)
        LeadFactory(score=90, status=Lead.Status.DISQUALIFIED)
    page = client_a.get("/")
    scores = chart(page, "scores")
    assert scores["labels"] == ["0–19", "20–39", "40–59", "60–79", "80–100"]
    assert scores["values"] == [2, 1, 1, 0, 2]
    # Each band opens the lead list, best scores first.
    assert set(scores["links"]) == {"/leads/?ordering=-score"}
    listed = [lead.score for lead in client_a.get(scores["links"][0]).context["page"]]
    assert listed == sorted(listed, reverse=True) and listed[0] == 100


def test_recent_activity_shows_the_newest_activities_with_their_record(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Grace", last_name="Hopper")
        ActivityFactory(kind=Activity.Kind.CALL, subject="Intro call", contact=contact)
    html = client_a.get("/").content.decode()
    assert "Intro call" in html
    assert f'href="/contacts/{contact.pk}/"' in html


def test_the_charts_figures_are_in_the_page_as_data_and_as_tables(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        DealFactory(stage=stage_named("Qualified"), amount=Decimal("42.00"), currency="EUR")
    html = client_a.get("/").content.decode()
    start = html.index('<script id="chart-pipeline" type="application/json">')
    data = json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])
    assert 42.0 in data["values"]
    assert '<canvas data-chart="chart-pipeline" role="img"' in html
    assert "<caption" in html and "42.00 EUR" in html


def test_the_dashboard_reads_in_the_same_number_of_statements_whatever_the_data(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    def statements() -> int:
        client_a.get("/")
        with CaptureQueriesContext(connection) as queries:
            assert client_a.get("/").status_code == 200
        return len(queries)

    with tenant_context(tenant_a):
        DealFactory(stage=stage_named("Qualified"))
        LeadFactory()
        ActivityFactory(created_by_id=member_a.pk)
    few = statements()
    with tenant_context(tenant_a):
        for stage in Stage.objects.filter(pipeline__is_default=True):
            DealFactory.create_batch(3, stage=stage, currency="USD", closed_at=timezone.now())
        LeadFactory.create_batch(10, source=Lead.Source.EVENT, score=70)
        contact = ContactFactory()
        for _ in range(10):
            ActivityFactory(kind=Activity.Kind.CALL, contact=contact, created_by_id=member_a.pk)
        ActivityFactory.create_batch(
            5, kind=Activity.Kind.TASK, assignee_id=member_a.pk, due_at=timezone.now()
        )
    many = statements()
    assert many == few
    # Session, user, membership, then the dashboard's own reads (counts, currencies, the
    # pipeline with its stages, the sums by stage, won deals, tasks, new leads, scores,
    # recent activities and their authors' names).
    assert many <= 20


def test_another_organizations_records_never_show_on_the_dashboard(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    with tenant_context(tenant_a):
        DealFactory(name="Alpha secret", stage=stage_named("Qualified"), currency="JPY")
        LeadFactory(source=Lead.Source.PARTNER)
    client_b = Client(HTTP_HOST=host_of(tenant_b))
    client_b.force_login(owner_b)
    page = client_b.get("/")
    assert page.status_code == 200
    assert page.context["board"].currency == ""
    assert page.context["board"].counts["deals"] == 0
    assert chart(page, "sources")["labels"] == []
    with tenant_context(tenant_b):
        assert not Deal.objects.filter(name="Alpha secret").exists()


def test_a_deal_list_reached_from_a_chart_says_what_it_is_narrowed_to_and_keeps_it(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        qualified = stage_named("Qualified")
        pipeline = qualified.pipeline.name
    html = client_a.get(f"/deals/?stage={qualified.pk}").content.decode()
    assert f"Only deals in {pipeline}: Qualified." in html
    assert f'<input type="hidden" name="stage" value="{qualified.pk}">' in html
    won = client_a.get("/deals/?outcome=won&closed_from=2026-11-01&closed_to=2026-11-30")
    text = won.content.decode()
    assert 'data-testid="deal-list-narrowed"' in text and "Only won deals, closed from" in text
    assert '<input type="hidden" name="closed_to" value="2026-11-30">' in text
    assert 'data-testid="deal-list-narrowed"' not in client_a.get("/deals/").content.decode()


def test_activities_of_records_in_the_trash_are_left_out(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        trashed = LeadFactory(last_name="Binned")
        ActivityFactory(
            kind=Activity.Kind.CALL, subject="Call in the bin", contact=None, lead=trashed
        )
        ActivityFactory(
            kind=Activity.Kind.TASK,
            subject="Task in the bin",
            contact=None,
            lead=trashed,
            assignee_id=member_a.pk,
            due_at=timezone.now() - dt.timedelta(days=1),
        )
        Lead.with_trashed.filter(pk=trashed.pk).update(deleted_at=timezone.now())
    page = client_a.get("/")
    assert "in the bin" not in page.content.decode()
    assert page.context["board"].overdue_tasks == 0
