"""Writes of deals: create, update, delete, and moves between stages with their history."""

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from crm.currencies import CURRENCY_HELP, currency_clean
from crm.exceptions import StageInAnotherPipeline
from crm.models import Company, Contact, Deal, DealContact, DealStageChange, Pipeline, Stage
from iam.audit import audit_record, audit_snapshot, changes_between, changes_of_new
from iam.models import Membership
from problems.exceptions import InvalidFields

from .line_items import deal_fields_check
from .tags import tags_set
from .trash import record_trash

log = structlog.get_logger(__name__)

MAX_AMOUNT = Decimal("999999999999.99")  # 14 digits, 2 after the point
DEAL_FIELDS = (
    "name",
    "company",
    "amount",
    "currency",
    "pipeline",
    "stage",
    "expected_close_on",
    "owner_id",
    "lost_reason",
)


def _by_id(by: Any) -> int | None:
    return getattr(by, "pk", None)


def _amount_clean(value: Any, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        errors["amount"] = ["Enter an amount, such as 1250.00."]
    elif amount < 0:
        errors["amount"] = ["The amount can't be negative."]
    elif amount != amount.quantize(Decimal("0.01")):
        errors["amount"] = ["Use at most 2 digits after the decimal point."]
    elif amount > MAX_AMOUNT:
        errors["amount"] = [f"The amount can be at most {MAX_AMOUNT}."]
    else:
        return amount.quantize(Decimal("0.01"))
    return None


def _owner_is_member(owner_id: int) -> bool:
    tenant = getattr(connection, "tenant", None)
    return Membership.objects.filter(tenant=tenant, user_id=owner_id).exists()


def _fields_clean(data: dict[str, Any], deal: Deal | None) -> dict[str, Any]:
    """The deal fields of `data`, checked; raises InvalidFields naming each bad one."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "name" in data or deal is None:
        name = data.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            errors["name"] = ["Give the deal a name."]
        elif len(name) > 200:
            errors["name"] = ["Use at most 200 characters."]
        clean["name"] = name
    if "amount" in data:
        clean["amount"] = _amount_clean(data["amount"], errors)
    if "currency" in data:
        code = currency_clean(data["currency"])
        if code is None:
            errors["currency"] = [CURRENCY_HELP]
        clean["currency"] = code
    if "company" in data:
        company = data["company"]
        if company is not None and not isinstance(company, Company):
            errors["company"] = ["Choose a company of this organization."]
        clean["company"] = company
    if "expected_close_on" in data:
        close = data["expected_close_on"]
        if close is not None and not isinstance(close, dt.date):
            errors["expected_close_on"] = ["Enter a date as YYYY-MM-DD."]
        clean["expected_close_on"] = close
    if "owner_id" in data:
        owner = data["owner_id"]
        if owner is not None and (
            isinstance(owner, bool) or not isinstance(owner, int) or not _owner_is_member(owner)
        ):
            errors["owner_id"] = ["Choose a member of this organization."]
        clean["owner_id"] = owner
    if "lost_reason" in data:
        reason = data["lost_reason"] or ""
        if not isinstance(reason, str) or len(reason.strip()) > 200:
            errors["lost_reason"] = ["Use at most 200 characters."]
        clean["lost_reason"] = reason.strip() if isinstance(reason, str) else ""
    _stage_clean(data, deal, clean, errors)
    if errors:
        raise InvalidFields(errors)
    return clean


def _stage_clean(
    data: dict[str, Any], deal: Deal | None, clean: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    """Pipeline and stage: the stage must be an open stage of the deal's pipeline. A new deal
    without either starts in the first stage of the default pipeline."""
    pipeline: Pipeline | None = data.get("pipeline") or (deal.pipeline if deal else None)
    stage: Stage | None = data.get("stage") or (deal.stage if deal else None)
    if deal is not None and "stage" not in data and pipeline == deal.pipeline:
        return  # no new stage, and the same pipeline: the deal stays where it is
    if stage is None or ("pipeline" in data and "stage" not in data):
        pipeline = pipeline or Pipeline.objects.filter(is_default=True).first()
        stage = (
            Stage.objects.filter(pipeline=pipeline, is_archived=False).order_by("position").first()
            if pipeline is not None
            else None
        )
        if stage is None:
            errors["stage"] = ["Choose a stage: the pipeline has none."]
            return
    if pipeline is None:
        pipeline = stage.pipeline
    if pipeline.is_archived and (deal is None or deal.pipeline_id != pipeline.pk):
        errors["pipeline"] = ["The pipeline is archived; choose another."]
    if stage.pipeline_id != pipeline.pk:
        errors["stage"] = [f"Choose a stage of the pipeline “{pipeline.name}”."]
    elif stage.is_archived and (deal is None or deal.stage_id != stage.pk):
        errors["stage"] = ["The stage is archived; choose another."]
    clean["pipeline"] = pipeline
    clean["stage"] = stage


def _contacts_clean(contacts: Sequence[Contact], primary: Contact | None) -> None:
    if primary is not None and primary.pk not in {c.pk for c in contacts}:
        raise InvalidFields({"primary_contact": ["Choose one of the deal's contacts."]})


def _contacts_set(deal: Deal, contacts: Sequence[Contact], primary: Contact | None) -> None:
    # Links to contacts in the trash are not the caller's to change: they come back with
    # the contact's restore (as a plain link, when another contact is primary now).
    links_of_trashed = DealContact.objects.filter(deal=deal, contact__deleted_at__isnull=False)
    DealContact.objects.filter(deal=deal).exclude(pk__in=links_of_trashed.values("pk")).delete()
    if primary is not None:
        links_of_trashed.filter(is_primary=True).update(is_primary=False)
    seen: set[int] = set()
    links = []
    for contact in contacts:
        if contact.pk in seen:
            continue
        seen.add(contact.pk)
        is_primary = primary is not None and contact.pk == primary.pk
        links.append(DealContact(deal=deal, contact=contact, is_primary=is_primary))
    DealContact.objects.bulk_create(links)


def _columns_lock(*stage_ids: int) -> None:
    """Lock the stages whose columns change, in id order, so concurrent moves into and out of
    them take turns and can't deadlock."""
    list(Stage.objects.select_for_update().filter(pk__in=set(stage_ids)).order_by("pk"))


def _closed_at(stage: Stage, now: dt.datetime) -> dt.datetime | None:
    return now if stage.is_won or stage.is_lost else None


def deal_create(
    *,
    by: Any,
    contacts: Sequence[Contact] = (),
    primary_contact: Contact | None = None,
    **data: Any,
) -> Deal:
    """A new deal, at the bottom of its stage's column; the owner is `by` unless given. Its
    history starts with the stage it was created in."""
    data.setdefault("owner_id", _by_id(by))
    fields = _fields_clean({k: v for k, v in data.items() if k in DEAL_FIELDS}, None)
    _contacts_clean(contacts, primary_contact)
    now = timezone.now()
    with transaction.atomic():
        stage: Stage = fields["stage"]
        _columns_lock(stage.pk)
        last = Deal.objects.filter(stage=stage).aggregate(m=Max("position"))["m"]
        deal = Deal.objects.create(
            **fields,
            position=(last if last is not None else -1) + 1,
            stage_entered_at=now,
            closed_at=_closed_at(stage, now),
        )
        _contacts_set(deal, contacts, primary_contact)
        if data.get("tags") is not None:
            tags_set(record=deal, names=data["tags"], by=by)
        DealStageChange.objects.create(
            deal=deal, to_stage=stage, to_stage_name=stage.name, by_id=_by_id(by), changed_at=now
        )
        audit_record(
            actor=by, action="deal.created", target=deal, changes=changes_of_new(deal, fields)
        )
    log.info("deal.created", deal=deal.pk, stage=stage.pk, by=_by_id(by))
    return deal


def deal_update(*, deal: Deal, by: Any, **data: Any) -> Deal:
    """Change the fields given; a new stage is a move (see `deal_move`), kept in the history.
    `contacts` replaces the deal's contacts; `primary_contact` (or None) must be one of them."""
    contacts: Sequence[Contact] | None = data.pop("contacts", None)
    primary_contact: Contact | None = data.get("primary_contact")
    fields = _fields_clean({k: v for k, v in data.items() if k in DEAL_FIELDS}, deal)
    deal_fields_check(deal=deal, fields=fields)
    if contacts is not None:
        _contacts_clean(contacts, primary_contact)
    elif primary_contact is not None:
        _contacts_clean(list(deal.contacts.all()), primary_contact)
    stage: Stage | None = fields.pop("stage", None)
    pipeline: Pipeline | None = fields.pop("pipeline", None)
    before = audit_snapshot(deal, fields)
    with transaction.atomic():
        for key, value in fields.items():
            setattr(deal, key, value)
        if fields:
            deal.save(update_fields=[*fields, "updated_at"])
            audit_record(
                actor=by,
                action="deal.updated",
                target=deal,
                changes=changes_between(before, audit_snapshot(deal, fields), model=Deal),
            )
        if stage is not None and stage.pk != deal.stage_id:
            if pipeline is not None and pipeline.pk != deal.pipeline_id:
                _deal_pipeline_switch(deal=deal, pipeline=pipeline)
            deal_move(deal=deal, stage=stage, position=None, by=by)
        if data.get("tags") is not None:
            tags_set(record=deal, names=data["tags"], by=by)
        if contacts is not None:
            _contacts_set(deal, contacts, primary_contact)
        elif "primary_contact" in data:
            DealContact.objects.filter(deal=deal).update(is_primary=False)
            if primary_contact is not None:
                DealContact.objects.filter(deal=deal, contact=primary_contact).update(
                    is_primary=True
                )
    log.info("deal.updated", deal=deal.pk, by=_by_id(by), fields=sorted(data))
    return deal


def _deal_pipeline_switch(*, deal: Deal, pipeline: Pipeline) -> None:
    """Put a deal in another pipeline (an edit, not a move on the board); the stage it takes
    there is set by the move that follows."""
    deal.pipeline = pipeline
    Deal.objects.filter(pk=deal.pk).update(pipeline=pipeline)


def deal_delete(*, deal: Deal, by: Any) -> None:
    """Move the deal to the trash (`crm.services.trash`): off the board and the lists, with its
    line items and history, until it is restored or purged."""
    record_trash(record=deal, by=by)


def deal_move(
    *,
    deal: Deal,
    stage: Stage,
    position: int | None,
    by: Any,
    lost_reason: str | None = None,
) -> Deal:
    """Put a deal at `position` (0 first; None or past the end: last) in `stage`'s column,
    renumbering the column. A change of stage is kept (who, when, from, to, seconds spent in
    the stage left), sets when the deal entered the stage, and closes the deal in a won or
    lost stage (re-opens it elsewhere); `lost_reason` is kept when it goes to a lost stage.

    Raises StageInAnotherPipeline for a stage of another pipeline (nothing changes)."""
    if stage.pipeline_id != deal.pipeline_id:
        raise StageInAnotherPipeline(
            "Move the deal to a stage of its own pipeline; change its pipeline by editing it.",
            field="stage",
        )
    if stage.is_archived:
        raise InvalidFields({"stage": ["The stage is archived; choose another."]})
    if position is not None and (isinstance(position, bool) or not isinstance(position, int)):
        raise InvalidFields({"position": ["Give a whole number from 0."]})
    if position is not None and position < 0:
        raise InvalidFields({"position": ["Give a whole number from 0."]})
    if lost_reason is not None and len(lost_reason.strip()) > 200:
        raise InvalidFields({"lost_reason": ["Use at most 200 characters."]})
    with transaction.atomic():
        current = Deal.objects.select_for_update().get(pk=deal.pk)
        _columns_lock(current.stage_id, stage.pk)
        current = Deal.objects.select_related("stage").get(pk=deal.pk)
        column = list(
            Deal.objects.filter(stage=stage).exclude(pk=deal.pk).order_by("position", "id")
        )
        at = len(column) if position is None else min(position, len(column))
        column.insert(at, current)
        changed = []
        for i, card in enumerate(column):
            if card.pk != current.pk and card.position != i:
                card.position = i
                changed.append(card)
        Deal.objects.bulk_update(changed, ["position"])
        current.position = at
        update = ["position", "updated_at"]
        if current.stage_id != stage.pk:
            now = timezone.now()
            left = current.stage
            DealStageChange.objects.create(
                deal=current,
                from_stage=left,
                to_stage=stage,
                from_stage_name=left.name,
                to_stage_name=stage.name,
                seconds_in_from_stage=max(0, int((now - current.stage_entered_at).total_seconds())),
                by_id=_by_id(by),
                changed_at=now,
            )
            if not (left.is_won or left.is_lost) or not (stage.is_won or stage.is_lost):
                current.closed_at = _closed_at(stage, now)
            current.stage = stage
            current.stage_entered_at = now
            update += ["stage", "stage_entered_at", "closed_at"]
            audit_record(
                actor=by,
                action="deal.stage_changed",
                target=current,
                changes={"stage": [left.name, stage.name]},
            )
            log.info(
                "deal.stage_changed",
                deal=current.pk,
                from_stage=left.pk,
                to_stage=stage.pk,
                by=_by_id(by),
            )
        if stage.is_lost and lost_reason is not None:
            current.lost_reason = lost_reason.strip()
            update.append("lost_reason")
        current.save(update_fields=update)
    for attr in ("stage", "stage_entered_at", "closed_at", "position", "lost_reason"):
        setattr(deal, attr, getattr(current, attr))
    return deal
