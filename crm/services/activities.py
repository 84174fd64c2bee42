"""Writes of activities: tasks, calls, meetings, notes and logged e-mails about one record.

Each kind has its own fields; a value given for a field of another kind is an error rather
than silently dropped, so an API client learns at once that a call has no due date. The kind
and the record an activity is about are fixed once it exists.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from django.db import connection, transaction
from django.utils import timezone

from crm.models import Activity, Company, Contact, Deal, Lead
from iam.audit import audit_record, changes_between, changes_of_new
from iam.selectors import member_list
from problems.exceptions import InvalidFields

from .scoring import contact_score_queue, lead_score_queue

log = structlog.get_logger(__name__)

RECORD_FIELDS = ("contact", "company", "lead", "deal")
Record = Contact | Company | Lead | Deal

# The fields each kind may carry besides subject and body.
KIND_FIELDS: Mapping[str, tuple[str, ...]] = {
    Activity.Kind.TASK: ("due_at", "assignee_id", "is_done"),
    Activity.Kind.CALL: ("direction", "outcome", "duration_seconds"),
    Activity.Kind.MEETING: ("starts_at", "ends_at", "attendees"),
    Activity.Kind.NOTE: (),
    Activity.Kind.EMAIL: ("direction",),
}
_ALL_KIND_FIELDS = tuple(dict.fromkeys(f for fields in KIND_FIELDS.values() for f in fields))
EDITABLE_FIELDS = ("subject", "body", *_ALL_KIND_FIELDS)
# A call longer than a day is a typo.
MAX_CALL_SECONDS = 24 * 60 * 60


def _score_queue(activity: Activity) -> None:
    """An activity counts in its lead's or contact's score: rescore it once committed."""
    if activity.lead_id is not None:
        lead_score_queue(lead_id=activity.lead_id)
    elif activity.contact_id is not None:
        contact_score_queue(contact_id=activity.contact_id)


def _is_blank(value: Any) -> bool:
    return value is None or value == "" or value is False or value == []


def _is_member(user_id: int) -> bool:
    tenant = connection.tenant  # type: ignore[attr-defined]
    return member_list(tenant=tenant).filter(user_id=user_id).exists()


def _activity_clean(activity: Activity, *, attendees: list[Contact] | None) -> None:
    """Per-kind rules; raises InvalidFields with every problem at once."""
    errors: dict[str, list[str]] = {}
    kind = activity.kind
    label = activity.get_kind_display().lower()
    allowed = KIND_FIELDS.get(kind)
    if allowed is None:
        raise InvalidFields({"kind": [f"Choose one of: {', '.join(Activity.Kind.values)}."]})
    for field in _ALL_KIND_FIELDS:
        if field in allowed:
            continue
        value = attendees if field == "attendees" else getattr(activity, field)
        if not _is_blank(value):
            errors[field] = [f"A {label} has no {field.replace('_', ' ')}."]

    if kind == Activity.Kind.TASK:
        if not activity.subject.strip():
            errors["subject"] = ["Say what is to be done."]
        if activity.due_at is None:
            errors["due_at"] = ["Give the date and time the task is due."]
        if activity.assignee_id is None:
            errors["assignee_id"] = ["Choose who does the task."]
        elif not _is_member(activity.assignee_id):
            errors["assignee_id"] = ["Choose a member of the organization."]
    elif kind == Activity.Kind.CALL:
        if not activity.direction:
            errors["direction"] = ["Say whether the call was inbound or outbound."]
        if activity.duration_seconds is not None and activity.duration_seconds > MAX_CALL_SECONDS:
            errors["duration_seconds"] = ["A call lasts at most a day (86400 seconds)."]
    elif kind == Activity.Kind.MEETING:
        if activity.starts_at is None:
            errors["starts_at"] = ["Give the date and time the meeting starts."]
        elif activity.ends_at is not None and activity.ends_at < activity.starts_at:
            errors["ends_at"] = ["A meeting ends after it starts."]
    elif kind == Activity.Kind.NOTE:
        if not activity.body.strip():
            errors["body"] = ["Write the note."]
    elif kind == Activity.Kind.EMAIL:
        if not activity.subject.strip():
            errors["subject"] = ["Give the e-mail's subject."]
        if not activity.direction:
            errors["direction"] = ["Say whether the e-mail was received or sent."]
    if errors:
        raise InvalidFields(errors)


def _record_of(records: Mapping[str, Any]) -> tuple[str, Record]:
    given = [(name, records[name]) for name in RECORD_FIELDS if records.get(name) is not None]
    if len(given) != 1:
        raise InvalidFields(
            {"record": ["Give exactly one record: a contact, a company, a lead or a deal."]}
        )
    return given[0]


def activity_create(
    *,
    by: Any,
    kind: str,
    attendees: Iterable[Contact] | None = None,
    **data: Any,
) -> Activity:
    """Log an activity about exactly one of `contact`, `company`, `lead` or `deal`. A task
    without an assignee goes to `by`; one created done is done now."""
    name, record = _record_of(data)
    fields = {k: v for k, v in data.items() if k in EDITABLE_FIELDS and k != "attendees"}
    fields = {k: v for k, v in fields.items() if v is not None}
    activity = Activity(kind=kind, created_by_id=getattr(by, "pk", None), **fields)
    setattr(activity, name, record)
    if kind == Activity.Kind.TASK and activity.assignee_id is None:
        activity.assignee_id = getattr(by, "pk", None)
    people = list(attendees) if attendees is not None else None
    _activity_clean(activity, attendees=people)
    if activity.is_done:
        activity.done_at = timezone.now()
    with transaction.atomic():
        activity.save(force_insert=True)
        if people:
            activity.attendees.set(people)
        _score_queue(activity)
        audit_record(
            actor=by,
            action="activity.created",
            target=activity,
            changes=changes_of_new(activity, ["kind", name, *fields]),
        )
    log.info(
        "activity.created",
        activity=activity.pk,
        kind=kind,
        record=f"{name}:{record.pk}",
        by=getattr(by, "pk", None),
    )
    return activity


def activity_update(*, activity: Activity, by: Any, **data: Any) -> Activity:
    """Change the given fields of an activity (not its kind nor its record)."""
    fields = [k for k in data if k in EDITABLE_FIELDS and k != "attendees"]
    was_done = activity.is_done
    before = {key: getattr(activity, key) for key in fields}
    for key in fields:
        value = data[key]
        if value is None and key in ("subject", "body", "direction", "outcome"):
            value = ""
        if value is None and key == "is_done":
            value = False
        setattr(activity, key, value)
    people = list(data["attendees"]) if data.get("attendees") is not None else None
    try:
        _activity_clean(activity, attendees=people)
    except InvalidFields:
        for key, value in before.items():  # the caller's object stays as it was saved
            setattr(activity, key, value)
        raise
    if activity.is_done != was_done:
        activity.done_at = timezone.now() if activity.is_done else None
        fields.append("done_at")
    with transaction.atomic():
        activity.save(update_fields=[*fields, "updated_at"])
        if people is not None:
            activity.attendees.set(people)
        _score_queue(activity)
        after = {key: getattr(activity, key) for key in before}
        audit_record(
            actor=by,
            action="activity.updated",
            target=activity,
            changes=changes_between(before, after, model=Activity),
        )
    log.info("activity.updated", activity=activity.pk, by=getattr(by, "pk", None), fields=fields)
    return activity


def activity_delete(*, activity: Activity, by: Any) -> None:
    pk = activity.pk
    with transaction.atomic():
        audit_record(actor=by, action="activity.deleted", target=activity)
        activity.delete()
        _score_queue(activity)
    log.info("activity.deleted", activity=pk, by=getattr(by, "pk", None))


def _task_set_done(*, activity: Activity, by: Any, is_done: bool) -> Activity:
    if activity.kind != Activity.Kind.TASK:
        raise InvalidFields({"kind": ["Only a task is marked done or reopened."]})
    with transaction.atomic():
        # Two clicks at once (list and page) must not move done_at twice.
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if locked.is_done != is_done:
            locked.is_done = is_done
            locked.done_at = timezone.now() if is_done else None
            locked.save(update_fields=["is_done", "done_at", "updated_at"])
            audit_record(
                actor=by,
                action="task.completed" if is_done else "task.reopened",
                target=locked,
                changes={"is_done": [not is_done, is_done]},
            )
    activity.is_done, activity.done_at = locked.is_done, locked.done_at
    activity.updated_at = locked.updated_at
    log.info(
        "task.completed" if is_done else "task.reopened",
        activity=activity.pk,
        by=getattr(by, "pk", None),
    )
    return activity


def task_complete(*, activity: Activity, by: Any) -> Activity:
    """Mark a task done (again marking a done task changes nothing)."""
    return _task_set_done(activity=activity, by=by, is_done=True)


def task_reopen(*, activity: Activity, by: Any) -> Activity:
    """Mark a done task as still to do."""
    return _task_set_done(activity=activity, by=by, is_done=False)
