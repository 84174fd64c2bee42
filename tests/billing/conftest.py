"""Billing fixtures: prices that exist at local Stripe, and organizations subscribed there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from billing.models import Invoice, Price, Subscription, WebhookEvent
from billing.providers.stripe import subscription_state
from billing.services.subscriptions import subscription_apply_state
from iam.models import Membership
from tenants.models import Tenant

from . import stripe_support

# The suite's two organizations (tests/conftest.py); the others a test sees were committed by
# browser journeys run earlier on the same database.
SUITE_ORGANIZATIONS = ("alpha", "beta")


@pytest.fixture(autouse=True)
def _only_this_tests_billing_rows(request: pytest.FixtureRequest) -> None:
    """Browser journeys commit their organizations' provider events, subscriptions at a
    provider and invoices to the test database; a billing test counts and reconciles only
    what it made. Removed inside the test's own transaction, so rolled back after it."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction"):
        return  # no database, or a committing test: nothing of others' is removed for good
    request.getfixturevalue("db")
    WebhookEvent.objects.all().delete()
    others = Subscription.objects.exclude(organization__slug__in=SUITE_ORGANIZATIONS)
    Invoice.objects.exclude(organization__slug__in=SUITE_ORGANIZATIONS).delete()
    others.exclude(provider_subscription_id="").update(provider_subscription_id="")


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
