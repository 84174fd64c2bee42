"""A sales rep, in a real browser, creates a deal and drags its card across the pipeline board
to Won; after a reload it is still there, the columns' counts and totals followed, and the
deal's page shows the move. On a phone the board's columns scroll sideways."""

import re
import uuid
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from crm.models import Deal, DealStageChange
from tenants.models import Tenant

from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

# Wide enough for every column of the default pipeline, so a drag never leaves the screen
# (narrower screens scroll the board sideways; the "Move to…" menu covers them).
WIDE = {"width": 1920, "height": 1080}


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _column_named(page: Any, stage: str) -> Any:
    return page.locator("[data-testid=board-column]").filter(
        has=page.locator(f"h2 >> text=/^{stage}/")
    )


def test_drag_a_deal_to_won_on_the_board_and_it_stays_there(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Board Journey Org")

    page.click("nav[aria-label=Main] >> text=Deals")
    page.wait_for_url(f"{host}/deals/")
    page.click("text=New deal")
    page.fill("input[name=name]", "Cobol modernisation")
    page.fill("input[name=amount]", "48000")
    page.fill("input[name=currency]", "EUR")
    page.click("form:has(input[name=name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/deals/\d+/"))
    deal_url = page.url

    page.goto(f"{host}/deals/board/")
    lead_in, won = _column_named(page, "Lead in"), _column_named(page, "Won")
    assert lead_in.locator("[data-testid=stage-count]").inner_text() == "1"
    assert won.locator("[data-testid=stage-count]").inner_text() == "0"
    card = lead_in.locator("[data-testid=deal-card]", has_text="Cobol modernisation")
    target = won.locator("ol.board-list")
    start, end = card.bounding_box(), target.bounding_box()
    with page.expect_response(re.compile(r"/deals/\d+/move/")) as moved:
        page.mouse.move(start["x"] + 20, start["y"] + 10)
        page.mouse.down()
        page.mouse.move(start["x"] + 40, start["y"] + 20, steps=5)
        page.mouse.move(end["x"] + 30, end["y"] + 20, steps=20)
        page.mouse.up()
    assert moved.value.status == 200
    # The answer's counts and totals were swapped in without a reload.
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=board-column]')[4]"
        ".querySelector('[data-testid=stage-count]').textContent === '1'"
    )
    assert "48,000.00 EUR" in won.locator("[data-testid=stage-summary]").inner_text()

    page.reload()
    won = _column_named(page, "Won")
    assert won.locator("[data-testid=deal-card]", has_text="Cobol modernisation").count() == 1
    assert _column_named(page, "Lead in").locator("[data-testid=stage-count]").inner_text() == "0"

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        deal = Deal.objects.select_related("stage").get(name="Cobol modernisation")
        assert deal.stage.is_won
        assert deal.closed_at is not None
        assert DealStageChange.objects.filter(deal=deal, to_stage_name="Won").exists()

    page.goto(deal_url)
    assert page.inner_text("[data-testid=deal-stage]") == "Won"
    assert "Lead in → Won" in page.inner_text("[data-testid=stage-history]")
    context.close()


def test_on_a_phone_the_board_scrolls_sideways_and_passes_axe(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Board Phone Org")
    page.goto(f"{host}/deals/board/")
    widths = page.evaluate(
        """() => {
          const board = document.querySelector('[data-testid=board]');
          return {page: document.documentElement.scrollWidth, view: window.innerWidth,
                  board: board.scrollWidth, boardView: board.clientWidth};
        }"""
    )
    assert widths["page"] <= widths["view"], widths  # the page itself doesn't widen
    assert widths["board"] > widths["boardView"], widths  # the columns scroll inside it
    assert serious_violations(page) == []
    for path in ("/deals/", "/deals/new/"):
        page.goto(f"{host}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert serious_violations(page) == [], path
    context.close()


def _drag(page: Any, card: Any, target: Any) -> None:
    start, end = card.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + 20, start["y"] + 10)
    page.mouse.down()
    page.mouse.move(start["x"] + 40, start["y"] + 20, steps=5)
    # The drag has begun once the library shows the card's floating copy under the pointer.
    page.locator(".sortable-fallback").wait_for(state="attached")
    page.mouse.move(end["x"] + 30, end["y"] + 20, steps=20)
    # Settle over the target as a hand does: the drag library reads where the pointer is on
    # the next animation frame, so a release in the same instant would land nowhere.
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")
    page.mouse.move(end["x"] + 32, end["y"] + 22, steps=2)
    page.mouse.up()


def test_a_card_moves_by_keyboard_and_a_lost_one_asks_why(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Keyboard Board Org")
    page.goto(f"{host}/deals/new/")
    page.fill("input[name=name]", "Mainframe exit")
    page.fill("input[name=amount]", "9000")
    page.fill("input[name=currency]", "EUR")
    page.click("form:has(input[name=name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/deals/\d+/"))

    # By keyboard: the card's "Move to…" menu, then the stage's button.
    page.goto(f"{host}/deals/board/")
    card = page.locator("[data-testid=deal-card]", has_text="Mainframe exit")
    card.locator("summary").focus()
    page.keyboard.press("Enter")
    qualified = card.locator("[data-move-form] button", has_text="Qualified")
    qualified.focus()
    with page.expect_response(re.compile(r"/deals/\d+/move/")) as moved:
        page.keyboard.press("Enter")
    assert moved.value.status == 200
    qualified_column = _column_named(page, "Qualified")
    qualified_column.locator("[data-testid=deal-card]", has_text="Mainframe exit").wait_for()
    assert page.inner_text("#board-status") == "Moved to Qualified."
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert qualified_column.locator("[data-testid=stage-count]").inner_text() == "1"

    # Dropped on Lost: the reason is asked for; Cancel puts the card back.
    lost = _column_named(page, "Lost")
    card = qualified_column.locator("[data-testid=deal-card]", has_text="Mainframe exit")
    _drag(page, card, lost.locator("ol.board-list"))
    dialog = page.locator("[data-testid=lost-dialog]")
    dialog.wait_for(state="visible")
    assert "Mainframe exit" in dialog.inner_text()
    dialog.locator("button", has_text="Cancel").click()
    qualified_column.locator("[data-testid=deal-card]", has_text="Mainframe exit").wait_for()
    page.wait_for_function(
        "document.getElementById('board-status').textContent === 'Move cancelled.'"
    )
    assert lost.locator("[data-testid=deal-card]").count() == 0

    # Again, with a reason: saved with the move.
    card = qualified_column.locator("[data-testid=deal-card]", has_text="Mainframe exit")
    _drag(page, card, lost.locator("ol.board-list"))
    dialog.wait_for(state="visible")
    page.fill("#lost-reason", "Budget frozen")
    with page.expect_response(re.compile(r"/deals/\d+/move/")) as moved:
        dialog.locator("button", has_text="Mark lost").click()
    assert moved.value.status == 200
    page.reload()
    assert _column_named(page, "Lost").locator("[data-testid=deal-card]").count() == 1
    with tenant_context(Tenant.objects.get(slug=slug)):
        deal = Deal.objects.select_related("stage").get(name="Mainframe exit")
        assert deal.stage.is_lost and deal.lost_reason == "Budget frozen"
    context.close()


def test_the_deal_form_finds_contacts_as_you_type_and_marks_the_primary_one(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Picker Journey Org")
    for first, last in (("Zoë", "Müller"), ("Ada", "Lovelace")):
        page.goto(f"{host}/contacts/new/")
        page.fill("input[name=first_name]", first)
        page.fill("input[name=last_name]", last)
        page.click("form:has(input[name=first_name]) button[type=submit]")
        page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))

    page.goto(f"{host}/deals/new/")
    page.fill("input[name=name]", "Picked people")
    search = page.locator("[data-testid=contact-search]")
    search.type("zoe muler", delay=20)  # a letter short, no accents
    page.locator("[data-add-contact]", has_text="Zoë Müller").click()
    chosen = page.locator("[data-testid=chosen-contacts] li")
    assert chosen.count() == 1
    assert page.evaluate("document.activeElement.id") == "contact-search"
    search.type("lovel", delay=20)
    page.locator("[data-add-contact]", has_text="Ada Lovelace").wait_for()
    page.keyboard.press("Enter")  # the first match, without sending the form
    assert chosen.count() == 2
    assert page.url == f"{host}/deals/new/"
    chosen.filter(has_text="Ada Lovelace").locator("input[type=radio]").check()
    assert serious_violations(page) == []
    page.click("form:has(input[name=name]) button[type=submit]:has-text('Create deal')")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/deals/\d+/"))
    people = page.locator("section[aria-labelledby=people-title] li")
    assert people.count() == 2
    assert "Primary" in people.filter(has_text="Ada Lovelace").inner_text()

    # Editing: both are there, one taken off.
    page.click("a:has-text('Edit')")
    chosen = page.locator("[data-testid=chosen-contacts] li")
    assert chosen.count() == 2
    chosen.filter(has_text="Zoë Müller").locator("[data-remove-contact]").click()
    page.click("form:has(input[name=name]) button[type=submit]:has-text('Save changes')")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/deals/\d+/"))
    assert page.locator("section[aria-labelledby=people-title] li").count() == 1
    context.close()
