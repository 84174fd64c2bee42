"""The audit log page in a real browser: the owner's first changes are there, with the
encrypted e-mail shown as "changed"; it fits a phone's width and a laptop's, and axe-core
finds no serious violation."""

import re
import uuid
from typing import Any

import pytest

from .test_accessibility import serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 800}]
)
def test_the_owner_reads_the_audit_log_at_phone_and_laptop_width(
    live_url: str, browser: Any, viewport: dict[str, int]
) -> None:
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    host = f"http://{slug}.localhost:{live_url.rsplit(':', 1)[1]}"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Audited Org")
    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Ada")
    page.fill("input[name=email]", "ada@secret.test")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))

    page.goto(f"{host}/settings/audit/")
    events = page.locator("[data-testid=audit-events]")
    assert "contact.created" in events.inner_text()
    assert "changed" in events.inner_text()
    assert "ada@secret.test" not in page.content()
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert serious_violations(page) == []
    page.fill("input[name=action]", "contact.")
    page.click("form[data-testid=audit-search] button[type=submit]")
    page.wait_for_url(re.compile(r".*action=contact\..*"))
    assert page.locator("[data-testid=audit-events] li").count() == 1
    context.close()
