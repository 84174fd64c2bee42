"""Background work of PII protection. Every task names its tenant and enters it first."""

from typing import Any

from celery import shared_task
from django.core.cache import cache
from django_tenants.utils import tenant_context

from tenants.models import Tenant

from .services import values_reseal

PROGRESS_KEY = "pii:reencryption"


def reencryption_progress(tenant: Tenant) -> dict[str, Any] | None:
    """The last progress report of a tenant's background re-encryption, if any."""
    with tenant_context(tenant):
        progress: dict[str, Any] | None = cache.get(PROGRESS_KEY)
        return progress


@shared_task(acks_late=True)
def tenant_reencrypt(tenant_id: int) -> int:
    """Re-encrypt a tenant's values under its current data key, reporting progress in the
    tenant's cache; safe to run again (it only touches rows still to do)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    done = 0
    with tenant_context(tenant):
        cache.set(PROGRESS_KEY, {"state": "running", "rows": 0}, timeout=None)
        for _label, done in values_reseal(batch_size=500):
            cache.set(PROGRESS_KEY, {"state": "running", "rows": done}, timeout=None)
        cache.set(PROGRESS_KEY, {"state": "finished", "rows": done}, timeout=7 * 24 * 3600)
    return done
