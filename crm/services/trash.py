"""The trash: deleting a contact, company, lead or deal moves it there for `TRASH_DAYS` days,
restorable until `trash_purge` deletes it for good.

A trashed record keeps its relations (its activities, tags, deal links, a company's contacts
and deals) so a restore brings it back whole; the default managers hide it meanwhile (see
`crm.models.LiveManager`). It holds no e-mail address of its own while trashed: another
contact may take the address, and restoring the first then answers ContactEmailTaken.

Purging deletes the record with what hangs on it alone (its activities, deal links, tag
links; a deal's line items and stage history); contacts and deals of a purged company, and
what a purged lead was converted into, stay, without the link.
"""

import datetime as dt
from typing import Any, TypeVar

import structlog
from django.db import transaction
from django.utils import timezone

from crm.exceptions import RecordNotInTrash
from crm.models import Company, Contact, Deal, Lead, Stage
from iam.audit import audit_record

log = structlog.get_logger(__name__)

TRASH_DAYS = 30
Trashable = Contact | Company | Lead | Deal
T = TypeVar("T", bound=Contact | Company | Lead | Deal)
# By the type names the API and the pages use; purged in this order (deals before the
# contacts they link, contacts before their company).
TRASHABLE: dict[str, type[Trashable]] = {
    "deal": Deal,
    "lead": Lead,
    "contact": Contact,
    "company": Company,
}


def record_type(record: Trashable) -> str:
    """The type name of a trashable record: contact, company, lead or deal."""
    return type(record)._meta.model_name or ""


def record_trash(*, record: Trashable, by: Any, now: dt.datetime | None = None) -> None:
    """Move a record to the trash (who and when are kept); one already there stays as it was."""
    now = now or timezone.now()
    by_id = getattr(by, "pk", None)
    with transaction.atomic():
        moved = (
            type(record)
            .objects.filter(pk=record.pk)
            .update(deleted_at=now, deleted_by_id=by_id, updated_at=now)
        )
        if moved:
            record.deleted_at, record.deleted_by_id, record.updated_at = now, by_id, now
            audit_record(actor=by, action=f"{record_type(record)}.deleted", target=record)
    log.info("record.trashed", type=record_type(record), record=record.pk, by=by_id)


def record_restore(*, record: T, by: Any) -> T:
    """Bring a record back from the trash as it was. A contact whose e-mail address another
    contact took meanwhile raises ContactEmailTaken (and stays in the trash); a record not in
    the trash raises RecordNotInTrash. A contact back from the trash counts again toward the
    plan's contacts, so the plan is asked first (PlanLimitReached when they are all taken)."""
    from crm.services import _email_is_free, plan_room_require  # the package imports this

    model = type(record)
    with transaction.atomic():
        locked = model.with_trashed.select_for_update().get(pk=record.pk)
        if locked.deleted_at is None:
            raise RecordNotInTrash(f"{locked} is not in the trash.")
        if isinstance(locked, Contact):
            plan_room_require("contacts")
            _email_is_free(locked)
        locked.deleted_at, locked.deleted_by_id = None, None
        restored = ["deleted_at", "deleted_by_id", "updated_at"]
        if isinstance(locked, Contact | Company):
            locked.merged_into_id = None  # a record of its own again
            restored.append("merged_into_id")
        locked.save(update_fields=restored)
        if isinstance(locked, Deal):
            _deal_back_on_board(locked, by=by)
        audit_record(actor=by, action=f"{record_type(locked)}.restored", target=locked)
    record.deleted_at, record.deleted_by_id = None, None
    record.updated_at = locked.updated_at
    log.info(
        "record.restored", type=record_type(record), record=record.pk, by=getattr(by, "pk", None)
    )
    return record


def _deal_back_on_board(deal: Deal, *, by: Any) -> None:
    """A restored deal whose stage was archived meanwhile goes to the first open stage of its
    pipeline (a move kept in its history), so the board shows it again."""
    from crm.services.deals import deal_move  # that module imports this one

    stage = Stage.objects.get(pk=deal.stage_id)
    if not stage.is_archived:
        return
    first = (
        Stage.objects.filter(pipeline_id=deal.pipeline_id, is_archived=False)
        .order_by("position", "id")
        .first()
    )
    if first is not None:
        deal_move(deal=deal, stage=first, position=None, by=by)
        deal.refresh_from_db()


def record_purge(*, record: Trashable, by: Any) -> None:
    """Delete a trashed record for good now, before its time is up (owners and admins: the
    caller checks). A record not in the trash raises RecordNotInTrash."""
    with transaction.atomic():
        locked = type(record).with_trashed.select_for_update().get(pk=record.pk)
        if locked.deleted_at is None:
            raise RecordNotInTrash(f"{locked} is not in the trash.")
        audit_record(actor=by, action=f"{record_type(locked)}.purged", target=locked)
        locked.delete()
    log.info(
        "record.purged", type=record_type(record), record=record.pk, by=getattr(by, "pk", None)
    )


def trash_purge(
    *, older_than: dt.timedelta = dt.timedelta(days=TRASH_DAYS), now: dt.datetime | None = None
) -> dict[str, int]:
    """Delete for good what has been in the trash longer than `older_than`, in this
    organization; returns how many records of each type went."""
    cutoff = (now or timezone.now()) - older_than
    purged: dict[str, int] = {}
    with transaction.atomic():
        for name, model in TRASHABLE.items():
            _, deleted = model.trashed.filter(deleted_at__lt=cutoff).delete()
            purged[name] = deleted.get(model._meta.label, 0)
        if any(purged.values()):
            audit_record(
                action="trash.purged",
                target=("trash", "", f"Trash older than {older_than.days} days"),
                changes={name: [count, 0] for name, count in purged.items() if count},
            )
    log.info("trash.purged", **purged)
    return purged
