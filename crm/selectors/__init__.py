"""Reads of CRM records, from the current tenant's schema."""

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet

from crm.models import Company, Contact, ContactImport, CustomField
from crm.selectors.search import search_filter
from pii.fields import blind_index_for
from tenants.services import settings_changed_in_this_transaction


def contact_list(*, search: str = "", email: str = "", phone: str = "") -> QuerySet[Contact]:
    """Contacts, newest first; `search` finds them as the search box does
    (crm.selectors.search: words of the name in full, as prefixes or with a typo, accents
    aside; words of the e-mail address; a whole phone number). The `email` and `phone`
    filters match exactly, through blind indexes (case, spaces and punctuation don't matter).
    Callers that show the company add `select_related("company")`; the API, which gives
    its id only, reads the one table."""
    qs = search_filter(Contact.objects.all(), search)
    if email:
        qs = qs.filter(email_index=blind_index_for(Contact, "email", email))
    if phone:
        qs = qs.filter(phone_index=blind_index_for(Contact, "phone", phone))
    return qs.order_by("-created_at", "-id")


def company_list(*, search: str = "") -> QuerySet[Company]:
    """Companies by name; `search` finds them as the search box does (crm.selectors.search:
    words of the name and domain in full, as prefixes or with a typo, accents aside)."""
    qs = search_filter(Company.objects.all(), search)
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
