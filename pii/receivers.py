"""pii's part of deleting a tenant: its keys go, and the Vault key that wrapped them, so no
backup of its rows or of its wrapped keys can be read again."""

from functools import partial
from typing import Any

import structlog
from django.db import transaction

from tenants.models import Tenant
from tenants.signals import tenant_deleting

from . import keys, vault
from .exceptions import KeyServiceUnavailable
from .models import TenantKey

log = structlog.get_logger(__name__)


def _shred_keys(sender: type[Tenant], *, tenant: Tenant, **_: Any) -> None:
    TenantKey.objects.filter(tenant=tenant).delete()
    transaction.on_commit(keys.forget_all)
    # Only once the deletion has committed: a rolled-back one must find its key still there.
    transaction.on_commit(partial(_transit_key_delete, keys.transit_key_of(tenant.pk), tenant.slug))


def _transit_key_delete(name: str, slug: str) -> None:
    try:
        vault.transit_key_delete(name)
    except KeyServiceUnavailable as exc:
        # `pii_shred_orphaned_keys` deletes it later; until then a backup stays readable.
        log.error("pii.transit_key_delete_failed", key=name, tenant=slug, error=str(exc))
        return
    log.info("pii.transit_key_deleted", key=name, tenant=slug)


tenant_deleting.connect(_shred_keys, dispatch_uid="pii.shred_keys")
