"""Billing's background work; it runs in `public`, where subscriptions are."""

from celery import shared_task

from tenants.celery import PublicTask

from .exceptions import ProviderError
from .services import seats


@shared_task(
    base=PublicTask,
    ignore_result=True,
    autoretry_for=(ProviderError,),
    retry_backoff=True,
    max_retries=5,
)
def seats_sync(organization_id: int) -> int | None:
    """Bring an organization's billed seats to its member count (queued by member changes)."""
    subscription = seats.seats_sync(organization_id=organization_id)
    return None if subscription is None else subscription.quantity
