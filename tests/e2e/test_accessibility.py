"""Accessibility in a real browser: axe-core (from npm) finds no serious or critical
violation on the main pages, at laptop and phone sizes; the keyboard reaches a form's first
field at once, skips the menu with one link, and sees the whole focus ring in the menu."""

import re
import uuid
from typing import Any

import pytest

from tests.support.manage import ROOT

from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# What axe checks: WCAG 2.x A and AA, and its best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def serious_violations(page: Any) -> list[str]:
    """Serious and critical axe-core violations on the page as loaded, one line each."""
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}; `make test` installs the npm packages.")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async (tags) => {
          const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
          return result.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.impact} ${v.id}: ${v.help} at ` +
                        v.nodes.slice(0, 5).map((n) => n.target.join(" ")).join(", "));
        }""",
        AXE_TAGS,
    )
    return [str(v) for v in violations]


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("size", list(SIZES))
def test_main_pages_have_no_serious_accessibility_violations(
    live_url: str, browser: Any, slug: str, size: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    visitor = browser.new_context(viewport=SIZES[size])
    anonymous = visitor.new_page()
    found: dict[str, list[str]] = {}
    for url in (
        f"{live_url}/accounts/login/",
        f"{live_url}/accounts/password/reset/",
        f"{live_url}/signup/",
        f"http://alpha.localhost:{port}/accounts/login/",
    ):
        anonymous.goto(url)
        found[url] = serious_violations(anonymous)
    visitor.close()

    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Accessible Org")
    page.goto(f"{host}/companies/new/")
    page.fill("input[name=name]", "Initech")
    page.click("form:has(input[name=name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/companies/\d+/"))
    company_url = page.url
    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Ada")
    page.fill("input[name=email]", "ada@initech.test")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))
    contact_url = page.url

    for path in (
        "/",
        "/contacts/",
        "/contacts/new/",
        contact_url.removeprefix(host),
        "/companies/",
        "/leads/",
        "/leads/new/",
        company_url.removeprefix(host),
        "/contacts/import/",
        "/leads/import/",
        "/deals/import/",
        "/settings/custom-fields/",
        "/settings/custom-fields/new/",
        "/settings/members/",
        "/settings/api-tokens/",
        "/search/?q=ada",
        "/products/",
        "/products/new/",
        "/settings/tags/",
        "/deals/",
        "/deals/board/",
        "/settings/pipelines/",
        "/tasks/",
        "/trash/",
        contact_url.removeprefix(host).replace("/contacts/", "/merge/contact/") + "?q=ada",
    ):
        response = page.goto(f"{host}{path}")
        assert response is not None and response.status == 200, path
        found[path] = serious_violations(page)
    context.close()

    failing = {url: v for url, v in found.items() if v}
    assert not failing, "\n".join(f"{url}\n  " + "\n  ".join(v) for url, v in failing.items())


def test_the_keyboard_starts_in_the_form_and_can_skip_the_menu(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Keyboard Org")

    page.goto(f"{host}/contacts/new/")
    assert page.evaluate("document.activeElement.name") == "first_name"
    page.keyboard.type("Ada")  # no Tab needed
    page.fill("input[name=email]", "ada@keys.test")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))

    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Copy")
    page.fill("input[name=email]", "ada@keys.test")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_selector("text=already has the e-mail address")
    # Back with an error: the field that has it holds the cursor.
    assert page.evaluate("document.activeElement.name") == "email"

    page.goto(f"{host}/contacts/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    assert page.is_visible("a.skip-link")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    in_menu = page.evaluate("!!document.activeElement.closest('header')")
    assert not in_menu, "the skip link should pass over the top bar"
    context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_menus_focus_ring_is_not_clipped(
    live_url: str, browser: Any, slug: str, size: str
) -> None:
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Ring Org")
    if page.is_visible("[data-menu-button]"):  # folded on a phone: open it first
        page.click("[data-menu-button]")
    links = page.locator("nav[aria-label=Main] a.nav-link")
    assert links.count() >= 5
    for index in range(links.count()):
        links.nth(index).focus()
        page.keyboard.press("Shift+Tab")  # focus by keyboard, so :focus-visible applies
        page.keyboard.press("Tab")
        clipped = page.evaluate(
            """() => {
              const link = document.activeElement;
              const nav = link.closest("nav");
              const style = getComputedStyle(link);
              if (style.outlineStyle === "none") return "no focus ring";
              const reach = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
              const ring = link.getBoundingClientRect();
              // Scrolled into view as the browser does on focus; the ring must fit the menu.
              const box = nav.getBoundingClientRect();
              const slack = 0.5;  // sub-pixel layout
              const top = ring.top - reach + slack, bottom = ring.bottom + reach - slack;
              const left = ring.left - reach + slack, right = ring.right + reach - slack;
              if (top < box.top || bottom > box.bottom) return `ring ${top}-${bottom} in menu ${box.top}-${box.bottom}`;
              if (left < box.left || right > box.right) return `ring ${left}-${right} in menu ${box.left}-${box.right}`;
              return "";
            }"""
        )
        assert clipped == "", f"link {index} on {size}: {clipped}"
    context.close()
