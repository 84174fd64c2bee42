"""Background work on shared tables of the tenants package; it runs in `public`."""

from dataclasses import asdict

import structlog
from celery import current_app, shared_task
from django_tenants.utils import get_public_schema_name, tenant_context

from . import pool
from .celery import PublicTask
from .models import Tenant

log = structlog.get_logger(__name__)


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


@shared_task(base=PublicTask, ignore_result=True)
def organizations_fan_out(task_name: str) -> int:
    """Queue the tenant task `task_name` once in every active organization's schema.

    The periodic entries of `CELERY_BEAT_SCHEDULE` go through this: a beat message carries
    no organization, so the per-organization work is queued from here, each message with
    its own schema. Suspended organizations are skipped. Returns how many were queued.
    """
    task = current_app.tasks[task_name]
    organizations = Tenant.objects.exclude(schema_name=get_public_schema_name()).filter(
        status=Tenant.Status.ACTIVE
    )
    queued = 0
    for organization in organizations.order_by("pk").iterator():
        with tenant_context(organization):
            task.apply_async()
        queued += 1
    log.info("organizations_fan_out", task=task_name, organizations=queued)
    return queued
