"""At phone width (390px) every page fits the screen, the whole menu is reachable behind its
button, by pointer and by keyboard, and names in lists read as words, not a letter a line."""

import re
import uuid
from typing import Any

import pytest

from .test_accessibility import serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _overflow(page: Any) -> str:
    """What sticks out past the right edge of the screen, or "" when the page fits."""
    return str(
        page.evaluate(
            """() => {
              const width = window.innerWidth;
              if (document.scrollingElement.scrollWidth <= width) return "";
              const wide = [...document.querySelectorAll("body *")]
                .filter((el) => el.getBoundingClientRect().right > width + 0.5)
                .slice(0, 3)
                .map((el) => el.tagName.toLowerCase() + (el.className ? "." + String(el.className).split(" ").join(".") : ""));
              return `page ${document.scrollingElement.scrollWidth}px wide: ${wide.join(", ")}`;
            }"""
        )
    )


def test_on_a_phone_the_menu_opens_from_its_button_and_reaches_every_entry(
    live_url: str, browser: Any, slug: str
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Pocket Org")
    button = page.locator("[data-menu-button]")
    menu = page.locator("nav[aria-label=Main]")
    assert button.is_visible()
    assert button.get_attribute("aria-expanded") == "false"
    assert not menu.is_visible()
    assert _overflow(page) == ""

    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    links = menu.locator("a.nav-link")
    names = [name.strip() for name in links.all_inner_texts()]
    assert {"Dashboard", "Contacts", "Companies", "API tokens", "Members", "Custom fields"} <= set(
        names
    )
    for index in range(links.count()):
        box = links.nth(index).bounding_box()
        assert links.nth(index).is_visible(), names[index]
        assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], (
            f"{names[index]} is off the screen: {box}"
        )
    assert _overflow(page) == ""
    assert serious_violations(page) == []  # axe-core, on the open menu

    # The last entries, cut off before, lead where they say.
    menu.get_by_role("link", name="Custom fields").click()
    page.wait_for_url("**/custom-fields/")
    page.click("[data-menu-button]")
    menu.get_by_role("link", name="Members").click()
    page.wait_for_url("**/members/")

    # By keyboard: the button opens the menu, Tab walks into it, Escape folds it again.
    page.locator("[data-menu-button]").focus()
    page.keyboard.press("Enter")
    assert menu.is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('nav')?.getAttribute('aria-label')") == (
        "Main"
    )
    page.keyboard.press("Escape")
    assert not menu.is_visible()
    assert page.evaluate("document.activeElement.hasAttribute('data-menu-button')")
    context.close()


def test_on_a_laptop_the_menu_shows_every_entry_without_a_button(
    live_url: str, browser: Any, slug: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _sign_up(page, live_url, slug, "Desk Org")
    assert not page.is_visible("[data-menu-button]")
    links = page.locator("nav[aria-label=Main] a.nav-link")
    assert links.count() >= 6
    for index in range(links.count()):
        box = links.nth(index).bounding_box()
        assert links.nth(index).is_visible()
        assert box is not None and box["x"] + box["width"] <= 1280
    context.close()


def _add_records(page: Any, host: str) -> None:
    """A company, a contact of it with a long name, and a custom field of each kind."""
    page.goto(f"{host}/companies/new/")
    page.fill("input[name=name]", "Analytical Engines Manufacturing")
    page.fill("input[name=domain]", "analytical-engines.test")
    page.click("form:has(input[name=name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/companies/\d+/"))
    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Augusta Ada")
    page.fill("input[name=last_name]", "King-Noel Lovelace")
    page.fill("input[name=email]", "augusta.ada.lovelace@analytical-engines.test")
    page.fill("input[name=title]", "Countess of Lovelace")
    page.select_option("select[name=company]", label="Analytical Engines Manufacturing")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))
    for entity, label, key in (
        ("contact", "Preferred language of correspondence", "language"),
        ("company", "Registered trade number", "trade_number"),
    ):
        page.goto(f"{host}/settings/custom-fields/new/?entity={entity}")
        page.fill("input[name=label]", label)
        page.fill("input[name=key]", key)
        page.select_option("select[name=type]", "text")
        page.click("form:has(input[name=label]) button[type=submit]")
        page.wait_for_url(f"{host}/settings/custom-fields/")


def _tables_that_scroll(page: Any) -> list[str]:
    return [
        str(t)
        for t in page.evaluate(
            """() => [...document.querySelectorAll("table")]
                 .filter((t) => t.getBoundingClientRect().right > window.innerWidth + 0.5
                                || t.scrollWidth > t.parentElement.clientWidth + 0.5)
                 .map((t) => `${t.scrollWidth}px table in ${t.parentElement.clientWidth}px`)"""
        )
    ]


def test_every_page_fits_a_phone_and_names_read_as_words(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Pocket Engines")
    _add_records(page, host)

    # Every page of the menu (whatever entries it has), and the records' own pages and forms.
    page.goto(f"{host}/")
    page.click("[data-menu-button]")
    menu = page.eval_on_selector_all(
        "nav[aria-label=Main] a.nav-link", "links => links.map((a) => a.href)"
    )
    page.goto(f"{host}/contacts/")
    contact = page.eval_on_selector("table a[href*='/contacts/']", "a => a.href")
    page.goto(f"{host}/companies/")
    company = page.eval_on_selector("table a[href*='/companies/']", "a => a.href")
    pages = [url for url in menu if not url.endswith("/admin/")]  # Django's own admin
    pages += [contact, f"{contact}edit/", company, f"{company}edit/", f"{host}/contacts/new/"]
    pages += [f"{host}/contacts/import/", f"{host}/settings/custom-fields/new/"]
    pages += [f"{host}/leads/import/", f"{host}/deals/import/"]
    assert len(pages) >= 10
    too_wide = {}
    for url in pages:
        page.goto(url)
        if problems := [p for p in (_overflow(page), *_tables_that_scroll(page)) if p]:
            too_wide[url.removeprefix(host)] = problems
    assert too_wide == {}

    # Names in the lists keep whole words on a line: wider than tall, not a letter a line.
    for url, name in (
        (f"{host}/contacts/", "Augusta Ada King-Noel Lovelace"),
        (f"{host}/companies/", "Analytical Engines Manufacturing"),
        (f"{host}/settings/custom-fields/", "Preferred language of correspondence"),
    ):
        page.goto(url)
        cell = page.locator("table td", has_text=name).first
        box = cell.bounding_box()
        assert box is not None and box["width"] >= 150, f"{name} squeezed into {box}"
        words = page.evaluate(
            """(name) => {
              const range = document.createRange();
              const node = [...document.querySelectorAll("table td *, table td")]
                .flatMap((el) => [...el.childNodes])
                .find((n) => n.nodeType === 3 && n.textContent.includes(name));
              range.selectNodeContents(node);
              return [...range.getClientRects()].length;
            }""",
            name,
        )
        # Each line holds at least one whole word: no more lines than words.
        assert words <= len(name.split()), f"{name} on {url} spans {words} lines"
    context.close()
