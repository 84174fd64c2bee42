"""Activities: per-kind rules, exactly one record, tasks done and reopened, My tasks around
midnight, and the timeline's order and statement count."""

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Activity, Deal, DealStageChange, Lead, Pipeline
from crm.selectors import activities as selectors
from crm.services import activities as services
from iam.models import User
from problems.exceptions import InvalidFields
from tenants.models import Tenant

from .factories import ActivityFactory, CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def in_a(tenant_a: Tenant) -> Iterator[Tenant]:
    with tenant_context(tenant_a):
        yield tenant_a


def _deal(**kwargs: object) -> Deal:
    pipeline = Pipeline.objects.get(is_default=True)
    stage = pipeline.stages.order_by("position").first()
    assert stage is not None
    return Deal.objects.create(name="Big one", pipeline=pipeline, stage=stage, **kwargs)


def _errors(excinfo: pytest.ExceptionInfo[InvalidFields]) -> dict[str, list[str]]:
    return excinfo.value.errors


def test_a_task_is_assigned_to_its_creator_unless_told(in_a: Tenant, member_a: User) -> None:
    contact = ContactFactory()
    task = services.activity_create(
        by=member_a, kind="task", subject="Call back", due_at=NOW, contact=contact
    )
    assert task.assignee_id == member_a.pk
    assert task.created_by_id == member_a.pk
    assert task.contact_id == contact.pk


@pytest.mark.parametrize(
    ("kind", "fields", "error_field"),
    [
        ("task", {"subject": "x"}, "due_at"),
        ("task", {"due_at": NOW}, "subject"),
        ("call", {}, "direction"),
        ("call", {"direction": "inbound", "duration_seconds": 90_000}, "duration_seconds"),
        ("meeting", {}, "starts_at"),
        ("meeting", {"starts_at": NOW, "ends_at": NOW - dt.timedelta(minutes=1)}, "ends_at"),
        ("note", {"body": "   "}, "body"),
        ("email", {"direction": "outbound"}, "subject"),
        ("email", {"subject": "Hello"}, "direction"),
        ("note", {"body": "x", "due_at": NOW}, "due_at"),
        ("call", {"direction": "inbound", "starts_at": NOW}, "starts_at"),
        ("task", {"subject": "x", "due_at": NOW, "outcome": "Reached"}, "outcome"),
    ],
)
def test_each_kind_has_its_own_rules(
    in_a: Tenant, member_a: User, kind: str, fields: dict[str, object], error_field: str
) -> None:
    with pytest.raises(InvalidFields) as excinfo:
        services.activity_create(by=member_a, kind=kind, contact=ContactFactory(), **fields)
    assert error_field in _errors(excinfo)
    assert not Activity.objects.exists()


def test_a_meeting_keeps_its_attendees(in_a: Tenant, member_a: User) -> None:
    people = [ContactFactory(), ContactFactory()]
    meeting = services.activity_create(
        by=member_a,
        kind="meeting",
        subject="Kick-off",
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(hours=1),
        attendees=people,
        company=CompanyFactory(),
    )
    assert set(meeting.attendees.values_list("pk", flat=True)) == {p.pk for p in people}


def test_attendees_belong_to_meetings_only(in_a: Tenant, member_a: User) -> None:
    with pytest.raises(InvalidFields) as excinfo:
        services.activity_create(
            by=member_a,
            kind="note",
            body="x",
            attendees=[ContactFactory()],
            lead=None,
            contact=ContactFactory(),
        )
    assert "attendees" in _errors(excinfo)


@pytest.mark.parametrize("records", [(), ("contact", "company")])
def test_an_activity_is_about_exactly_one_record(
    in_a: Tenant, member_a: User, records: tuple[str, ...]
) -> None:
    given = {"contact": ContactFactory(), "company": CompanyFactory()}
    with pytest.raises(InvalidFields) as excinfo:
        services.activity_create(
            by=member_a, kind="note", body="x", **{r: given[r] for r in records}
        )
    assert "record" in _errors(excinfo)


def test_a_task_goes_only_to_a_member_of_the_organization(
    in_a: Tenant, member_a: User, owner_b: User
) -> None:
    with pytest.raises(InvalidFields) as excinfo:
        services.activity_create(
            by=member_a,
            kind="task",
            subject="x",
            due_at=NOW,
            assignee_id=owner_b.pk,
            contact=ContactFactory(),
        )
    assert "assignee_id" in _errors(excinfo)


def test_an_update_is_checked_as_a_create_is(in_a: Tenant, member_a: User) -> None:
    call = services.activity_create(
        by=member_a, kind="call", direction="outbound", contact=ContactFactory()
    )
    with pytest.raises(InvalidFields):
        services.activity_update(activity=call, by=member_a, due_at=NOW)
    updated = services.activity_update(
        activity=call, by=member_a, outcome="Left a message", duration_seconds=30
    )
    call.refresh_from_db()
    assert (updated.outcome, call.outcome, call.duration_seconds) == (
        "Left a message",
        "Left a message",
        30,
    )


def test_a_task_is_completed_and_reopened(in_a: Tenant, member_a: User) -> None:
    task = services.activity_create(
        by=member_a, kind="task", subject="x", due_at=NOW, contact=ContactFactory()
    )
    services.task_complete(activity=task, by=member_a)
    task.refresh_from_db()
    assert task.is_done and task.done_at is not None
    first_done_at = task.done_at
    services.task_complete(activity=task, by=member_a)
    task.refresh_from_db()
    assert task.done_at == first_done_at
    services.task_reopen(activity=task, by=member_a)
    task.refresh_from_db()
    assert not task.is_done and task.done_at is None


def test_only_a_task_is_completed(in_a: Tenant, member_a: User) -> None:
    note = ActivityFactory()
    with pytest.raises(InvalidFields):
        services.task_complete(activity=note, by=member_a)


def _task(user: User, due_at: dt.datetime, **kwargs: object) -> Activity:
    return services.activity_create(
        by=user,
        kind="task",
        subject=f"due {due_at}",
        due_at=due_at,
        contact=ContactFactory(),
        **kwargs,
    )


def test_my_tasks_are_grouped_by_the_days_of_the_time_zone(
    in_a: Tenant, member_a: User, owner_a: User
) -> None:
    berlin = ZoneInfo("Europe/Berlin")  # UTC+1 in March
    now = dt.datetime(2026, 3, 10, 22, 30, tzinfo=dt.UTC)  # 23:30 in Berlin
    overdue = _task(member_a, now - dt.timedelta(minutes=1))
    today = _task(member_a, dt.datetime(2026, 3, 10, 22, 59, tzinfo=dt.UTC))  # 23:59 Berlin
    tomorrow = _task(member_a, dt.datetime(2026, 3, 10, 23, 1, tzinfo=dt.UTC))  # 00:01 Berlin
    _task(member_a, now, is_done=True)
    _task(owner_a, now + dt.timedelta(minutes=5), assignee_id=owner_a.pk)

    mine = selectors.my_tasks(user=member_a, now=now, tz=berlin)
    assert [t.pk for t in mine.overdue] == [overdue.pk]
    assert [t.pk for t in mine.today] == [today.pk]
    assert [t.pk for t in mine.upcoming] == [tomorrow.pk]

    in_utc = selectors.my_tasks(user=member_a, now=now, tz=dt.UTC)
    assert [t.pk for t in in_utc.today] == [today.pk, tomorrow.pk]


def test_timeline_mixes_activities_and_stage_moves_newest_first(
    in_a: Tenant, member_a: User
) -> None:
    deal = _deal()
    Deal.objects.filter(pk=deal.pk).update(created_at=NOW - dt.timedelta(days=3))
    deal.refresh_from_db()
    call = ActivityFactory(kind="call", direction="inbound", body="", contact=None, deal=deal)
    Activity.objects.filter(pk=call.pk).update(created_at=NOW - dt.timedelta(days=2))
    DealStageChange.objects.create(
        deal=deal, from_stage_name="Lead in", to_stage_name="Qualified", changed_at=NOW
    )
    note = ActivityFactory(contact=None, deal=deal)
    Activity.objects.filter(pk=note.pk).update(created_at=NOW + dt.timedelta(hours=1))

    entries = selectors.timeline(deal)
    assert [(e.kind, e.activity.pk if e.activity else None) for e in entries] == [
        ("activity", note.pk),
        ("stage_changed", None),
        ("activity", call.pk),
        ("created", None),
    ]
    assert entries[1].text == "Moved from Lead in to Qualified"


def test_a_converted_leads_timeline_names_what_it_became(in_a: Tenant) -> None:
    contact, company = ContactFactory(), CompanyFactory()
    lead = Lead.objects.create(last_name="Bolton")
    Lead.objects.filter(pk=lead.pk).update(
        converted_at=timezone.now(), converted_contact=contact, converted_company=company
    )
    entries = selectors.timeline(lead)
    assert entries[0].kind == "converted"
    assert entries[0].text == f"Converted into contact {contact.full_name}, company {company.name}"
    from_lead = selectors.timeline(contact)
    assert from_lead[0].kind == "converted"
    assert from_lead[0].links == [("lead", lead.full_name, lead.pk)]


@pytest.mark.parametrize("activities", [1, 12])
def test_timeline_costs_the_same_statements_however_many_activities(
    in_a: Tenant, activities: int
) -> None:
    deal = _deal()
    people = [ContactFactory(), ContactFactory()]
    for i in range(activities):
        meeting = ActivityFactory(kind="meeting", body="", starts_at=NOW, contact=None, deal=deal)
        meeting.attendees.set(people)
        DealStageChange.objects.create(deal=deal, to_stage_name=f"Stage {i}")
    with CaptureQueriesContext(connection) as queries:
        entries = selectors.timeline(deal)
        for entry in entries:
            if entry.activity is not None:
                list(entry.activity.attendees.all())
        selectors.timeline_user_names(entries)
    assert len(entries) == 2 * activities + 1
    assert len(queries) <= 5, [q["sql"] for q in queries]
