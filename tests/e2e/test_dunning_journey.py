"""Browser journey: a payment fails and every page shows the banner; a week later a save is
refused with the banner's message; the payment goes through and the organization works again
at once. The provider's side is driven through the services its webhooks call, committed on
a connection of their own, so the server (another process, its caches warm) must follow."""

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from django.utils import timezone

from billing.models import Subscription
from billing.providers.base import InvoiceState
from billing.services import subscriptions
from tests.support.billing_browser import days_pass, save_company
from tests.support.connections import run_on_own_connection

from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _invoice(slug: str, *, paid: bool) -> InvoiceState:
    return InvoiceState(
        invoice_id=f"in_{slug}",
        subscription_id=f"sub_{slug}",
        customer_id=f"cus_{slug}",
        status="paid" if paid else "open",
        currency="usd",
        subtotal=2900,
        tax=0,
        total=2900,
        amount_paid=2900 if paid else 0,
        payment_failed=not paid,
    )


def _payment_fails(slug: str, at: dt.datetime) -> None:
    def work() -> None:
        Subscription.objects.filter(organization__slug=slug).update(
            provider="stripe", provider_subscription_id=f"sub_{slug}", status="active"
        )
        subscriptions.invoice_apply_state(
            provider="stripe", state=_invoice(slug, paid=False), occurred_at=at
        )

    run_on_own_connection(work)


def _payment_succeeds(slug: str, at: dt.datetime) -> None:
    def work() -> None:
        subscriptions.invoice_apply_state(
            provider="stripe", state=_invoice(slug, paid=True), occurred_at=at
        )

    run_on_own_connection(work)


def test_banner_then_read_only_then_paid_and_restored(live_url: str, browser: Any) -> None:
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context()
    page = context.new_page()
    _sign_up(page, live_url, slug, "Dunning Journey Org")
    save_company(page, host, "Initech")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/companies/\d+/"))
    assert page.locator("[data-testid=billing-banner]").count() == 0

    failed_at = timezone.now()
    _payment_fails(slug, failed_at)

    for path in ("/", "/companies/", "/contacts/"):
        page.goto(f"{host}{path}")
        banner = page.locator("[data-testid=billing-banner]")
        assert "The latest payment for Dunning Journey Org failed" in banner.inner_text()
    banner.get_by_role("link", name="Billing settings").click()
    page.wait_for_url(f"{host}/settings/billing/")

    days_pass(failed_at + 7 * DAY, slug)
    save_company(page, host, "Initrode")
    refusal = page.locator("[data-testid=read-only-refusal]")
    refusal.wait_for()
    assert "Dunning Journey Org is read-only because a payment is overdue" in (refusal.inner_text())
    assert "Nothing was changed" in refusal.inner_text()
    page.goto(f"{host}/companies/")
    assert "Initech" in page.inner_text("main")
    assert "Initrode" not in page.inner_text("main")

    _payment_succeeds(slug, failed_at + 8 * DAY)
    page.goto(f"{host}/companies/")
    assert page.locator("[data-testid=billing-banner]").count() == 0
    save_company(page, host, "Initrode")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/companies/\d+/"))
    assert "Initrode" in page.inner_text("h1")
    context.close()
