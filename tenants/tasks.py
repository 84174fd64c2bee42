"""Background work on shared tables of the tenants package; it runs in `public`."""

from dataclasses import asdict

from celery import shared_task

from . import pool
from .celery import PublicTask


@shared_task(base=PublicTask, ignore_result=True)  # the report goes to the log
def spare_schemas_refill() -> dict[str, int]:
    """Drop stale spare schemas and top the warm pool up to TENANT_SPARE_SCHEMAS.

    Queued after every provisioning that used (or wanted) a spare; idempotent, so duplicates
    queued by a burst of sign-ups cost one short locked count each.
    """
    return asdict(pool.spare_schemas_refill())


def spare_schemas_refill_queue() -> None:
    """Queue a refill without publish retries: it is best effort (the next sign-up queues
    another), and a sign-up must not wait on an unreachable broker."""
    spare_schemas_refill.apply_async(retry=False)
