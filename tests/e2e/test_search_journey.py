"""Browser journey: the search box on every page. Ctrl-K focuses it, a misspelt name finds
the contact as you type, the arrow keys and Enter open it; on a phone too, and axe finds
nothing serious with the results open."""

import re
import uuid
from typing import Any

import pytest

from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _add_contact(page: Any, host: str, first: str, last: str, email: str) -> str:
    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", first)
    page.fill("input[name=last_name]", last)
    page.fill("input[name=email]", email)
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))
    return str(page.url)


def test_ctrl_k_a_misspelt_name_and_enter_open_the_contact(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Search Journey Org")
    zoe = _add_contact(page, host, "Zoë", "Müller", "zoe.muller@example.com")
    _add_contact(page, host, "Peter", "Gibbons", "peter@initech.test")

    page.goto(f"{host}/companies/")
    page.keyboard.press("Control+K")
    assert page.evaluate("document.activeElement.id") == "site-search"
    page.keyboard.type("zoe mulr", delay=30)  # two letters short of Müller: not found
    page.wait_for_selector("#site-search-results :text('Nothing found')")
    page.keyboard.press("Backspace")
    page.keyboard.type("lr", delay=30)  # "mullr": one letter off
    option = page.wait_for_selector("#site-search-results [role=option]")
    assert "Zoë Müller" in option.inner_text()
    assert "Peter" not in page.inner_text("#site-search-results")
    assert page.get_attribute("#site-search", "aria-expanded") == "true"
    assert page.inner_text("#site-search-results [role=group]").startswith("CONTACTS")
    assert not serious_violations(page)

    page.keyboard.press("ArrowDown")
    assert option.get_attribute("aria-selected") == "true"
    assert page.get_attribute("#site-search", "aria-activedescendant") == option.get_attribute("id")
    page.keyboard.press("Enter")
    page.wait_for_url(zoe)
    assert "Müller" in page.inner_text("h1")
    context.close()


def test_on_a_phone_part_of_an_email_address_finds_the_contact(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Search Phone Org")
    zoe = _add_contact(page, host, "Zoë", "Müller", "zoe.muller@example.com")

    page.goto(f"{host}/")
    box = page.locator("#site-search")
    assert box.is_visible()
    width = box.bounding_box()
    assert width is not None and width["x"] >= 0 and width["x"] + width["width"] <= 390
    box.fill("example.com")
    option = page.wait_for_selector("#site-search-results [role=option]")
    results = page.locator("#site-search-results").bounding_box()
    assert results is not None and results["x"] + results["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    option.click()
    page.wait_for_url(zoe)

    # Without waiting for results, Enter opens the page of all results.
    page.fill("#site-search", "lodz zoe")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/search/\?q=lodz\+zoe"))
    assert "Nothing found" in page.inner_text("main")
    context.close()
