"""Activity pages: the panel and timeline on record pages, logging with htmx, My tasks."""

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Activity, Deal, DealStageChange, Lead, Pipeline
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import ActivityFactory, CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_a_contact_page_shows_its_timeline_and_the_log_form(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
        ActivityFactory(contact=contact, body="Prefers mornings")
    page = client_a.get(f"/contacts/{contact.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Log activity" in html
    assert "Prefers mornings" in html
    assert 'data-entry="created"' in html


def test_a_company_page_shows_its_timeline(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory()
        ActivityFactory(contact=None, company=company, body="Budget in Q3")
    assert "Budget in Q3" in client_a.get(f"/companies/{company.pk}/").content.decode()


def test_logging_a_call_with_htmx_returns_the_panel_with_it_on_top(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    response = client_a.post(
        "/activities/log/",
        {
            "record_type": "contact",
            "record_id": contact.pk,
            "kind": "call",
            "direction": "outbound",
            "outcome": "Interested",
            "duration_minutes": "5",
        },
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Call logged." in html
    assert html.index('data-kind="call"', html.index('data-testid="timeline"')) < html.index(
        'data-entry="created"'
    )
    with tenant_context(tenant_a):
        call = Activity.objects.get(contact=contact)
    assert (call.kind, call.outcome, call.duration_seconds, call.created_by_id) == (
        "call",
        "Interested",
        300,
        member_a.pk,
    )


def test_a_form_error_comes_back_next_to_its_field(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    response = client_a.post(
        "/activities/log/",
        {
            "record_type": "contact",
            "record_id": contact.pk,
            "kind": "meeting",
            "starts_at": "2026-03-10T10:00",
            "ends_at": "2026-03-10T09:00",
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert "A meeting ends after it starts." in response.content.decode()
    with tenant_context(tenant_a):
        assert not Activity.objects.exists()


def test_a_tab_shows_the_fields_of_its_kind(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
    html = client_a.get(
        f"/activities/form/?record_type=contact&record_id={contact.pk}&kind=task", **HTMX
    ).content.decode()
    assert 'name="kind" value="task"' in html  # the form posts its kind
    assert 'name="due_at"' in html and 'name="assignee"' in html
    assert 'name="outcome"' not in html
    assert ">Log task</button>" in html


def test_my_tasks_groups_open_tasks_and_marks_one_done(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    now = timezone.now()
    with tenant_context(tenant_a):
        contact = ContactFactory()
        late = ActivityFactory(
            kind="task",
            body="",
            subject="Late one",
            due_at=now - dt.timedelta(days=1),
            assignee_id=member_a.pk,
            contact=contact,
        )
        ActivityFactory(
            kind="task",
            body="",
            subject="Next week",
            due_at=now + dt.timedelta(days=7),
            assignee_id=member_a.pk,
            contact=contact,
        )
    html = client_a.get("/tasks/").content.decode()
    overdue = html[html.index('data-group="overdue"') : html.index('data-group="today"')]
    assert "Late one" in overdue
    assert "Next week" in html[html.index('data-group="upcoming"') :]
    assert f'href="/contacts/{contact.pk}/"' in html

    row = client_a.post(f"/tasks/{late.pk}/done/", **HTMX)
    assert row.status_code == 200
    assert "Reopen" in row.content.decode()
    with tenant_context(tenant_a):
        late.refresh_from_db()
    assert late.is_done
    assert "Late one" not in client_a.get("/tasks/").content.decode()


def test_a_task_is_marked_done_from_its_records_timeline(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory()
        task = ActivityFactory(
            kind="task",
            body="",
            subject="Send the contract",
            due_at=timezone.now() + dt.timedelta(days=1),
            assignee_id=member_a.pk,
            contact=None,
            company=company,
        )
    page = client_a.get(f"/companies/{company.pk}/").content.decode()
    timeline = page[page.index('data-testid="timeline"') :]
    assert f'action="/tasks/{task.pk}/done/"' in timeline
    assert "Mark Send the contract done" in timeline

    panel = client_a.post(f"/tasks/{task.pk}/done/", {"from": "timeline"}, **HTMX)
    assert panel.status_code == 200
    html = panel.content.decode()
    assert 'id="activity-panel"' in html  # the record's panel, in place
    assert "Reopen Send the contract" in html
    with tenant_context(tenant_a):
        task.refresh_from_db()
    assert task.is_done

    # Without htmx, back to the record's page; reopening works the same way.
    back = client_a.post(f"/tasks/{task.pk}/done/", {"from": "timeline", "reopen": "1"})
    assert back.status_code == 302 and back["Location"] == f"/companies/{company.pk}/"
    with tenant_context(tenant_a):
        task.refresh_from_db()
    assert not task.is_done


def test_another_organizations_records_and_tasks_are_not_found(
    client_a: Client, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        theirs = ContactFactory()
        task = ActivityFactory(
            kind="task", body="", subject="x", due_at=timezone.now(), contact=theirs
        )
    assert client_a.post(f"/tasks/{task.pk}/done/").status_code == 404
    assert (
        client_a.get(f"/activities/form/?record_type=contact&record_id={theirs.pk}").status_code
        == 404
    )
    logged = client_a.post(
        "/activities/log/",
        {"record_type": "contact", "record_id": theirs.pk, "kind": "note", "body": "x"},
    )
    assert logged.status_code == 404
    with tenant_context(tenant_b):
        task.refresh_from_db()
        assert not task.is_done
        assert Activity.objects.count() == 1


def test_my_tasks_needs_a_signed_in_member(tenant_a: Tenant) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/tasks/")
    assert response.status_code == 302


def test_a_converted_leads_page_shows_what_it_became(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory(first_name="Bill", last_name="Lumbergh")
        lead = Lead.objects.create(first_name="Bill", last_name="Lumbergh")
        Lead.objects.filter(pk=lead.pk).update(
            converted_at=timezone.now(), converted_contact=contact
        )
        ActivityFactory(contact=None, lead=lead, body="Asked about TPS reports")
    html = client_a.get(f"/leads/{lead.pk}/").content.decode()
    assert "Log activity" in html
    assert "Asked about TPS reports" in html
    assert "Converted into contact Bill Lumbergh" in html
    contact_page = client_a.get(f"/contacts/{contact.pk}/").content.decode()
    assert "Created by converting lead Bill Lumbergh" in contact_page


def test_a_deals_page_shows_its_stage_moves(client_a: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        pipeline = Pipeline.objects.get(is_default=True)
        first, second = pipeline.stages.order_by("position")[:2]
        deal = Deal.objects.create(name="Printers", pipeline=pipeline, stage=second)
        DealStageChange.objects.create(
            deal=deal,
            from_stage=first,
            to_stage=second,
            from_stage_name=first.name,
            to_stage_name=second.name,
        )
    html = client_a.get(f"/deals/{deal.pk}/").content.decode()
    assert "Log activity" in html
    assert f"Moved from {first.name} to {second.name}" in html


@pytest.mark.parametrize("count", [1, 15])
def test_pages_cost_the_same_statements_however_many_activities(
    client_a: Client,
    tenant_a: Tenant,
    member_a: User,
    count: int,
    django_assert_max_num_queries: Any,
) -> None:
    with tenant_context(tenant_a):
        contact = ContactFactory()
        company = CompanyFactory()
        for i in range(count):
            ActivityFactory(
                kind="task",
                body="",
                subject=f"Task {i}",
                due_at=timezone.now(),
                assignee_id=member_a.pk,
                contact=contact,
            )
            meeting = ActivityFactory(
                kind="meeting", body="", starts_at=timezone.now(), contact=None, company=company
            )
            meeting.attendees.set([contact])
    # Warm: the process's first request also reads host announcements and keys.
    assert client_a.get("/tasks/").status_code == 200
    # 9: what the member may do here (roles, teams: one statement) and the organization's
    # session limits (its security settings) are each read once.
    with django_assert_max_num_queries(9):
        assert client_a.get("/tasks/").status_code == 200
    # 16: the timeline also reads the duplicates merged into the company (one statement);
    # what the member may do and the session limits are read once (the tasks they may tick
    # need none when their roles reach every activity).
    with django_assert_max_num_queries(16):
        assert client_a.get(f"/companies/{company.pk}/").status_code == 200
