"""Reads of activities: lists, a member's tasks, and a record's timeline."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db.models import Q, QuerySet
from django.utils import timezone

from crm.models import Activity, Company, Contact, Deal, Lead
from iam import authz
from iam.models import User

Record = Contact | Company | Lead | Deal
RECORD_FIELDS = ("contact", "company", "lead", "deal")
# Activities about a record that is not in the trash (a trashed record's activities wait with
# it, out of every list, until it is restored or purged).
ON_LIVE_RECORD = Q(**{f"{name}__deleted_at__isnull": True for name in RECORD_FIELDS})


def record_field(record: Record) -> str:
    """The name of the activity's field that points at a record of this type."""
    return type(record).__name__.lower()


def activity_list(
    *,
    kind: str = "",
    contact: int | None = None,
    company: int | None = None,
    lead: int | None = None,
    deal: int | None = None,
    assignee: int | None = None,
    mine_of: int | None = None,
    is_done: bool | None = None,
    due_after: dt.datetime | None = None,
    due_before: dt.datetime | None = None,
    principal: authz.Principal | None = None,
) -> QuerySet[Activity]:
    """Activities, newest first, narrowed by every filter given; `due_after` is inclusive,
    `due_before` exclusive. `mine_of` keeps a user's own: the tasks assigned to them and the
    other activities they logged. Attendees come with them (one statement for the lot).
    With a `principal`, only the activities they may view, in the query."""
    qs = _visible(Activity.objects.filter(ON_LIVE_RECORD), principal).prefetch_related("attendees")
    if kind:
        qs = qs.filter(kind=kind)
    for name, value in (("contact", contact), ("company", company), ("lead", lead)):
        if value is not None:
            qs = qs.filter(**{f"{name}_id": value})
    if deal is not None:
        qs = qs.filter(deal_id=deal)
    if assignee is not None:
        qs = qs.filter(assignee_id=assignee)
    if mine_of is not None:
        qs = qs.filter(
            Q(kind=Activity.Kind.TASK, assignee_id=mine_of)
            | (~Q(kind=Activity.Kind.TASK) & Q(created_by_id=mine_of))
        )
    if is_done is not None:
        qs = qs.filter(is_done=is_done)
    if due_after is not None:
        qs = qs.filter(due_at__gte=due_after)
    if due_before is not None:
        qs = qs.filter(due_at__lt=due_before)
    return qs.order_by("-created_at", "-id")


def _visible(
    qs: QuerySet[Activity], principal: authz.Principal | None, action: str = "view"
) -> QuerySet[Activity]:
    return qs if principal is None else authz.visible(qs, principal, "activity", action)


def activities_of(
    record: Record, *, principal: authz.Principal | None = None
) -> QuerySet[Activity]:
    """The record's own activities, newest first (with a `principal`, those they may view)."""
    return (
        _visible(Activity.objects.filter(**{f"{record_field(record)}_id": record.pk}), principal)
        .prefetch_related("attendees")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class MyTasks:
    overdue: list[Activity]
    today: list[Activity]
    upcoming: list[Activity]
    day_ends_at: dt.datetime

    @property
    def count(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.upcoming)


def day_bounds(now: dt.datetime, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight at the start and end of `now`'s day in `tz`, as aware datetimes."""
    local = now.astimezone(tz)
    start = dt.datetime.combine(local.date(), dt.time(), tzinfo=tz)
    end = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start, end


def my_tasks(
    *,
    user: Any,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
    limit: int = 200,
    principal: authz.Principal | None = None,
) -> MyTasks:
    """The open tasks assigned to `user`: overdue (due before now), today (due from now until
    midnight) and upcoming (later), soonest first. Days are those of `tz`, by default the
    active time zone (the organization's setting; UTC until users or organizations have a time
    zone of their own). At most `limit` tasks in all, in one statement; with a `principal`,
    those they may view (a task assigned to them is theirs)."""
    now = now or timezone.now()
    _, end = day_bounds(now, tz or timezone.get_current_timezone())
    tasks = list(
        _visible(Activity.objects.all(), principal)
        .filter(kind=Activity.Kind.TASK, assignee_id=user.pk, is_done=False)
        .filter(ON_LIVE_RECORD)
        .select_related("contact", "company", "lead", "deal")
        .order_by("due_at", "id")[:limit]
    )
    return MyTasks(
        overdue=[t for t in tasks if t.due_at is not None and t.due_at < now],
        today=[t for t in tasks if t.due_at is not None and now <= t.due_at < end],
        upcoming=[t for t in tasks if t.due_at is None or t.due_at >= end],
        day_ends_at=end,
    )


def activity_record(activity: Activity) -> Record | None:
    """The record an activity is about (from `select_related`, or one statement)."""
    for name in RECORD_FIELDS:
        if getattr(activity, f"{name}_id") is not None:
            record: Record = getattr(activity, name)
            return record
    return None


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a record's timeline: an activity, or a change of the record itself."""

    at: dt.datetime
    kind: Literal["activity", "created", "stage_changed", "converted", "merged"]
    text: str = ""
    activity: Activity | None = None
    by_id: int | None = None
    links: list[tuple[str, str, int]] = field(default_factory=list)  # (type, name, id)


def _conversion_links(lead: Lead) -> list[tuple[str, str, int]]:
    links = []
    if lead.converted_contact is not None:
        links.append(("contact", lead.converted_contact.full_name, lead.converted_contact.pk))
    if lead.converted_company is not None:
        links.append(("company", lead.converted_company.name, lead.converted_company.pk))
    if lead.converted_deal is not None:
        links.append(("deal", lead.converted_deal.name, lead.converted_deal.pk))
    return links


def _conversion_text(links: list[tuple[str, str, int]]) -> str:
    return ", ".join(f"{kind} {name}" for kind, name, _ in links)


def timeline(
    record: Record, *, limit: int = 200, principal: authz.Principal | None = None
) -> list[TimelineEntry]:
    """The record's activities and its own changes in one list, newest first: its creation,
    each stage move of a deal, the conversion of a lead (and, on what a conversion created,
    the lead it came from). A fixed number of statements whatever the record holds; the
    `limit` newest activities (with a `principal`, of those they may view)."""
    entries = [
        TimelineEntry(at=a.created_at, kind="activity", activity=a, by_id=a.created_by_id)
        for a in activities_of(record, principal=principal)[:limit]
    ]
    entries.append(TimelineEntry(at=record.created_at, kind="created"))
    if isinstance(record, Deal):
        entries.extend(
            TimelineEntry(
                at=change.changed_at,
                kind="stage_changed",
                text=(
                    f"Moved from {change.from_stage_name} to {change.to_stage_name}"
                    if change.from_stage_name
                    else f"Put in {change.to_stage_name}"
                ),
                by_id=change.by_id,
            )
            for change in record.stage_changes.order_by("-changed_at", "-id")[:limit]
        )
    if isinstance(record, Lead):
        lead = (
            Lead.objects.select_related("converted_contact", "converted_company", "converted_deal")
            .filter(pk=record.pk, converted_at__isnull=False)
            .first()
        )
        if lead is not None and lead.converted_at is not None:
            links = _conversion_links(lead)
            entries.append(
                TimelineEntry(
                    at=lead.converted_at,
                    kind="converted",
                    text=f"Converted into {_conversion_text(links)}" if links else "Converted",
                    links=links,
                )
            )
    else:
        source = Lead.objects.filter(
            **{f"converted_{record_field(record)}": record}, converted_at__isnull=False
        ).first()
        if source is not None and source.converted_at is not None:
            entries.append(
                TimelineEntry(
                    at=source.converted_at,
                    kind="converted",
                    text=f"Created by converting lead {source.full_name}",
                    links=[("lead", source.full_name, source.pk)],
                )
            )
    if isinstance(record, Contact | Company):
        entries.extend(_merges(record, limit=limit))
    entries.sort(key=lambda e: (e.at, e.kind != "created"), reverse=True)
    return entries


def _merges(record: Contact | Company, *, limit: int) -> list[TimelineEntry]:
    """The duplicates merged into the record (they are in the trash since), one entry each."""
    names = ("first_name", "last_name") if isinstance(record, Contact) else ("name",)
    merged = (
        type(record)
        .with_trashed.filter(merged_into_id=record.pk)
        .only(*names, "deleted_at", "deleted_by_id", "updated_at")
        .order_by("-deleted_at", "-id")[:limit]
    )
    return [
        TimelineEntry(
            at=duplicate.deleted_at or duplicate.updated_at,
            kind="merged",
            text=f"Merged with {duplicate}, now in the trash",
            by_id=duplicate.deleted_by_id,
        )
        for duplicate in merged
    ]


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of users by id, in one statement (users live in `public`)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {
        pk: full_name or email
        for pk, full_name, email in User.objects.filter(pk__in=wanted).values_list(
            "pk", "full_name", "email"
        )
    }


def timeline_user_names(entries: list[TimelineEntry]) -> dict[int, str]:
    ids: list[int | None] = []
    for entry in entries:
        ids.append(entry.by_id)
        if entry.activity is not None:
            ids.append(entry.activity.assignee_id)
    return user_names(ids)
