"""An owner signs up, sees the trial on Billing, upgrades to Starter through (local) Stripe
Checkout with a test card, and comes back to Starter active; a colleague joins and the seats
billed, and the price, follow once the background sync and Stripe's webhooks have run."""

import functools
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billing.models import Price, Subscription, SubscriptionChange
from tenants.models import Tenant
from tests.billing import stripe_support
from tests.support.billing_browser import (
    colleague_joins,
    stripe_catalog_synced,
    text_of,
    until,
    upgrade_through_checkout,
)
from tests.support.manage import celery_worker

from .conftest import mails_to
from .test_accessibility import serious_violations
from .test_journeys import _sign_up

# The server and the worker commit to the throw-away test database; this test only reads.
pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(live_env: dict[str, str], live_url: str) -> Iterator[None]:
    """A Celery worker on the test database: it applies the stored webhooks and syncs seats."""
    with celery_worker(live_env):
        yield


def test_trial_then_upgrade_through_stripe_checkout_then_seats_follow_a_new_colleague(
    live_url: str, live_env: dict[str, str], live_mailbox: Path, browser: Any, worker: None
) -> None:
    stripe_catalog_synced(live_env, live_url)
    slug = f"bill-{uuid.uuid4().hex[:6]}"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    owner = browser.new_context().new_page()

    # Sign up: a Growth trial, shown on Billing.
    _sign_up(owner, live_url, slug, "Billing Journey")
    owner.click("nav >> text=Billing")
    owner.wait_for_url(f"{host}/settings/billing/")
    assert text_of(owner, "plan-name") == "Growth"
    assert re.fullmatch(r"Trial, 1[34] days left", text_of(owner, "plan-status"))
    assert serious_violations(owner) == []  # axe-core

    # Upgrade to Starter at local Stripe's hosted Checkout, paying with the test card.
    upgrade_through_checkout(owner, host, plan="starter")
    starter = Price.objects.get(plan__code="starter", interval="month", currency="USD")
    assert text_of(owner, "seats-billed") == "1"
    assert serious_violations(owner) == []  # the page of a paid plan, its actions and forms

    # A colleague is invited and joins: two members.
    colleague = colleague_joins(
        browser,
        owner,
        host=host,
        live_url=live_url,
        mails=functools.partial(mails_to, live_mailbox),
    )
    assert not colleague.query_selector("nav >> text=Billing")  # owners only

    # The background sync sets two seats at Stripe; the page and the price follow.
    def two_seats() -> bool:
        owner.goto(f"{host}/settings/billing/")
        return text_of(owner, "seats-billed") == "2"

    until(two_seats, "the seat sync to bill two seats")
    total = starter.unit_amount * 2
    assert text_of(owner, "period-total").startswith(f"{total / 100:,.2f} USD")
    subscription = Subscription.objects.get(organization=Tenant.objects.get(slug=slug))
    remote = stripe_support.client().v1.subscriptions.retrieve(
        subscription.provider_subscription_id
    )
    assert remote.to_dict()["items"]["data"][0]["quantity"] == 2
    latest = SubscriptionChange.objects.filter(organization=subscription.organization).latest(
        "effective_at", "id"
    )
    assert (latest.plan.code, latest.quantity, latest.mrr) == ("starter", 2, total)
