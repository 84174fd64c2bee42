"""Reads of the trash: the organization's trashed contacts, companies, leads and deals, with
who put them there, when, and how long they have left."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Concat, Trim
from django.utils import timezone

from crm.models import Contact, Lead
from crm.services.trash import TRASH_DAYS, TRASHABLE, Trashable
from iam import authz

# What the trash lists, and the order its filter offers them.
TRASH_TYPES = ("contact", "company", "lead", "deal")


def _name(model: type[Trashable]) -> Any:
    if model in (Contact, Lead):
        return Trim(Concat("first_name", Value(" "), "last_name", output_field=CharField()))
    return F("name")


def trash_list(*, principal: authz.Principal | None, kind: str = "") -> QuerySet[Any]:
    """Rows of `{"id", "deleted_at", "deleted_by_id", "type", "name_shown"}`, the most recently
    trashed first, of one type (`kind`) or (`kind=""`) of all four, in one statement: only
    the records `principal` may delete (and so restore), decided in the statement itself."""
    parts = [
        authz.visible(TRASHABLE[name].trashed.all(), principal, name, action="delete")
        .annotate(type=Value(name, output_field=CharField()), name_shown=_name(TRASHABLE[name]))
        .order_by()
        .values("id", "deleted_at", "deleted_by_id", "type", "name_shown")
        for name in TRASH_TYPES
        if not kind or name == kind
    ]
    first, *others = parts
    return (
        first.union(*others, all=True).order_by("-deleted_at", "-id")
        if others
        else first.order_by("-deleted_at", "-id")
    )


@dataclass(frozen=True)
class TrashEntry:
    type: str
    id: int
    name: str
    deleted_at: dt.datetime
    deleted_by_id: int | None

    @property
    def purge_after(self) -> dt.datetime:
        """When the periodic purge may delete it for good."""
        return self.deleted_at + dt.timedelta(days=TRASH_DAYS)

    @property
    def days_left(self) -> int:
        """Whole days until the purge may take it (0: any time now)."""
        return max(0, (self.purge_after - timezone.now()).days)


def trash_entries(rows: Any) -> list[TrashEntry]:
    """TrashEntry objects of a page of `trash_list` rows."""
    return [
        TrashEntry(
            type=row["type"],
            id=row["id"],
            name=row["name_shown"] or "",
            deleted_at=row["deleted_at"],
            deleted_by_id=row["deleted_by_id"],
        )
        for row in rows
    ]


def trashed_record(*, principal: authz.Principal | None, kind: str, pk: int) -> Trashable | None:
    """The trashed record of this type and id that `principal` may view, or None (not in the
    trash, no such type, or not theirs to see: the same answer)."""
    model = TRASHABLE.get(kind)
    if model is None:
        return None
    found: Trashable | None = (
        authz.visible(model.trashed.all(), principal, kind).filter(pk=pk).first()  # type: ignore[assignment]
    )
    return found
