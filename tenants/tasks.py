"""Background work on shared tables of the tenants package; it runs in `public`."""

from dataclasses import asdict

from celery import shared_task

from . import pool
from .celery import PublicTask


@shared_task(base=PublicTask)
def spare_schemas_refill() -> dict[str, int]:
    """Drop stale spare schemas and top the warm pool up to TENANT_SPARE_SCHEMAS.

    Queued after every provisioning that used (or wanted) a spare; idempotent, so duplicates
    queued by a burst of sign-ups cost one short locked count each.
    """
    return asdict(pool.spare_schemas_refill())
