"""How the plan's limits on CRM records are counted (billing asks; crm knows its tables).

- contacts: the contacts people see as existing, i.e. not in the trash. A trashed contact
  frees its place (emptying the trash is not needed to add more), and restoring it asks
  the plan again (`crm.services.trash.record_restore`).
- custom_fields: the definitions of both contacts and companies together.
- imports_per_day: the imports (of contacts, leads or deals) kept in the last 24 hours. A
  dry run or an import refused for bad rows keeps nothing, so it is not counted.

Each count stops just past the plan's limit (`cap`): knowing that an organization of
100,000 contacts is over a limit of 1,000 needs 1,001 rows read, not 100,000.
"""

import datetime as dt
from contextlib import nullcontext
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.entitlements import register_counter
from tenants.models import Tenant

from .models import Contact, ContactImport, CustomField

IMPORTS_WINDOW = dt.timedelta(hours=24)


def _capped(queryset: "QuerySet[Any]", cap: int | None) -> int:
    """`SELECT count(*) FROM (SELECT … LIMIT cap + 1)`: exact up to `cap`, `cap + 1` past it."""
    ids = queryset.order_by().values("pk")
    return (ids[: cap + 1] if cap is not None else ids).count()


def _in(tenant: Tenant) -> Any:
    """Inside `tenant`'s schema (a no-op when the connection is there already, as it is on
    every create that asks)."""
    if getattr(connection, "schema_name", None) == tenant.schema_name:
        return nullcontext()
    return tenant_context(tenant)


@register_counter("contacts")
def contacts_count(tenant: Tenant, cap: int | None) -> int:
    with _in(tenant):
        return _capped(Contact.objects.all(), cap)


@register_counter("custom_fields")
def custom_fields_count(tenant: Tenant, cap: int | None) -> int:
    with _in(tenant):
        return _capped(CustomField.objects.all(), cap)


@register_counter("imports_per_day")
def imports_today_count(tenant: Tenant, cap: int | None) -> int:
    since = timezone.now() - IMPORTS_WINDOW
    with _in(tenant):
        return _capped(ContactImport.objects.filter(created_at__gte=since), cap)
