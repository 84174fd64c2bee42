"""Seats follow members: a burst of member changes queues one background sync, the sync makes
one change at (local) Stripe with the final count, repeats nothing, and never touches another
organization's subscription. Stripe's calls are counted at its end, as the events it records
for each subscription update."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.conf import settings

from billing import tasks
from billing.models import Price, Subscription
from billing.providers.stripe import subscription_state
from billing.services.seats import seats_reconcile
from billing.services.subscriptions import subscription_apply_state
from iam.models import Membership, Role
from tenants.models import Tenant
from tests.factories import UserFactory

from . import stripe_support as s

pytestmark = pytest.mark.django_db

SYNC_TASK = "billing.tasks.seats_sync"


@pytest.fixture
def prices() -> dict[tuple[str, str], Price]:
    return s.sync_prices()


def _paid(tenant: Tenant, price: Price) -> Subscription:
    """The organization subscribed at local Stripe for its current members, as after a
    checkout and its webhook."""
    subscription = Subscription.objects.select_related("organization").get(organization=tenant)
    seats = Membership.objects.filter(tenant=tenant).count()
    remote = s.subscribe(subscription, price, quantity=seats)
    state = subscription_state(remote)
    assert state is not None
    applied = subscription_apply_state(
        provider="stripe", state=state, occurred_at=subscription.created_at
    )
    assert applied is not None and applied.synced_quantity == seats
    return applied


def _updates_of(subscription: Subscription, since: int) -> list[dict[str, Any]]:
    """Every change Stripe made to the subscription since `since` (one event an update)."""
    return [
        e
        for e in s.events_since(since, id=subscription.provider_subscription_id)
        if e["type"] == "customer.subscription.updated"
    ]


def _queued_syncs(organization_id: int) -> int:
    """Seat syncs waiting in the broker for this organization."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    found = 0
    for raw in broker.lrange("celery", 0, -1):
        message = json.loads(raw)
        headers = message.get("headers") or {}
        if headers.get("task") == SYNC_TASK and f"[{organization_id}]" in str(
            headers.get("argsrepr")
        ):
            found += 1
    return found


def _join(tenant: Tenant, how_many: int, capture: Callable[..., Any]) -> None:
    """`how_many` people join, each in a transaction of their own (their commit hooks run)."""
    for _ in range(how_many):
        with capture(execute=True):
            Membership.objects.create(user=UserFactory(), tenant=tenant, role=Role.MEMBER)


def test_a_burst_of_a_hundred_joins_makes_one_seat_change_at_stripe_with_the_final_count(
    tenant_a: Tenant,
    prices: dict[tuple[str, str], Price],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    subscription = _paid(tenant_a, prices[("starter", "month")])
    before = _queued_syncs(tenant_a.pk)
    since = int(time.time()) - 1

    _join(tenant_a, 100, django_capture_on_commit_callbacks)
    assert _queued_syncs(tenant_a.pk) - before == 1
    tasks.seats_sync.apply(args=[tenant_a.pk])  # what the worker runs after the countdown

    [update] = _updates_of(subscription, since)
    assert update["data"]["object"]["items"]["data"][0]["quantity"] == 102
    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.synced_quantity) == (102, 102)


def test_a_sync_with_nothing_new_to_send_calls_stripe_not_at_all(
    tenant_a: Tenant, prices: dict[tuple[str, str], Price]
) -> None:
    subscription = _paid(tenant_a, prices[("starter", "month")])
    since = int(time.time()) - 1

    tasks.seats_sync.apply(args=[tenant_a.pk])

    assert _updates_of(subscription, since) == []


def test_changes_after_a_sync_began_queue_the_next_one_and_a_member_leaving_lowers_the_seats(
    tenant_a: Tenant,
    member_a: Any,
    prices: dict[tuple[str, str], Price],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    subscription = _paid(tenant_a, prices[("growth", "month")])
    before = _queued_syncs(tenant_a.pk)
    since = int(time.time()) - 1
    _join(tenant_a, 2, django_capture_on_commit_callbacks)
    tasks.seats_sync.apply(args=[tenant_a.pk])

    with django_capture_on_commit_callbacks(execute=True):
        Membership.objects.filter(tenant=tenant_a, user=member_a).delete()
    assert _queued_syncs(tenant_a.pk) - before == 2
    tasks.seats_sync.apply(args=[tenant_a.pk])

    updates = _updates_of(subscription, since)
    assert sorted(u["data"]["object"]["items"]["data"][0]["quantity"] for u in updates) == [3, 4]
    subscription.refresh_from_db()
    assert subscription.quantity == 3


def test_a_trial_only_records_the_count(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    _join(tenant_a, 3, django_capture_on_commit_callbacks)

    tasks.seats_sync.apply(args=[tenant_a.pk])

    subscription = Subscription.objects.get(organization=tenant_a)
    assert (subscription.status, subscription.quantity) == ("trialing", 5)
    assert subscription.provider_subscription_id == ""
    assert subscription.synced_quantity is None


def test_member_changes_of_a_never_touch_the_subscription_of_b(
    tenant_a: Tenant,
    tenant_b: Tenant,
    prices: dict[tuple[str, str], Price],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    price = prices[("starter", "month")]
    sub_a, sub_b = _paid(tenant_a, price), _paid(tenant_b, price)
    queued_b = _queued_syncs(tenant_b.pk)
    since = int(time.time()) - 1

    _join(tenant_a, 4, django_capture_on_commit_callbacks)
    tasks.seats_sync.apply(args=[tenant_a.pk])

    assert _queued_syncs(tenant_b.pk) == queued_b
    assert _updates_of(sub_b, since) == []
    assert len(_updates_of(sub_a, since)) == 1
    sub_b.refresh_from_db()
    assert (sub_b.quantity, sub_b.synced_quantity) == (2, 2)


def test_people_who_joined_during_checkout_are_billed_once_the_subscription_starts(
    tenant_a: Tenant,
    prices: dict[tuple[str, str], Price],
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    subscription = Subscription.objects.select_related("organization").get(organization=tenant_a)
    remote = s.subscribe(subscription, prices[("starter", "month")], quantity=1)  # paid for 1
    state = subscription_state(remote)
    assert state is not None

    with django_capture_on_commit_callbacks(execute=True):  # the checkout's webhook
        subscription_apply_state(
            provider="stripe", state=state, occurred_at=subscription.created_at
        )
    tasks.seats_sync.apply(args=[tenant_a.pk])

    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.synced_quantity) == (2, 2)
    fresh = s.client().v1.subscriptions.retrieve(subscription.provider_subscription_id)
    assert fresh.to_dict()["items"]["data"][0]["quantity"] == 2


def test_the_hourly_check_queues_a_sync_for_a_paid_organization_whose_seats_drifted_only(
    tenant_a: Tenant, tenant_b: Tenant, prices: dict[tuple[str, str], Price]
) -> None:
    price = prices[("starter", "month")]
    _paid(tenant_a, price)
    _paid(tenant_b, price)
    queued_a, queued_b = _queued_syncs(tenant_a.pk), _queued_syncs(tenant_b.pk)
    # A member joined while the queue was away: nothing was queued for it.
    Membership.objects.create(user=UserFactory(), tenant=tenant_a, role=Role.MEMBER)

    scheduled = settings.CELERY_BEAT_SCHEDULE["billing-seats-reconcile"]["task"]
    assert scheduled == tasks.seats_reconcile.name
    assert tasks.seats_reconcile.apply().get() == 1  # what the beat runs, hourly
    assert seats_reconcile() == 0  # the one queued is still pending: not queued twice

    assert (_queued_syncs(tenant_a.pk) - queued_a, _queued_syncs(tenant_b.pk)) == (1, queued_b)
