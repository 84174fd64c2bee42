"""The sales cycle as one story, in a real browser: a sales rep signs in, imports contacts,
qualifies and converts a lead with a deal, drags the deal across the board to Won, logs a call
and a meeting, finds a record by typing part of its name with a typo, and sees it all on the
dashboard and in the deal's timeline."""

import re
import uuid
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from crm.models import Contact, Lead
from tenants.models import Tenant

from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

CONTACTS = (
    "Name;E-mail;Company\n"
    "Ada Lovelace;ada@engine.test;Analytical Engines\n"
    "Charles Babbage;charles@engine.test;Analytical Engines\n"
)

# Wide enough for every column of the default pipeline, so a drag never leaves the screen
# (narrower screens scroll the board sideways; the "Move to…" menu covers them).
WIDE = {"width": 1920, "height": 1080}


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _column(page: Any, stage: str) -> Any:
    return page.locator("[data-testid=board-column]").filter(
        has=page.locator(f"h2 >> text=/^{stage}/")
    )


def _drag_to(page: Any, card: Any, stage: str) -> None:
    """Drag `card` onto the column of `stage` with the mouse, and wait for the move saved."""
    target = _column(page, stage).locator("ol.board-list")
    target.scroll_into_view_if_needed()  # the board scrolls sideways past four columns
    start, end = card.bounding_box(), target.bounding_box()
    with page.expect_response(re.compile(r"/deals/\d+/move/")) as moved:
        page.mouse.move(start["x"] + 20, start["y"] + 10)
        page.mouse.down()
        page.mouse.move(start["x"] + 40, start["y"] + 20, steps=5)
        page.mouse.move(end["x"] + 30, end["y"] + 20, steps=20)
        # Settle over the target: the drag library reads the pointer on the next frame.
        page.evaluate("() => new Promise((done) => requestAnimationFrame(() => done()))")
        page.mouse.move(end["x"] + 32, end["y"] + 22, steps=2)
        page.mouse.up()
    assert moved.value.status == 200


def test_a_sales_rep_runs_the_whole_sales_cycle(live_url: str, browser: Any, slug: str) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Full Cycle Org")  # signs the owner in, on the dashboard
    tenant = Tenant.objects.get(slug=slug)

    # Import contacts: upload, the proposed columns, import.
    page.click("[data-testid=getting-started] a:has-text('Import contacts')")
    page.wait_for_url(f"{host}/contacts/import/")
    page.set_input_files(
        "input[name=file]",
        {"name": "people.csv", "mimeType": "text/csv", "buffer": CONTACTS.encode()},
    )
    page.click("[data-testid=import-upload]")
    page.wait_for_selector("[data-testid=import-mapping]")
    page.click("[data-testid=import-run]")
    page.wait_for_selector(":text('Imported people.csv')")
    assert page.inner_text("[data-count=created]") == "2"
    with tenant_context(tenant):
        assert Contact.objects.count() == 2

    # A lead, qualified, then converted with a deal.
    page.goto(f"{host}/leads/new/")
    page.fill("input[name=first_name]", "Grace")
    page.fill("input[name=last_name]", "Hopper")
    page.fill("input[name=email]", "grace@cobol.test")
    page.fill("input[name=company_name]", "Cobol Works")
    page.select_option("select[name=source]", "event")
    page.click("form:has(input[name=last_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/leads/\d+/"))
    lead_url = page.url
    page.click("button:has-text('Mark qualified')")
    page.wait_for_url(lead_url)
    assert page.inner_text("[data-testid=lead-status]") == "Qualified"
    page.click("button:has-text('Convert')")
    dialog = page.locator("#convert-dialog")
    dialog.locator("input[name=create_deal]").check()
    dialog.locator("input[name=deal_name]").fill("Cobol modernisation")
    dialog.locator("input[name=amount]").fill("48000")
    dialog.locator("input[name=currency]").fill("EUR")
    dialog.locator("button:has-text('Convert lead')").click()
    page.wait_for_url(re.compile(rf"{re.escape(host)}/(deals|contacts)/\d+/"))
    with tenant_context(tenant):
        lead = Lead.objects.get(last_name="Hopper")
        deal_url = f"{host}/deals/{lead.converted_deal_id}/"
        contact_url = f"{host}/contacts/{lead.converted_contact_id}/"

    # Across the board to Won, a stage at a time.
    page.goto(f"{host}/deals/board/")
    for stage in ("Qualified", "Proposal", "Negotiation", "Won"):
        if not _column(page, stage).count():
            continue  # a stage this pipeline doesn't have
        card = page.locator("[data-testid=deal-card]", has_text="Cobol modernisation")
        _drag_to(page, card, stage)
    page.reload()
    won = _column(page, "Won")
    assert won.locator("[data-testid=deal-card]", has_text="Cobol modernisation").count() == 1

    # A call and a meeting, logged on the deal's page.
    page.goto(deal_url)
    page.click("#activity-panel a[data-kind=call]")
    page.wait_for_selector("select[name=direction]")
    page.select_option("select[name=direction]", "outbound")
    page.fill("input[name=outcome]", "Signed the order")
    page.fill("input[name=duration_minutes]", "15")
    page.click("[data-testid=log-activity] button[type=submit]")
    page.wait_for_selector("#activity-panel [role=status]:text('Call logged.')")
    page.click("#activity-panel a[data-kind=meeting]")
    page.wait_for_selector("input[name=starts_at]")
    page.fill("input[name=subject]", "Kick-off")
    starts = timezone.now().replace(second=0, microsecond=0)
    page.fill("input[name=starts_at]", starts.strftime("%Y-%m-%dT%H:%M"))
    page.click("[data-testid=log-activity] button[type=submit]")
    page.wait_for_selector("#activity-panel [role=status]:text('Meeting logged.')")

    # The deal's timeline: the activities and every move, newest first.
    entries = page.locator("[data-testid=timeline] > li")
    assert entries.nth(0).get_attribute("data-kind") == "meeting"
    assert entries.nth(1).get_attribute("data-kind") == "call"
    timeline = page.inner_text("[data-testid=timeline]")
    assert "to Won" in timeline
    assert "Moved from Lead in to Qualified" in timeline
    assert "Created by converting lead Grace Hopper" in timeline

    # Ctrl-K, part of a name with a typo, Enter: the contact the lead became.
    page.keyboard.press("Control+K")
    page.keyboard.type("grace hoper", delay=30)
    option = page.wait_for_selector("#site-search-results [role=option]:has-text('Grace Hopper')")
    option.click()
    page.wait_for_url(re.compile(rf"{re.escape(host)}/(contacts|leads|deals)/\d+/"))
    assert "Grace Hopper" in page.inner_text("h1") or "Hopper" in page.content()
    page.goto(contact_url)
    assert "Grace Hopper" in page.inner_text("h1")

    # The dashboard: the won deal, the logged activities.
    page.goto(f"{host}/")
    page.wait_for_selector("canvas[data-chart=chart-won][data-drawn=true]")
    this_month = timezone.now().strftime("%Y-%m")
    row = page.locator(f"[data-testid=won-chart] tr[data-month='{this_month}']")
    assert row.locator("td").nth(0).inner_text() == "1"
    assert "48,000.00 EUR" in row.inner_text()
    recent = page.inner_text("[data-testid=recent-activity]")
    assert "Kick-off" in recent and "Cobol modernisation" in recent
    row.locator("a").click()
    page.wait_for_url(re.compile(r".*/deals/\?outcome=won.*"))
    assert page.locator("text=Cobol modernisation").count() >= 1
    context.close()
