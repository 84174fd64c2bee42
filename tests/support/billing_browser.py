"""Steps the billing journeys share, in a real browser against the live server and the
devstack's local Stripe: a Celery worker to apply webhooks and sync seats, waiting on a page
that background work changes, the upgrade through Stripe Checkout, a colleague who joins,
the dunning clock, a save, and finance staff signing in on the bare domain."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

from billing.services import subscriptions
from tenants.models import Tenant
from tests.billing import stripe_support
from tests.support.connections import run_on_own_connection
from tests.support.manage import manage

PASSWORD = "a-Long-passphrase-42"


def until(check: Callable[[], bool], what: str, timeout: float = 45) -> None:
    """Wait for `check` (which may reload a page) to hold; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def text_of(page: Any, testid: str) -> str:
    """The text of the element marked `data-testid=testid`, or "" when the page has none."""
    found = page.query_selector(f"[data-testid={testid}]")
    return str(found.inner_text()).strip() if found else ""


def stripe_catalog_synced(env: dict[str, str], live_url: str) -> None:
    """The plans' prices exist at the local Stripe, which posts its events to the server."""
    manage(
        env,
        "billing_sync_catalog",
        "--provider",
        "stripe",
        "--local-webhook",
        f"{live_url}/billing/webhooks/stripe/",
    )


def upgrade_through_checkout(page: Any, host: str, *, plan: str = "starter") -> None:
    """From Billing, buy `plan` monthly in USD at the local Stripe Checkout with the test
    card 4242, and wait until the webhook has made it active on the page."""
    page.goto(f"{host}/settings/billing/")
    page.select_option("select[name=plan]", plan)
    page.select_option("select[name=interval]", "month")
    page.select_option("select[name=currency]", "USD")
    page.click("text=Continue to payment")
    page.wait_for_url(re.compile(re.escape(settings.STRIPE_API_BASE) + r"/checkout/pay/cs_"))
    assert "for 1 seat(s)" in page.content()
    page.fill("#card", stripe_support.GOOD_CARD)
    page.click("text=Subscribe")
    page.wait_for_url(f"{host}/settings/billing/?checkout=done")

    def active() -> bool:
        page.goto(f"{host}/settings/billing/")
        return (
            text_of(page, "plan-name") == plan.capitalize()
            and text_of(page, "plan-status") == "Active"
        )

    until(active, f"the checkout's webhook to make {plan} active")


def colleague_joins(
    browser: Any, owner: Any, *, host: str, live_url: str, mails: Callable[[str], list[str]]
) -> Any:
    """The owner invites colleague@<host's organization>.test from Members; the colleague
    accepts the mailed invitation (`mails(address)`: the messages sent to it) in a browser
    of their own. Returns the colleague's page, signed in."""
    slug = host.split("//", 1)[1].split(".", 1)[0]
    email = f"colleague@{slug}.test"
    owner.goto(f"{host}/settings/members/")
    owner.fill("input[name=email]", email)
    owner.click("form:has(input[name=email]) button[type=submit]")
    owner.wait_for_selector(f"text=Invitation sent to {email}")
    (invitation,) = mails(email)
    link = re.search(rf"{re.escape(live_url)}/invitations/\S+/", invitation)
    assert link, invitation
    colleague = browser.new_context().new_page()
    colleague.goto(link.group(0))
    colleague.fill("input[name=full_name]", "Cole League")
    colleague.fill("input[name=password]", "a-Long-passphrase-43")
    colleague.click("main form button[type=submit]")
    colleague.wait_for_url(f"{host}/")
    return colleague


def days_pass(now: dt.datetime, slug: str) -> None:
    """The hourly dunning task's work for organization `slug` runs at `now` (a travelled
    clock), committed as the task's own transaction would be, so the server sees what it
    did. Only that organization: the suite's other organizations share the database."""

    def work() -> None:
        organization = Tenant.objects.get(slug=slug)
        subscriptions.dunning_advance(now=now, organization=organization)

    run_on_own_connection(work)


def save_company(page: Any, host: str, name: str) -> None:
    """Submit the new-company form (what follows is up to the caller to wait for)."""
    page.goto(f"{host}/companies/new/")
    page.fill("input[name=name]", name)
    page.click("form:has(input[name=name]) button[type=submit]")


def finance_staff(env: dict[str, str], email: str) -> None:
    """A staff user with the finance permission, made by manage.py so that the password is
    hashed as the server checks it."""
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import Permission; from iam.models import User; "
        f"u = User.objects.create_user(email='{email}', password='{PASSWORD}', is_staff=True); "
        "u.user_permissions.add(Permission.objects.get(codename='view_finance'))",
    )


def finance_sign_in(page: Any, live_url: str, email: str) -> None:
    """Open Finance on the bare domain, sign in at the operator admin's form, land there."""
    page.goto(f"{live_url}/billing/finance/")
    page.wait_for_url(re.compile(r".*/admin/login/\?next=.*finance.*"))
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_url}/billing/finance/")
