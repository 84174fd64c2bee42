"""Writes of saved views (a member's named filters, sort and columns of a list, optionally
shared with the organization) and of the columns each member last chose for each list."""

from collections.abc import Mapping
from typing import Any

import structlog
from django.db import IntegrityError, transaction

from crm.models import SavedView
from crm.selectors.saved_views import LIST_COLUMNS, LIST_PARAMETERS, list_columns_of
from problems.exceptions import DomainError, InvalidFields

log = structlog.get_logger(__name__)

NAME_MAX = 100
VALUE_MAX = 200


class SavedViewNotYours(DomainError):
    code = "saved-view-not-yours"
    status = 403
    title = "Only the member who saved a view changes or deletes it."


def _records_clean(value: Any, errors: dict[str, list[str]]) -> str:
    if value not in SavedView.Records.values:
        errors["list"] = [f"Choose one of: {', '.join(SavedView.Records.values)}."]
        return ""
    return str(value)


def _name_clean(value: Any, errors: dict[str, list[str]]) -> str:
    if not isinstance(value, str) or "\x00" in value:
        errors["name"] = ["Give the view a name."]
        return ""
    name = " ".join(value.split())
    if not name:
        errors["name"] = ["Give the view a name."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"Use at most {NAME_MAX} characters."]
    return name


def query_clean(records: str, value: Any, errors: dict[str, list[str]]) -> dict[str, str]:
    """A view's filters and sort: the list page's own parameters, as text. Empty values are
    dropped (an empty filter is no filter)."""
    if not isinstance(value, Mapping):
        errors["query"] = ["Give an object of the list's parameters."]
        return {}
    allowed = LIST_PARAMETERS.get(records, frozenset())
    clean: dict[str, str] = {}
    for key, raw in value.items():
        if key not in allowed:
            errors[f"query.{key}"] = [f"Use the list's parameters: {', '.join(sorted(allowed))}."]
        elif not isinstance(raw, str) or "\x00" in raw or len(raw) > VALUE_MAX:
            errors[f"query.{key}"] = [f"Give text of at most {VALUE_MAX} characters."]
        elif raw.strip():
            clean[key] = raw.strip()
    return clean


def columns_clean(records: str, value: Any, errors: dict[str, list[str]]) -> list[str]:
    """Columns to show, each once, in the list's own order; an empty list shows the name
    alone."""
    known = [key for key, _ in LIST_COLUMNS.get(records, ())]
    if not isinstance(value, list | tuple):
        errors["columns"] = ["Give a list of column names."]
        return []
    unknown = [c for c in value if c not in known]
    if unknown:
        errors["columns"] = [f"Choose among: {', '.join(known)}."]
        return []
    return [key for key in known if key in value]


def _owned(view: SavedView, by: Any) -> None:
    if view.user_id != getattr(by, "pk", None):
        raise SavedViewNotYours()


def _save(view: SavedView, fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            if fields is None:
                view.save(force_insert=True)
            else:
                view.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        taken = "You already have a view of this list with this name."
        raise InvalidFields({"name": [taken]}) from None


def saved_view_create(
    *,
    by: Any,
    records: Any,
    name: Any,
    query: Any = None,
    columns: Any = None,
    is_shared: Any = False,
) -> SavedView:
    """A new view of the list `records`, the member's own; shared with the organization when
    `is_shared`. Columns left out are the member's current choice for the list."""
    errors: dict[str, list[str]] = {}
    records = _records_clean(records, errors)
    clean_name = _name_clean(name, errors)
    clean_query = query_clean(records, query if query is not None else {}, errors)
    if columns is None:
        clean_columns = list_columns_of(user_id=by.pk, records=records)
    else:
        clean_columns = columns_clean(records, columns, errors)
    if not isinstance(is_shared, bool):
        errors["is_shared"] = ["Must be true or false."]
    if errors:
        raise InvalidFields(errors)
    view = SavedView(
        user_id=by.pk,
        records=records,
        name=clean_name,
        query=clean_query,
        columns=clean_columns,
        is_shared=is_shared,
    )
    _save(view)
    log.info("saved_view.created", view=view.pk, records=records, shared=is_shared, by=by.pk)
    return view


def saved_view_update(*, view: SavedView, by: Any, **data: Any) -> SavedView:
    """Rename the view, change its filters, sort, columns or sharing; its owner only."""
    _owned(view, by)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = _name_clean(data["name"], errors)
    if "query" in data:
        changes["query"] = query_clean(view.records, data["query"], errors)
    if "columns" in data:
        changes["columns"] = columns_clean(view.records, data["columns"], errors)
    if "is_shared" in data:
        if not isinstance(data["is_shared"], bool):
            errors["is_shared"] = ["Must be true or false."]
        changes["is_shared"] = data["is_shared"]
    if errors:
        raise InvalidFields(errors)
    for key, value in changes.items():
        setattr(view, key, value)
    _save(view, list(changes))
    log.info("saved_view.updated", view=view.pk, fields=list(changes), by=by.pk)
    return view


def saved_view_delete(*, view: SavedView, by: Any) -> None:
    """Delete a view; its owner only (a shared view disappears for everyone)."""
    _owned(view, by)
    pk = view.pk
    view.delete()
    log.info("saved_view.deleted", view=pk, by=by.pk)


def list_columns_remember(*, by: Any, records: Any, columns: Any) -> list[str]:
    """Remember the columns the member chose for a list (the row named "")."""
    errors: dict[str, list[str]] = {}
    records = _records_clean(records, errors)
    clean = columns_clean(records, columns, errors)
    if errors:
        raise InvalidFields(errors)
    SavedView.objects.update_or_create(
        user_id=by.pk, records=records, name="", defaults={"columns": clean, "query": {}}
    )
    log.info("list.columns_chosen", records=records, columns=clean, by=by.pk)
    return clean
