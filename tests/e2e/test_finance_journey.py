"""Browser journey: finance staff sign in on the bare domain, open Finance from the operator
admin, see the charts drawn and this month's MRR including an organization that just
subscribed, filter the subscriptions down to it and download the CSV."""

import csv
import io
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from billing.models import Plan, Price, Subscription, SubscriptionChange
from tests.support.billing_browser import finance_sign_in, finance_staff
from tests.support.connections import run_on_own_connection

from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

SEATS = 3


def _subscribes(slug: str) -> int:
    """The organization moves from its trial to Growth, monthly in USD, for three seats, as
    the provider's webhook would leave it (committed, so the server sees it); returns its MRR."""
    found: dict[str, int] = {}

    def work() -> None:
        growth = Plan.objects.get(code="growth")
        price = Price.objects.get(plan=growth, currency="USD", interval="month")
        subscription = Subscription.objects.get(organization__slug=slug)
        subscription.plan, subscription.price = growth, price
        subscription.status, subscription.quantity = Subscription.Status.ACTIVE, SEATS
        subscription.currency, subscription.provider = "USD", "stripe"
        subscription.save()
        found["mrr"] = price.monthly_amount * SEATS
        SubscriptionChange.objects.create(
            organization_id=subscription.organization_id,
            kind=SubscriptionChange.Kind.SUBSCRIBED,
            effective_at=timezone.now(),
            plan=growth,
            status=subscription.status,
            quantity=SEATS,
            currency="USD",
            mrr=found["mrr"],
        )

    run_on_own_connection(work)
    return found["mrr"]


def _cents(written: str) -> int:
    return int(Decimal(written.replace(",", "")) * 100)


def test_finance_staff_see_the_figures_filter_subscriptions_and_download_csv(
    live_env: dict[str, str], live_url: str, browser: Any
) -> None:
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    email = f"finance-{slug}@mycrm.test"
    signup = browser.new_context()
    _sign_up(signup.new_page(), live_url, slug, "Finance Journey Org")
    signup.close()
    mrr = _subscribes(slug)
    finance_staff(live_env, email)

    context = browser.new_context(viewport=SIZES["laptop"], accept_downloads=True)
    page = context.new_page()
    finance_sign_in(page, live_url, email)

    # The operator admin's index leads here too.
    page.goto(f"{live_url}/admin/")
    page.click("#finance-module a")
    page.wait_for_url(f"{live_url}/billing/finance/")

    for chart in ("chart-mrr-usd", "chart-movements-usd", "chart-plans-usd", "chart-trials"):
        page.wait_for_selector(f"canvas[data-finance-chart={chart}][data-drawn=true]")
    month = timezone.now().strftime("%Y-%m")
    shown = page.locator(
        f"[data-testid=figures-USD] tr[data-month='{month}'] [data-figure=mrr]"
    ).inner_text()
    assert _cents(shown) >= mrr
    new = page.locator(
        f"[data-testid=figures-USD] tr[data-month='{month}'] [data-figure=new]"
    ).inner_text()
    assert _cents(new) >= mrr
    assert serious_violations(page) == []

    page.click("nav[aria-label=Finance] >> text=Subscriptions")
    page.wait_for_url(f"{live_url}/billing/finance/subscriptions/")
    page.select_option("select[name=plan]", label="Growth")
    page.select_option("select[name=status]", value="active")
    page.select_option("select[name=currency]", value="USD")
    page.click("[data-testid=filters] button[type=submit]")
    page.wait_for_url(re.compile(r".*/subscriptions/\?.*status=active.*"))
    row = page.locator(f"[data-testid=subscriptions] tr[data-organization='{slug}']")
    assert row.count() == 1
    assert "Growth" in row.inner_text()
    assert page.locator("[data-testid=subscriptions] tr:has-text('Trial')").count() == 0

    with page.expect_download() as download_info:
        page.click("[data-testid=export-csv]")
    download = download_info.value
    assert download.suggested_filename.startswith("subscriptions-")
    rows = list(csv.DictReader(io.StringIO(open(download.path()).read())))  # noqa: PTH123
    mine = [r for r in rows if r["organization"] == slug]
    assert len(mine) == 1
    assert mine[0]["plan"] == "growth"
    assert mine[0]["seats"] == str(SEATS)
    assert _cents(mine[0]["mrr"]) == mrr
    assert all(r["status"] == "active" and r["currency"] == "USD" for r in rows)
    context.close()
