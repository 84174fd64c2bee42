"""In a real browser: an owner adds a product, puts it on a deal as a line item (the deal's
amount follows), tags a contact, and filters the contact list by that tag."""

import re
import uuid
from typing import Any

import pytest
import requests

from .conftest import run_manage
from .test_journeys import _sign_up
from .test_phone_layout import PHONE, _overflow, _tables_that_scroll

pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def test_a_product_line_on_a_deal_and_a_tagged_contact_found_by_its_tag(
    live_url: str, live_env: dict[str, str], browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _sign_up(page, live_url, slug, "Sales Org")

    # A product, from the Products menu entry.
    page.click("#main-menu >> text=Products")
    page.click("text=New product")
    page.fill("input[name=name]", "Seat licence")
    page.fill("input[name=sku]", "SEAT-1")
    page.fill("input[name=price]", "40")
    page.fill("input[name=currency]", "eur")
    page.click("form:has(input[name=sku]) button[type=submit]")
    page.wait_for_url(f"{host}/products/")
    assert page.locator("tbody tr", has_text="Seat licence").count() == 1
    assert "40.00 EUR" in page.inner_text("table")

    # A deal in euros (made through the API, as an integration would); products on its page.
    token = run_manage(
        live_env, "create_api_token", "--tenant", slug, "--email", f"owner@{slug}.test"
    )
    made = requests.post(
        f"http://127.0.0.1:{port}/api/v1/deals/",
        json={"name": "Rollout", "currency": "EUR", "amount": "5.00"},
        headers={"Host": f"{slug}.localhost:{port}", "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert made.status_code == 201, made.text
    deal = made.json()["id"]
    page.goto(f"{host}/deals/{deal}/")
    section = page.locator("[data-testid=line-items]")
    assert "5.00 EUR" in section.locator("[data-testid=line-items-amount]").inner_text()
    section.locator("[data-testid=line-item-product]").select_option(label="Seat licence")
    section.locator("input[name$=quantity]").fill("3")
    section.locator("input[name$=discount_percent]").fill("10")
    section.locator("button:has-text('Add line')").click()
    amount = page.locator("[data-testid=line-items-amount]")
    amount.filter(has_text="108.00 EUR").wait_for()
    # The amount in the page's heading follows (3 × 40 − 10 %).
    assert page.inner_text("[data-testid=deal-amount]") == "108.00 EUR"
    assert "Seat licence" in page.locator("[data-testid=line-items]").inner_text()
    # Four seats instead of three: the line changes in place, and the amount with it.
    section = page.locator("[data-testid=line-items]")
    section.locator("summary:has-text('Change')").click()
    section.locator("input[name=quantity]").fill("4")
    section.locator("button:has-text('Save')").click()
    amount.filter(has_text="144.00 EUR").wait_for()
    assert page.inner_text("[data-testid=deal-amount]") == "144.00 EUR"

    # A tagged contact, and one without tags.
    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Ada")
    page.fill("input[name=tags]", "VIP, 2024")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))
    chips = page.locator("[data-testid=tag-chips]")
    assert chips.locator("a").all_inner_texts() == ["2024", "VIP"]
    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Bob")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))

    # The list, filtered by the tag in place.
    page.goto(f"{host}/contacts/")
    assert page.locator("#contact-rows >> text=Bob").count() == 1
    page.select_option("#contact-tag", label="VIP")
    page.wait_for_url(re.compile(r".*[?&]tag=VIP"))
    page.locator("#contact-rows >> text=Bob").wait_for(state="detached")
    assert page.locator("#contact-rows >> text=Ada").count() == 1

    # A chip leads to the same list.
    page.goto(f"{host}/contacts/")
    page.locator("#contact-rows [data-testid=tag-chips] a:has-text('2024')").click()
    page.wait_for_url(re.compile(r".*/contacts/\?tag=2024"))
    assert page.locator("#contact-rows >> text=Bob").count() == 0
    assert page.locator("#contact-rows >> text=Ada").count() == 1
    context.close()


def test_products_line_items_and_tag_chips_fit_a_phone(
    live_url: str, live_env: dict[str, str], browser: Any, slug: str
) -> None:
    """At 390 px: the product list turns into cards, and a deal's lines, long tags and the
    list filters stay within the screen."""
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Pocket Sales")
    page.goto(f"{host}/products/new/")
    page.fill("input[name=name]", "Premium onboarding workshop for enterprise teams")
    page.fill("input[name=sku]", "ONBOARD-ENTERPRISE-2024")
    page.fill("input[name=price]", "12500")
    page.fill("input[name=currency]", "EUR")
    page.click("form:has(input[name=sku]) button[type=submit]")
    page.wait_for_url(f"{host}/products/")
    assert page.locator("[data-testid=product-cards] li").count() == 1

    token = run_manage(
        live_env, "create_api_token", "--tenant", slug, "--email", f"owner@{slug}.test"
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Host": f"{slug}.localhost:{port}", "Authorization": f"Bearer {token}"}
    tags = ["enterprise-renewal-2024", "vip", "conference"]
    deal = requests.post(
        f"{api}/deals/",
        json={"name": "Big rollout", "currency": "EUR", "tags": tags},
        headers=headers,
        timeout=10,
    ).json()["id"]
    product = requests.get(f"{api}/products/", headers=headers, timeout=10).json()["results"][0]
    line = requests.post(
        f"{api}/deals/{deal}/line-items/",
        json={"product": product["id"], "quantity": "12", "discount_percent": "12.5"},
        headers=headers,
        timeout=10,
    )
    assert line.status_code == 201, line.text
    contact = requests.post(
        f"{api}/contacts/",
        json={"first_name": "Augusta", "last_name": "Lovelace", "tags": tags},
        headers=headers,
        timeout=10,
    )
    assert contact.status_code == 201, contact.text

    too_wide = {}
    for path in ("/products/", "/products/new/", f"/deals/{deal}/", "/contacts/", "/companies/"):
        page.goto(f"{host}{path}")
        if problems := [p for p in (_overflow(page), *_tables_that_scroll(page)) if p]:
            too_wide[path] = problems
    assert too_wide == {}
    context.close()
