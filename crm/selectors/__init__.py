"""Reads of CRM records, from the current tenant's schema."""

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Count, Model, Q, QuerySet

from crm.models import Company, Contact, ContactImport, CustomField
from crm.selectors.search import search_filter
from iam import authz
from pii.fields import blind_index_for
from problems.exceptions import InvalidFields
from tenants.services import settings_changed_in_this_transaction

_R = TypeVar("_R", bound=Model)


def contact_list(
    *, principal: authz.Principal | None, search: str = "", email: str = "", phone: str = ""
) -> QuerySet[Contact]:
    """The contacts `principal` may view (roles, ownership, teams and shares, in the query),
    newest first; `search` finds them as the search box does
    (crm.selectors.search: words of the name in full, as prefixes or with a typo, accents
    aside; words of the e-mail address; a whole phone number). The `email` and `phone`
    filters match exactly, through blind indexes (case, spaces and punctuation don't matter).
    Callers that show the company add `select_related("company")`; the API, which gives
    its id only, reads the one table."""
    qs = search_filter(authz.visible(Contact.objects.all(), principal, "contact"), search)
    if email:
        qs = qs.filter(email_index=blind_index_for(Contact, "email", email))
    if phone:
        qs = qs.filter(phone_index=blind_index_for(Contact, "phone", phone))
    return qs.order_by("-created_at", "-id")


def company_list(*, principal: authz.Principal | None, search: str = "") -> QuerySet[Company]:
    """The companies `principal` may view (in the query), by name; `search` finds them as the
    search box does (crm.selectors.search: words of the name and domain in full, as prefixes
    or with a typo, accents aside)."""
    qs = search_filter(authz.visible(Company.objects.all(), principal, "company"), search)
    return qs.annotate(contact_count=Count("contacts")).order_by("name")


def custom_field_list(*, entity: str | None = None) -> QuerySet[CustomField]:
    """Custom field definitions, of one entity or all, in display order."""
    qs = CustomField.objects.all()
    if entity:
        qs = qs.filter(entity=entity)
    return qs.order_by("entity", "position", "id")


# Definitions this process keeps: (schema, organization, settings version, entity) → rows.
# A change gives the organization a new version (crm.services), so nothing here needs to be
# forgotten; old versions are simply never asked for again, and the lot is dropped when full.
_definitions: dict[tuple[str, int, int, str], tuple[CustomField, ...]] = {}
_DEFINITIONS_KEPT = 4096


def custom_field_definitions(entity: str) -> Sequence[CustomField]:
    """The entity's definitions in display order, for showing records: kept in this process
    by the organization's settings version, which every process learns of the moment a
    definition changes (through the host cache's announcements). Treat them as read-only.

    In a transaction that changed settings they are read from the database and not kept
    (the transaction may yet roll back). Validating input reads them from the database."""
    tenant = getattr(connection, "tenant", None)
    version = getattr(tenant, "settings_version", None)
    if (
        tenant is None
        or version is None
        or getattr(connection, "schema_name", tenant.schema_name) != tenant.schema_name
        or settings_changed_in_this_transaction()
    ):
        return tuple(custom_field_list(entity=entity))
    key = (tenant.schema_name, tenant.pk, version, entity)
    kept = _definitions.get(key)
    if kept is None:
        kept = tuple(custom_field_list(entity=entity))
        if len(_definitions) >= _DEFINITIONS_KEPT:
            _definitions.clear()
        _definitions[key] = kept
    return kept


def forget_custom_field_definitions() -> None:
    """Drop every kept definition (tests, after rolling back what they made)."""
    _definitions.clear()


def custom_values_of(
    record: Contact | Company, definitions: Sequence[CustomField]
) -> dict[str, Any]:
    """Every defined custom value of a record by key (None where it has none), sensitive ones
    decrypted; `definitions` are the record's entity's (from `custom_field_list`)."""
    sealed = record.custom_sealed if any(d.sensitive for d in definitions) else {}
    return {d.key: (sealed if d.sensitive else record.custom).get(d.key) for d in definitions}


def custom_values_shown(
    record: Contact | Company, definitions: Sequence[CustomField]
) -> list[tuple[CustomField, Any]]:
    """(definition, value) pairs for a record's page, in display order; dates as dates."""
    values = custom_values_of(record, definitions)
    shown = []
    for definition in definitions:
        value = values[definition.key]
        if definition.type == CustomField.Type.DATE and isinstance(value, str):
            value = dt.date.fromisoformat(value)
        shown.append((definition, value))
    return shown


def contact_import_list() -> QuerySet[ContactImport]:
    """Imports of contacts, the latest first (dry runs are not kept)."""
    return ContactImport.objects.order_by("-created_at", "-id")


# Orderings of the contact and company lists in the API: name -> order_by (ties by newest).
CONTACT_ORDERINGS: dict[str, tuple[str, ...]] = {
    "-created_at": ("-created_at", "-id"),
    "created_at": ("created_at", "id"),
    "last_name": ("last_name", "first_name", "-id"),
    "-last_name": ("-last_name", "-first_name", "-id"),
    "first_name": ("first_name", "last_name", "-id"),
    "-first_name": ("-first_name", "-last_name", "-id"),
    "-updated_at": ("-updated_at", "-id"),
    "-score": ("-score", "-id"),
}
COMPANY_ORDERINGS: dict[str, tuple[str, ...]] = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "-created_at": ("-created_at", "-id"),
    "created_at": ("created_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
}
_TEXT_TYPES = {
    CustomField.Type.TEXT,
    CustomField.Type.LONG_TEXT,
    CustomField.Type.EMAIL,
    CustomField.Type.PHONE,
    CustomField.Type.URL,
    CustomField.Type.CHOICE,
}


def _custom_query_value(field: CustomField, raw: str) -> Any:
    """A query string's text as the stored value of `field` (see custom_value_clean)."""
    if field.type == CustomField.Type.BOOLEAN:
        if raw.lower() not in ("true", "false"):
            raise ValueError("Use true or false.")
        return raw.lower() == "true"
    if field.type == CustomField.Type.NUMBER:
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise ValueError("Use a number, such as 12 or 12.5.") from None
        if not number.is_finite():
            raise ValueError("Use a finite number.")
        return int(number) if number == number.to_integral_value() else float(number)
    if field.type == CustomField.Type.DATE:
        try:
            return dt.date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError("Use a date as YYYY-MM-DD.") from None
    return raw.strip()


def custom_value_filter(
    qs: QuerySet[_R], *, entity: str, filters: Mapping[str, str]
) -> QuerySet[_R]:
    """The records whose custom field values equal those given, by `custom.<key>`: text
    whatever its case, numbers as numbers, `true`/`false`, dates as YYYY-MM-DD; an empty
    value finds the records without one. Sensitive fields are stored encrypted, so they can't
    be filtered; an unknown key or a value of the wrong type is an InvalidFields error."""
    if not filters:
        return qs
    definitions = {field.key: field for field in custom_field_list(entity=entity)}
    errors: dict[str, list[str]] = {}
    for name, raw in filters.items():
        key = name.removeprefix("custom.")
        field = definitions.get(key)
        if field is None:
            errors[name] = [f"No custom field of {entity}s has the key {key!r}."]
            continue
        if field.sensitive:
            errors[name] = ["This field is stored encrypted, so it can't be filtered."]
            continue
        if raw == "":
            qs = qs.filter(~Q(custom__has_key=key) | Q(**{f"custom__{key}": None}))
            continue
        try:
            value = _custom_query_value(field, raw)
        except ValueError as exc:
            errors[name] = [str(exc)]
            continue
        lookup = f"custom__{key}__iexact" if field.type in _TEXT_TYPES else f"custom__{key}"
        qs = qs.filter(**{lookup: value})
    if errors:
        raise InvalidFields(errors)
    return qs
