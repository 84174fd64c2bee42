"""Reading an organization's audit log: the filters its page and API share."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from iam.org.models import AuditEvent


@dataclass(frozen=True)
class AuditFilters:
    """What to look for: `person` matches the actor's e-mail (part of it) or user id;
    `action` a code or its start ("member." finds every member action); `record_type` /
    `record_id` the target; `since` / `until` the days, both included."""

    person: str = ""
    action: str = ""
    record_type: str = ""
    record_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def day_bounds(
    since: dt.date | None, until: dt.date | None, *, time_zone: str
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The instants a range of days (both included) runs between, midnight to midnight in
    `time_zone`; a day at the calendar's very edge leaves that side open."""
    zone = ZoneInfo(time_zone)

    def start(day: dt.date) -> dt.datetime | None:
        try:
            moment = dt.datetime.combine(day, dt.time(), tzinfo=zone)
            moment.astimezone(dt.UTC)  # the database compares in UTC
        except OverflowError:
            return None
        return moment

    lower = start(since) if since else None
    upper = None
    if until and until < dt.date.max:
        upper = start(until + dt.timedelta(days=1))
    return lower, upper


def audit_event_list(*, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """The events of the connection's organization that match, newest first."""
    events = AuditEvent.objects.all()
    person = filters.person.strip()
    if person:
        match = Q(actor_label__icontains=person)
        if person.isdigit() and len(person) <= 18:  # a user id fits a bigint
            match |= Q(actor_id=int(person))
        events = events.filter(match)
    action = filters.action.strip()
    if action:
        events = (
            events.filter(action__startswith=action)
            if action.endswith(".")
            else events.filter(action=action)
        )
    if filters.record_type.strip():
        events = events.filter(target_type=filters.record_type.strip())
    if filters.record_id.strip():
        events = events.filter(target_id=filters.record_id.strip())
    if filters.since is not None:
        events = events.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(occurred_at__lt=filters.until)
    return events.order_by("-seq")


def audit_actions_known() -> list[str]:
    """The action codes this organization's log holds, for the page's filter."""
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct())
