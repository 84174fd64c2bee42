"""Billing's background work; it runs in `public`, where subscriptions are."""

from celery import shared_task

from tenants.celery import PublicTask

from .exceptions import ProviderError
from .services import reconcile, seats, subscriptions, webhooks


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


@shared_task(base=PublicTask, ignore_result=True)
def seats_reconcile() -> int:
    """Queue a seat sync for each paid organization whose seats drifted from its members."""
    return seats.seats_reconcile()


@shared_task(base=PublicTask, ignore_result=True)
def webhook_apply(event_pk: int) -> str | None:
    """Apply one stored provider event (queued when its delivery was stored)."""
    event = webhooks.webhook_apply(event_pk=event_pk)
    return None if event is None else event.state


@shared_task(base=PublicTask, ignore_result=True)
def webhooks_retry() -> int:
    """Apply the provider events whose task was lost, and retry those that failed."""
    return webhooks.webhooks_retry()


# Periodic work (CELERY_BEAT_SCHEDULE). Each is idempotent, so a late or doubled beat is safe.


@shared_task(base=PublicTask, ignore_result=True)
def trials_remind() -> int:
    """Remind the owners of trials ending within three days (once per trial)."""
    return subscriptions.trials_remind()


@shared_task(base=PublicTask, ignore_result=True)
def trials_expire() -> int:
    """Move trials that ended unpaid to Free."""
    return subscriptions.trials_expire()


@shared_task(base=PublicTask, ignore_result=True)
def dunning_advance() -> int:
    """Take past-due organizations to read-only, then suspended, as their days run out."""
    return subscriptions.dunning_advance()


@shared_task(base=PublicTask, ignore_result=True)
def billing_reconcile() -> dict[str, int]:
    """Repair what lost webhooks left wrong, from what each provider says now."""
    report = reconcile.subscriptions_reconcile()
    return {
        "checked": report.checked,
        "repaired": len(report.repairs),
        "failed": len(report.failures),
    }
