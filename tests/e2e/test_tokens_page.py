"""The API tokens page in a real browser, at laptop and phone widths: an owner makes a
personal token with chosen scopes and a service token, sees each once, reads their scopes
and expiry in the lists, and the page neither overflows sideways nor has a serious
accessibility violation."""

import uuid
from typing import Any

import pytest

from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db


def test_an_owner_makes_scoped_personal_and_service_tokens(live_url: str, browser: Any) -> None:
    slug = f"tok-{uuid.uuid4().hex[:8]}"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Token Org")

    page.goto(f"{host}/settings/api-tokens/")
    assert page.locator("#id_expires").input_value() == "90"
    page.fill("#id_name", "Nightly export")
    page.select_option("#id_scope_deal", "read")
    page.select_option("#id_scope_contact", "none")
    page.click("form:has(#id_name) button[type=submit]")
    page.wait_for_selector("#new-token")
    assert page.locator("#new-token").inner_text().startswith("mcrm_")
    row = page.locator('[data-testid=tokens] tr[data-token="Nightly export"]')
    assert "Deals: read" in row.inner_text()
    assert "Contacts" not in row.inner_text()
    assert "Expires in" in row.inner_text()

    page.fill("#id_service-name", "Warehouse sync")
    page.select_option("#id_service-expires", "never")
    page.click("form:has(#id_service-name) button[type=submit]")
    page.wait_for_selector("#new-token")
    assert "service token" in page.locator("#new-token-title").inner_text()
    service_row = page.locator('[data-testid=service-tokens] tr[data-token="Warehouse sync"]')
    assert "All records: read and write" in service_row.inner_text()
    assert "Never expires" in service_row.inner_text()

    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the {size} screen"
        assert serious_violations(page) == [], size
    context.close()
