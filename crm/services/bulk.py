"""Many writes of one kind of record at once, all or nothing: creates, updates and deletes of
contacts, companies, leads or deals in one transaction, each through the record's own
service, so a batch follows exactly the rules of one record at a time. Also the list pages'
bulk actions: give records an owner, add a tag, delete them."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from django.db import models, transaction

from crm import services
from crm.models import Company, Contact, CustomField, Deal, Lead
from crm.services import _definitions_for_write
from iam import authz
from iam.audit import audit_record
from problems.exceptions import DomainError, InvalidFields

from . import deals as deal_services
from . import leads as lead_services
from .tags import tag_names_clean, tags_get_or_create

log = structlog.get_logger(__name__)

BULK_LIMIT = 1000
NOT_FOUND = "Not found."


@dataclass(frozen=True)
class RecordWriter:
    """How one kind of record is created, updated and deleted, by its own services."""

    model: type[models.Model]
    keyword: str  # the services' name for the record: contact_update(contact=...)
    create: Callable[..., models.Model]
    update: Callable[..., models.Model]
    delete: Callable[..., None]
    custom_fields: str = ""  # the custom-field entity of records that have custom fields
    plan_limit: str = ""  # the plan's limit on how many there may be (billing.models.LIMITS)


WRITERS: dict[str, RecordWriter] = {
    "contacts": RecordWriter(
        Contact,
        "contact",
        services.contact_create,
        services.contact_update,
        services.contact_delete,
        CustomField.Entity.CONTACT,
        "contacts",
    ),
    "companies": RecordWriter(
        Company,
        "company",
        services.company_create,
        services.company_update,
        services.company_delete,
        CustomField.Entity.COMPANY,
    ),
    "leads": RecordWriter(
        Lead,
        "lead",
        lead_services.lead_create,
        lead_services.lead_update,
        lead_services.lead_delete,
    ),
    "deals": RecordWriter(
        Deal,
        "deal",
        deal_services.deal_create,
        deal_services.deal_update,
        deal_services.deal_delete,
    ),
}


@dataclass
class BulkOutcome:
    """What a batch did, in the order of its parts: the records created and updated (as
    saved), and the ids deleted."""

    created: list[models.Model] = field(default_factory=list)
    updated: list[models.Model] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)


def _item_errors(prefix: str, exc: DomainError) -> dict[str, list[str]]:
    """An item's errors under `<part>.<index>`: its fields' (`create.3.email`), or the item's
    own when the rule names no field."""
    named = exc.field_errors()
    if named:
        return {f"{prefix}.{name}": notes for name, notes in named.items()}
    return {prefix: [exc.detail]}


def records_bulk_get(
    *, records: str, ids: Iterable[int], principal: authz.Principal | None = None
) -> dict[int, models.Model]:
    """The organization's live records of this kind among `ids`, by id, in one statement;
    ids that are missing, trashed or another organization's are simply absent, and so, with
    a `principal`, are those they may not view (as if missing)."""
    model = WRITERS[records].model
    wanted = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
    if not wanted:
        return {}
    found = model._default_manager.all()
    if principal is not None:
        found = authz.visible(found, principal, WRITERS[records].keyword)
    return found.in_bulk(wanted)


def _actions_of_change(record: models.Model, data: Mapping[str, Any]) -> list[str]:
    """What an update asks of the decision point: "edit" for its fields, "assign" for a new
    owner (a change of owner alone is an assignment only)."""
    actions = ["edit"] if any(key != "owner_id" for key in data) else []
    if "owner_id" in data and data["owner_id"] != getattr(record, "owner_id", None):
        actions.append("assign")
    return actions


def _refusals(
    *,
    writer: RecordWriter,
    principal: authz.Principal,
    create: Sequence[Mapping[str, Any] | None],
    update: Sequence[tuple[models.Model, Mapping[str, Any]] | None],
    delete: Sequence[models.Model | None],
) -> dict[str, list[str]]:
    """The items of a batch the principal may not write, each with the reason, keyed as the
    batch's errors are (`update.2`). The records each action reaches are found by one query
    per action (`authz.visible`); each record is then decided on its own, so the
    organization's policies apply to every one."""
    record_type = writer.keyword
    refused: dict[str, list[str]] = {}
    if any(item is not None for item in create):
        decision = authz.check(principal, "create", record_type=record_type)
        if not decision.allowed:
            for i, item in enumerate(create):
                if item is not None:
                    refused[f"create.{i}"] = [decision.reason]
    wanted: list[tuple[str, models.Model, str]] = []
    for i, change in enumerate(update):
        if change is not None:
            record, data = change
            wanted += [(f"update.{i}", record, a) for a in _actions_of_change(record, data)]
    wanted += [(f"delete.{i}", r, "delete") for i, r in enumerate(delete) if r is not None]
    reachable: dict[str, set[int]] = {}
    for action in {action for _, _, action in wanted}:
        ids = [record.pk for _, record, a in wanted if a == action]
        records = writer.model._default_manager.filter(pk__in=ids)
        narrowed = authz.visible(records, principal, record_type, action)
        reachable[action] = set(narrowed.values_list("pk", flat=True))
    for key, record, action in wanted:
        if key in refused:
            continue
        decision = authz.check(principal, action, record=record)
        if record.pk not in reachable[action] and decision.allowed:
            # Roles and shares don't reach it; only a policy's permit would, and a batch
            # follows what lists and the query allow.
            decision = authz.Decision(allowed=False, reason=decision.grant or decision.reason)
        if not decision.allowed:
            refused[key] = [decision.reason]
    return refused


def records_bulk_write(
    *,
    records: str,
    by: Any,
    create: Sequence[Mapping[str, Any] | None] = (),
    update: Sequence[tuple[models.Model, Mapping[str, Any]] | None] = (),
    delete: Sequence[models.Model | None] = (),
    refused: Mapping[str, list[str]] | None = None,
    principal: authz.Principal | None = None,
) -> BulkOutcome:
    """Create, update and delete records of one kind in one transaction, through the
    record's own services. Every item is tried, so the errors name each bad one by its part
    and index (`create.3.email`, `delete.0`); if any item fails, InvalidFields is raised with
    all of them and nothing is written. A caller that already refused some items (`refused`,
    keyed the same way) passes None in their place: the others are still tried, so the
    errors of the whole batch come back at once.

    With a `principal`, each item is decided first (`_refusals`): one they may not create,
    change, give to another owner or delete is refused with the reason, and so nothing of
    the batch is written."""
    writer = WRITERS[records]
    if len(create) + len(update) + len(delete) > BULK_LIMIT:
        raise InvalidFields({"non_field_errors": [f"Send at most {BULK_LIMIT} items at once."]})
    outcome = BulkOutcome()
    errors: dict[str, list[str]] = dict(refused or {})
    if principal is not None:
        denied = _refusals(
            writer=writer, principal=principal, create=create, update=update, delete=delete
        )
        errors |= {key: notes for key, notes in denied.items() if key not in errors}
        create = [None if f"create.{i}" in denied else c for i, c in enumerate(create)]
        update = [None if f"update.{i}" in denied else u for i, u in enumerate(update)]
        delete = [None if f"delete.{i}" in denied else d for i, d in enumerate(delete)]
    with transaction.atomic():
        shared: dict[str, Any] = {}
        if writer.custom_fields and any(item is not None for item in (*create, *update)):
            # Read and share-locked once for the whole batch, not once per record.
            shared["definitions"] = _definitions_for_write(writer.custom_fields)
        creating: dict[str, Any] = {}
        adding = sum(item is not None for item in create)
        if writer.plan_limit and adding:
            # The plan is asked once for the whole batch, before its first write: a batch
            # that would pass the limit is refused whole (402), not item by item.
            services.plan_room_require(writer.plan_limit, adding)
            creating["room_asked"] = True
        for i, data in enumerate(create):
            if data is None:
                continue
            # The services validate before they write, and write in a savepoint of their
            # own: a refused item leaves the transaction usable for checking the rest.
            try:
                outcome.created.append(writer.create(by=by, **shared, **creating, **data))
            except DomainError as exc:
                errors |= _item_errors(f"create.{i}", exc)
        for i, change in enumerate(update):
            if change is None:
                continue
            record, data = change
            try:
                outcome.updated.append(
                    writer.update(**{writer.keyword: record}, by=by, **shared, **data)
                )
            except DomainError as exc:
                errors |= _item_errors(f"update.{i}", exc)
        for i, doomed in enumerate(delete):
            if doomed is None:
                continue
            pk = doomed.pk
            try:
                with transaction.atomic():
                    writer.delete(**{writer.keyword: doomed}, by=by)
            except DomainError as exc:
                errors |= _item_errors(f"delete.{i}", exc)
            else:
                outcome.deleted.append(pk)
        if errors:
            raise InvalidFields(errors)
    log.info(
        "records.bulk_written",
        records=records,
        created=len(outcome.created),
        updated=len(outcome.updated),
        deleted=len(outcome.deleted),
        by=getattr(by, "pk", None),
    )
    return outcome


def records_owner_set(
    *,
    records: str,
    items: Sequence[models.Model],
    owner_id: Any,
    by: Any,
    principal: authz.Principal | None = None,
) -> int:
    """Give these records to one member (None: nobody), each through its update service;
    all or nothing (with a `principal`, each is an assignment they must be allowed).
    Returns how many were changed."""
    outcome = records_bulk_write(
        records=records,
        by=by,
        update=[(item, {"owner_id": owner_id}) for item in items],
        principal=principal,
    )
    return len(outcome.updated)


def records_tag_add(
    *,
    records: str,
    items: Sequence[models.Model],
    name: Any,
    by: Any,
    principal: authz.Principal | None = None,
) -> int:
    """Add one tag (made on first use) to these records, keeping the tags they have.
    With a `principal`, all or nothing: a record they may not edit refuses the batch.
    Returns how many records gained it."""
    clean = tag_names_clean([name], field="tag")
    writer = WRITERS[records]
    if principal is not None:
        denied = _refusals(
            writer=writer,
            principal=principal,
            create=(),
            update=[(item, {"tags": name}) for item in items],
            delete=(),
        )
        if denied:
            raise InvalidFields(denied)
    with transaction.atomic():
        (tag,) = tags_get_or_create(clean)
        through = writer.model.tags.through  # type: ignore[attr-defined]
        column = f"{writer.model._meta.model_name}_id"
        have = set(
            through.objects.filter(tag=tag, **{f"{column}__in": [i.pk for i in items]}).values_list(
                column, flat=True
            )
        )
        links = [through(tag=tag, **{column: i.pk}) for i in items if i.pk not in have]
        through.objects.bulk_create(links)
        for item in items:
            if item.pk not in have:
                audit_record(
                    actor=by,
                    action=f"{writer.model._meta.model_name}.tagged",
                    target=item,
                    changes={"tags": [None, tag.name]},
                )
    log.info(
        "records.tag_added",
        records=records,
        tag=tag.pk,
        count=len(links),
        by=getattr(by, "pk", None),
    )
    return len(links)


def records_delete(
    *,
    records: str,
    items: Sequence[models.Model],
    by: Any,
    principal: authz.Principal | None = None,
) -> int:
    """Delete these records through their delete service, all or nothing (with a
    `principal`, each decided first)."""
    outcome = records_bulk_write(records=records, by=by, delete=items, principal=principal)
    return len(outcome.deleted)
