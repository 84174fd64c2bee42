"""Background work of identity and access; it runs in `public`, where its tables are."""

from celery import shared_task

from tenants.celery import PublicTask

from .api import idempotency


@shared_task(base=PublicTask, ignore_result=True)
def idempotency_keys_expire() -> int:
    """Forget the POSTs kept under an Idempotency-Key for more than 24 hours."""
    return idempotency.expired_delete()
