"""pii's part of deleting a tenant: its keys go first, so no backup can be read again."""

from typing import Any

from django.db import transaction

from tenants.models import Tenant
from tenants.signals import tenant_deleting

from . import keys
from .models import TenantKey


def _shred_keys(sender: type[Tenant], *, tenant: Tenant, **_: Any) -> None:
    TenantKey.objects.filter(tenant=tenant).delete()
    transaction.on_commit(keys.forget_all)


tenant_deleting.connect(_shred_keys, dispatch_uid="pii.shred_keys")
