"""Sign-up confirmed by e-mail, in a real browser: the visitor is told to check their inbox
(the same page whether or not the address has an account), the mailed link creates the
organization with one click and lands the owner in it; an address with an account signs in
first and gets the organization for that account. Every page fits a phone's width, with no
serious accessibility violation."""

import uuid
from pathlib import Path
from typing import Any

import pytest

from iam.models import Membership, User
from tenants.models import Tenant

from .conftest import mails_to, run_manage, sign_up_link
from .test_accessibility import serious_violations
from .test_phone_layout import PHONE, _overflow

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"


def _ask(page: Any, live_url: str, slug: str, email: str) -> None:
    page.goto(f"{live_url}/signup/")
    page.fill("input[name=organization_name]", "Inbox First")
    page.fill("input[name=slug]", slug)
    page.wait_for_selector("#slug-status :text('is available')")
    page.fill("input[name=full_name]", "Ines Inbox")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_selector("[data-testid=signup-sent]")


def test_a_visitor_confirms_by_mail_and_lands_in_the_new_workspace_on_a_phone(
    live_url: str, live_mailbox: Path, browser: Any
) -> None:
    slug = f"su-{uuid.uuid4().hex[:8]}"
    email = f"ines@{slug}.test"
    port = live_url.rsplit(":", 1)[1]
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _ask(page, live_url, slug, email)
    sent = page.inner_text("[data-testid=signup-sent]")
    assert "Check your inbox" in sent and email in sent and "Inbox First" in sent
    assert _overflow(page) == "" and serious_violations(page) == []
    assert not Tenant.objects.filter(slug=slug).exists()
    assert not User.objects.filter(email=email).exists()

    link = sign_up_link(live_url, email)
    page.goto(link)
    assert f"{slug}.localhost" in page.inner_text("main")
    assert _overflow(page) == "" and serious_violations(page) == []
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_url(f"http://{slug}.localhost:{port}/")
    assert "Inbox First" in page.content()
    assert not page.query_selector("[data-testid=email-unconfirmed]")
    owner = User.objects.get(email=email)
    assert Membership.objects.get(user=owner, tenant__slug=slug).role == "owner"

    stranger = browser.new_context(viewport=PHONE).new_page()
    answer = stranger.goto(link)
    assert answer is not None and answer.status == 409
    assert "This link was used already" in stranger.inner_text("main")
    assert _overflow(stranger) == "" and serious_violations(stranger) == []
    assert Tenant.objects.filter(slug=slug).count() == 1
    assert len(mails_to(live_mailbox, email)) == 1
    stranger.context.close()
    context.close()


def test_an_address_with_an_account_signs_in_then_creates_the_organization(
    live_url: str, live_env: dict[str, str], browser: Any
) -> None:
    slug = f"su-{uuid.uuid4().hex[:8]}"
    email = f"known@{slug}.test"
    port = live_url.rsplit(":", 1)[1]
    run_manage(
        live_env,
        *("create_tenant", "--slug", f"{slug}-old", "--name", "Old Org"),
        *("--owner-email", email, "--owner-password", PASSWORD),
    )
    context = browser.new_context()
    page = context.new_page()
    _ask(page, live_url, slug, email)
    assert "Check your inbox" in page.inner_text("[data-testid=signup-sent]")

    page.goto(sign_up_link(live_url, email))
    page.wait_for_url(lambda url: "/accounts/login/" in url)
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=login]) button[type=submit]")
    page.wait_for_selector("text=It will belong to your account")
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_url(f"http://{slug}.localhost:{port}/")
    assert "Inbox First" in page.content()
    owner = User.objects.get(email=email)
    assert set(owner.memberships.values_list("tenant__slug", flat=True)) == {slug, f"{slug}-old"}
    context.close()
