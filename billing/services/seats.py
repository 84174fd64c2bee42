"""Seats follow members: the subscription's quantity is kept equal to the organization's
memberships, in the background and coalesced.

A member joining or leaving queues, once the transaction commits, one sync a short while
later (`seats_sync_queue`); while that sync is pending, further changes ride along with it,
so a burst of a hundred invitations accepted makes a handful of provider calls, not a
hundred. The sync reads the count when it runs, so it always sends the latest figure, and
skips the provider when that figure is what was last sent.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from billing.models import Subscription
from billing.providers import provider_for
from tenants.models import Tenant

from .changes import has_provider_subscription, is_self_serve, seat_count_billable
from .subscriptions import subscription_apply_state

log = structlog.get_logger(__name__)


def _pending_key(organization_id: int) -> str:
    return f"billing:seats:pending:{organization_id}"


def _queue_once(organization_id: int) -> bool:
    """Queue a sync unless one is already waiting for this organization; whether it did."""
    from billing import tasks  # the tasks module imports this one

    key = _pending_key(organization_id)
    delay = settings.BILLING_SEATS_SYNC_DELAY_SECONDS
    # Cache keys carry the schema: the organization's host and the task (in `public`) must
    # see the same key, so it always lives under `public`.
    with schema_context(get_public_schema_name()):
        # The key outlives the countdown, so a worker that is slow to start doesn't let a
        # second sync be queued meanwhile; the sync deletes it as it begins.
        if not cache.add(key, 1, timeout=delay * 10 + 60):
            return False
        try:
            tasks.seats_sync.apply_async(args=[organization_id], countdown=delay, retry=False)
        except Exception:
            cache.delete(key)  # the next change queues it again
            raise
    return True


def seats_sync_queue(*, organization_id: int) -> None:
    """Bring the organization's billed seats to its member count, soon after this commits."""

    def queue() -> None:
        _queue_once(organization_id)

    transaction.on_commit(queue, robust=True)


def seats_sync(*, organization_id: int) -> Subscription | None:
    """Make the subscription's quantity the organization's member count now.

    A subscription at a provider has its seats changed there (prorated), unless the count is
    what was last sent; a trial or Free only records the count. Returns the subscription, or
    None when the organization has none (it was deleted since).
    """
    # Changes from now on are not covered by this run: let them queue the next one.
    with schema_context(get_public_schema_name()):
        cache.delete(_pending_key(organization_id))
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("organization", "plan", "price")
            .filter(organization_id=organization_id)
            .first()
        )
        if subscription is None:
            return None
        tenant: Tenant = subscription.organization
        seats = seat_count_billable(tenant=tenant)
        if not has_provider_subscription(subscription) or not is_self_serve(subscription):
            if subscription.quantity != seats and is_self_serve(subscription):
                subscription.quantity = seats
                subscription.save(update_fields=["quantity", "updated_at"])
            return subscription
        if subscription.synced_quantity == seats:
            log.info("billing.seats_unchanged", org=organization_id, seats=seats)
            return subscription
        # A retry of this very sync repeats its key; a later sync to the same count (after
        # the count went away and back) has a newer provider time, hence a new key.
        version = (
            subscription.provider_updated_at.isoformat() if subscription.provider_updated_at else ""
        )
        state = provider_for(subscription.provider).set_quantity(
            subscription=subscription,
            quantity=seats,
            idempotency_key=f"seats:{organization_id}:{seats}:{version}",
        )
        subscription_apply_state(
            provider=subscription.provider,
            state=state,
            occurred_at=timezone.now(),
        )
    log.info("billing.seats_synced", org=organization_id, seats=seats)
    subscription.refresh_from_db()
    return subscription


def seats_reconcile() -> int:
    """Queue a seat sync for each paid organization whose billed seats differ from its
    members: a sync lost on the way (the queue was away when a member joined) is caught up
    within the schedule's hour. Returns how many were queued."""
    drifted = (
        Subscription.objects.filter(
            status__in=(Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)
        )
        .exclude(provider_subscription_id="")
        .exclude(provider="manual")
        .annotate(members=Count("organization__memberships"))
        .filter(Q(synced_quantity__isnull=True) | ~Q(synced_quantity=F("members")))
        # An organization whose members all left still pays for one seat.
        .exclude(members=0, synced_quantity=1)
        .values_list("organization_id", flat=True)
    )
    queued = 0
    for organization_id in list(drifted):
        queued += _queue_once(organization_id)
    if queued:
        log.info("billing.seats_reconcile", queued=queued)
    return queued
