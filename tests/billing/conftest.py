"""Billing fixtures: prices that exist at local Stripe, and organizations subscribed there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from billing.models import Price, Subscription
from billing.providers.stripe import subscription_state
from billing.services.subscriptions import subscription_apply_state
from iam.models import Membership
from tenants.models import Tenant

from . import stripe_support


@pytest.fixture
def stripe_prices(db: None) -> dict[tuple[str, str], Price]:
    """Every active USD price made at local Stripe, by (plan code, interval)."""
    return stripe_support.sync_prices()


@pytest.fixture
def paid_at_stripe(
    stripe_prices: dict[tuple[str, str], Price],
) -> Callable[..., Subscription]:
    """Subscribe an organization at local Stripe for its members, as a checkout and its
    webhook would leave it: `paid_at_stripe(tenant, "starter", "month")`."""

    def subscribe(tenant: Tenant, plan: str = "starter", interval: str = "month") -> Subscription:
        subscription = Subscription.objects.select_related("organization").get(organization=tenant)
        seats = Membership.objects.filter(tenant=tenant).count()
        remote = stripe_support.subscribe(
            subscription, stripe_prices[(plan, interval)], quantity=seats
        )
        state = subscription_state(remote)
        assert state is not None
        applied = subscription_apply_state(
            provider="stripe", state=state, occurred_at=subscription.created_at
        )
        assert applied is not None
        return applied

    return subscribe
