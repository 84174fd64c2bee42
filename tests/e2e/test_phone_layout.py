"""At phone width (390px) every page fits the screen, the whole menu is reachable behind its
button, by pointer and by keyboard, and names in lists read as words, not a letter a line."""

import uuid
from typing import Any

import pytest

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
