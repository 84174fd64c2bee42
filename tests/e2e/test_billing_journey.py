"""An owner signs up, sees the trial on Billing, upgrades to Starter through (local) Stripe
Checkout with a test card, and comes back to Starter active; a colleague joins and the seats
billed, and the price, follow once the background sync and Stripe's webhooks have run."""

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from billing.models import Price, Subscription, SubscriptionChange
from tenants.models import Tenant
from tests.billing import stripe_support

from .conftest import ROOT, mails_to, run_manage
from .test_accessibility import serious_violations

# The server and the worker commit to the throw-away test database; this test only reads.
pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"


@pytest.fixture
def worker(live_env: dict[str, str], live_url: str) -> Iterator[None]:
    """A Celery worker on the test database: it applies the stored webhooks and syncs seats."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=live_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _until(check: Callable[[], bool], what: str, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _text(page: Any, testid: str) -> str:
    found = page.query_selector(f"[data-testid={testid}]")
    return str(found.inner_text()).strip() if found else ""


def test_trial_then_upgrade_through_stripe_checkout_then_seats_follow_a_new_colleague(
    live_url: str, live_env: dict[str, str], live_mailbox: Path, browser: Any, worker: None
) -> None:
    run_manage(
        live_env,
        "billing_sync_catalog",
        "--provider",
        "stripe",
        "--local-webhook",
        f"{live_url}/billing/webhooks/stripe/",
    )
    slug = f"bill-{uuid.uuid4().hex[:6]}"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    owner = browser.new_context().new_page()

    # Sign up: a Growth trial, shown on Billing.
    owner.goto(f"{live_url}/signup/")
    owner.fill("input[name=organization_name]", "Billing Journey")
    owner.fill("input[name=slug]", slug)
    owner.wait_for_selector("#slug-status :text('is available')")
    owner.fill("input[name=full_name]", "Jo Owner")
    owner.fill("input[name=email]", f"owner@{slug}.test")
    owner.fill("input[name=password]", PASSWORD)
    owner.click("form:has(input[name=slug]) button[type=submit]")
    owner.wait_for_url(f"{host}/")
    owner.click("nav >> text=Billing")
    owner.wait_for_url(f"{host}/settings/billing/")
    assert _text(owner, "plan-name") == "Growth"
    assert re.fullmatch(r"Trial, 1[34] days left", _text(owner, "plan-status"))
    assert serious_violations(owner) == []  # axe-core

    # Upgrade to Starter at local Stripe's hosted Checkout, paying with the test card.
    owner.select_option("select[name=plan]", "starter")
    owner.select_option("select[name=interval]", "month")
    owner.select_option("select[name=currency]", "USD")
    owner.click("text=Continue to payment")
    owner.wait_for_url(re.compile(re.escape(settings.STRIPE_API_BASE) + r"/checkout/pay/cs_"))
    assert "for 1 seat(s)" in owner.content()
    owner.fill("#card", stripe_support.GOOD_CARD)
    owner.click("text=Subscribe")
    owner.wait_for_url(f"{host}/settings/billing/?checkout=done")

    def starter_active() -> bool:
        owner.goto(f"{host}/settings/billing/")
        return _text(owner, "plan-name") == "Starter" and _text(owner, "plan-status") == "Active"

    _until(starter_active, "the checkout's webhook to make Starter active")
    starter = Price.objects.get(plan__code="starter", interval="month", currency="USD")
    assert _text(owner, "seats-billed") == "1"
    assert serious_violations(owner) == []  # the page of a paid plan, its actions and forms

    # A colleague is invited and joins: two members.
    owner.goto(f"{host}/settings/members/")
    owner.fill("input[name=email]", f"colleague@{slug}.test")
    owner.click("form:has(input[name=email]) button[type=submit]")
    owner.wait_for_selector(f"text=Invitation sent to colleague@{slug}.test")
    (invitation,) = mails_to(live_mailbox, f"colleague@{slug}.test")
    link = re.search(rf"{re.escape(live_url)}/invitations/\S+/", invitation)
    assert link, invitation
    colleague = browser.new_context().new_page()
    colleague.goto(link.group(0))
    colleague.fill("input[name=full_name]", "Cole League")
    colleague.fill("input[name=password]", "a-Long-passphrase-43")
    colleague.click("main form button[type=submit]")
    colleague.wait_for_url(f"{host}/")
    assert not colleague.query_selector("nav >> text=Billing")  # owners only

    # The background sync sets two seats at Stripe; the page and the price follow.
    def two_seats() -> bool:
        owner.goto(f"{host}/settings/billing/")
        return _text(owner, "seats-billed") == "2"

    _until(two_seats, "the seat sync to bill two seats")
    total = starter.unit_amount * 2
    assert _text(owner, "period-total").startswith(f"{total / 100:,.2f} USD")
    subscription = Subscription.objects.get(organization=Tenant.objects.get(slug=slug))
    remote = stripe_support.client().v1.subscriptions.retrieve(
        subscription.provider_subscription_id
    )
    assert remote.to_dict()["items"]["data"][0]["quantity"] == 2
    latest = SubscriptionChange.objects.filter(organization=subscription.organization).latest(
        "effective_at", "id"
    )
    assert (latest.plan.code, latest.quantity, latest.mrr) == ("starter", 2, total)
