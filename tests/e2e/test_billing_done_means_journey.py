"""Billing's "done means" as one story in a real browser, at laptop size, against the local
Stripe: a visitor signs up into a trial, upgrades to Starter with the test card at Checkout,
and a colleague joins (two seats, twice the price); another organization, its trial over and
on Free, hits the contact limit and is shown the way up; a renewal is declined, the banner
shows, the dunning days pass (read-only, then suspended, its Billing page still open); the
owner pays the open invoice in Stripe's customer portal and the organization is restored at
once; finance staff see its MRR and the recovered payment on the Finance page.

The provider's side is the local Stripe's, its webhooks applied by a real Celery worker; only
the dunning clock (the hourly task) and the trial's end are travelled, from this process."""

import datetime as dt
import functools
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.models import Price, Subscription
from billing.services import subscriptions
from crm.models import Contact
from tenants.models import Tenant
from tests.support.billing_browser import (
    colleague_joins,
    days_pass,
    finance_sign_in,
    finance_staff,
    save_company,
    stripe_catalog_synced,
    text_of,
    until,
    upgrade_through_checkout,
)
from tests.support.connections import run_on_own_connection
from tests.support.manage import celery_worker

from .conftest import mails_to
from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up

# The server and the worker commit to the throw-away test database; this test reads it, and
# commits on connections of its own what the scheduled tasks would.
pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
FREE_CONTACTS = 1000  # the Free plan's own limit, as seeded


@pytest.fixture
def worker(live_env: dict[str, str], live_url: str) -> Iterator[None]:
    with celery_worker(live_env):
        yield


def _subscription(slug: str) -> Subscription:
    return Subscription.objects.select_related("plan").get(organization__slug=slug)


def _on_free_with_full_contacts(slug: str) -> None:
    """The organization's trial runs out unpaid (the daily task, at its end) and it falls to
    Free; it already has as many contacts as Free allows."""
    ends = _subscription(slug).trial_ends_at
    assert ends is not None

    def work() -> None:
        with tenant_context(Tenant.objects.get(slug=slug)):
            Contact.objects.bulk_create(
                Contact(first_name=f"Person {i}") for i in range(FREE_CONTACTS)
            )
        subscriptions.trials_expire(now=ends, organization=Tenant.objects.get(slug=slug))

    run_on_own_connection(work)


def _renewal_declined(subscription_id: str) -> None:
    """The subscription's next period starts now at the local Stripe and its card is declined."""
    http = requests.Session()
    http.trust_env = False
    response = http.post(
        f"{settings.STRIPE_API_BASE}/_config/subscriptions/{subscription_id}/renew",
        data={"outcome": "fail"},
        headers={"Authorization": f"Bearer {settings.STRIPE_API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "past_due"


def _payments(page: Any, month: str) -> tuple[int, int]:
    """The Finance page's count of failed payments in `month`, and of those recovered."""
    row = page.locator(f"[data-testid=overall] tr[data-month='{month}']")
    return (
        int(row.locator("[data-figure=payments_failed]").inner_text()),
        int(row.locator("[data-figure=payments_recovered]").inner_text()),
    )


def _cents(written: str) -> int:
    return round(float(written.replace(",", "")) * 100)


def test_trial_upgrade_seats_limit_dunning_portal_payment_and_finance(
    live_url: str, live_env: dict[str, str], live_mailbox: Path, browser: Any, worker: None
) -> None:
    stripe_catalog_synced(live_env, live_url)
    slug = f"done-{uuid.uuid4().hex[:6]}"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    owner = context.new_page()

    # 1. A visitor signs up into a trial of Growth, shown on Billing with the days left.
    _sign_up(owner, live_url, slug, "Done Means Org")
    owner.click("nav >> text=Billing")
    owner.wait_for_url(f"{host}/settings/billing/")
    assert text_of(owner, "plan-name") == "Growth"
    assert re.fullmatch(r"Trial, 1[34] days left", text_of(owner, "plan-status"))

    # 2. They upgrade to Starter at the local Stripe Checkout with the test card.
    upgrade_through_checkout(owner, host, plan="starter")
    starter = Price.objects.get(plan__code="starter", interval="month", currency="USD")
    assert text_of(owner, "seats-billed") == "1"

    # 3. A colleague accepts an invitation: two seats billed, and twice the price.
    colleague = colleague_joins(
        browser,
        owner,
        host=host,
        live_url=live_url,
        mails=functools.partial(mails_to, live_mailbox),
    )
    colleague.context.close()

    def two_seats() -> bool:
        owner.goto(f"{host}/settings/billing/")
        return text_of(owner, "seats-billed") == "2"

    until(two_seats, "the seat sync and Stripe's webhook to bill two seats")
    total = starter.unit_amount * 2
    assert text_of(owner, "period-total") == f"{total / 100:,.2f} USD for 2 seats"

    # 4. Another organization, its trial over and on Free, hits the contact limit.
    other = f"free-{uuid.uuid4().hex[:6]}"
    other_host = f"http://{other}.localhost:{port}"
    other_context = browser.new_context(viewport=SIZES["laptop"])
    free = other_context.new_page()
    _sign_up(free, live_url, other, "Free Limits Org")
    _on_free_with_full_contacts(other)
    free.goto(f"{other_host}/contacts/new/")
    free.fill("input[name=first_name]", "One Too Many")
    free.click("form:has(input[name=first_name]) button[type=submit]")
    limit = free.locator("[data-testid=plan-limit]")
    limit.wait_for()
    assert f"The Free plan allows {FREE_CONTACTS} contacts" in limit.inner_text()
    assert text_of(free, "plan-limit-limit") == str(FREE_CONTACTS)
    assert text_of(free, "plan-limit-current") == str(FREE_CONTACTS)
    assert serious_violations(free) == []
    free.get_by_role("link", name="Upgrade the plan").click()
    free.wait_for_url(f"{other_host}/settings/billing/")
    assert text_of(free, "plan-name") == "Free"
    assert free.locator("[data-testid=plan-form] button[type=submit]").inner_text() == (
        "Continue to payment"
    )
    with tenant_context(Tenant.objects.get(slug=other)):
        assert Contact.objects.count() == FREE_CONTACTS  # nothing was added
    other_context.close()

    # Finance staff look at this month's payments before (see 7).
    email = f"finance-{slug}@mycrm.test"
    finance_staff(live_env, email)
    staff_context = browser.new_context(viewport=SIZES["laptop"])
    staff = staff_context.new_page()
    finance_sign_in(staff, live_url, email)
    month = timezone.now().strftime("%Y-%m")
    before = _payments(staff, month)

    # 5. The renewal is declined at Stripe: the banner, then read-only, then suspended.
    _renewal_declined(_subscription(slug).provider_subscription_id)

    def banner() -> bool:
        owner.goto(f"{host}/settings/billing/")
        return owner.locator("[data-testid=billing-banner]").count() == 1

    until(banner, "the declined payment's webhook to show the banner")
    assert "The latest payment for Done Means Org failed" in owner.inner_text(
        "[data-testid=billing-banner]"
    )
    failed_at = _subscription(slug).past_due_since
    assert failed_at is not None

    days_pass(failed_at + 7 * DAY, slug)
    save_company(owner, host, "Initrode")
    refusal = owner.locator("[data-testid=read-only-refusal]")
    refusal.wait_for()
    assert "Done Means Org is read-only because a payment is overdue" in refusal.inner_text()
    assert "Nothing was changed" in refusal.inner_text()

    days_pass(failed_at + 14 * DAY, slug)
    for path in ("/", "/contacts/"):
        closed = owner.goto(f"{host}{path}")
        assert closed.status == 423
        assert "Done Means Org is suspended" in owner.inner_text("h1")
    assert serious_violations(owner) == []
    owner.get_by_role("link", name="pay it on the Billing page").click()
    owner.wait_for_url(f"{host}/settings/billing/")
    assert text_of(owner, "plan-name") == "Starter"

    # 6. They pay the open invoice in the customer portal and are restored at once.
    assert "The last payment failed" in text_of(owner, "past-due")
    assert serious_violations(owner) == []  # the banner and the alert on the suspended host
    owner.get_by_role("button", name="Pay in the payment portal").click()
    owner.wait_for_url(re.compile(re.escape(settings.STRIPE_API_BASE) + r"/portal/bps_"))
    portal = owner.url
    owner.fill("input[name=card]", "4242 4242 4242 4242")
    owner.get_by_role("button", name=re.compile(r"^Pay ")).click()
    owner.wait_for_url(portal)
    assert owner.locator("input[name=card]").count() == 0  # nothing open is left to pay
    owner.get_by_role("link", name="Return").click()
    owner.wait_for_url(f"{host}/settings/billing/")

    def restored() -> bool:
        response = owner.goto(f"{host}/companies/")
        return bool(response.status == 200) and (
            owner.locator("[data-testid=billing-banner]").count() == 0
        )

    until(restored, "the payment's webhooks to restore the organization", timeout=20)
    save_company(owner, host, "Initrode")
    owner.wait_for_url(re.compile(rf"{re.escape(host)}/companies/\d+/"))
    assert "Initrode" in owner.inner_text("h1")
    owner.goto(f"{host}/settings/billing/")
    assert text_of(owner, "plan-status") == "Active"
    context.close()

    # 7. Finance staff see its MRR, and one more failed payment, recovered, this month.
    staff.reload()
    figures = staff.locator(f"[data-testid=figures-USD] tr[data-month='{month}']")
    assert _cents(figures.locator("[data-figure=mrr]").inner_text()) >= total
    failed, recovered = _payments(staff, month)
    assert (failed, recovered) == (before[0] + 1, before[1] + 1)
    staff.click("nav[aria-label=Finance] >> text=Subscriptions")
    staff.wait_for_url(f"{live_url}/billing/finance/subscriptions/")
    staff.select_option("select[name=plan]", label="Starter")
    staff.select_option("select[name=status]", value="active")
    staff.click("[data-testid=filters] button[type=submit]")
    staff.wait_for_url(re.compile(r".*/subscriptions/\?.*status=active.*"))
    row = staff.locator(f"[data-testid=subscriptions] tr[data-organization='{slug}']")
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[1:5] == ["Starter", "Active", "Stripe", "2"]
    assert _cents(cells[5]) == total
    staff_context.close()
