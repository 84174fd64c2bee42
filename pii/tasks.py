"""Background work of PII protection. Tasks are queued inside their tenant and run there
(`tenants.celery.TenantRequiredTask`)."""

from typing import Any

import structlog
from celery import shared_task
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import tenant_context

from tenants.models import Tenant

from .services import values_reseal

log = structlog.get_logger(__name__)

PROGRESS_KEY = "pii:reencryption"


def reencryption_progress(tenant: Tenant) -> dict[str, Any] | None:
    """The last progress report of a tenant's background re-encryption, if any."""
    with tenant_context(tenant):
        progress: dict[str, Any] | None = cache.get(PROGRESS_KEY)
        return progress


def reencryption_queue(tenant: Tenant) -> None:
    """Queue the background re-encryption of `tenant` (call it once the new key is committed)."""
    with tenant_context(tenant):
        tenant_reencrypt.delay()


@shared_task(acks_late=True)
def tenant_reencrypt() -> int:
    """Re-encrypt the current tenant's values under its current data key, reporting progress
    in the tenant's cache; safe to run again (it only touches rows still to do)."""
    log_tenant = connection.tenant.schema_name  # type: ignore[attr-defined]
    done = 0
    cache.set(PROGRESS_KEY, {"state": "running", "rows": 0}, timeout=None)
    for _label, done in values_reseal(batch_size=500):
        cache.set(PROGRESS_KEY, {"state": "running", "rows": done}, timeout=None)
    cache.set(PROGRESS_KEY, {"state": "finished", "rows": done}, timeout=7 * 24 * 3600)
    log.info("pii.reencrypted", tenant=log_tenant, rows=done)
    return done
