"""A rep logs a call and a meeting on a contact and sees both in its timeline, then creates a
task due today and marks it done on My tasks, in a real browser at phone width."""

import datetime as dt
import re
import uuid
from typing import Any

import pytest

from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db

PHONE = {"width": 390, "height": 844}


def _fits_the_width(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_log_a_call_and_a_meeting_then_finish_a_task_on_my_tasks(
    live_url: str, browser: Any
) -> None:
    slug = f"e2e-{uuid.uuid4().hex[:8]}"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Activity Org")

    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Grace")
    page.fill("input[name=last_name]", "Hopper")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))
    contact_url = page.url
    timeline = page.locator("[data-testid=timeline]")

    # A call, logged without leaving the page.
    page.click("#activity-panel a[data-kind=call]")
    page.wait_for_selector("select[name=direction]")
    page.select_option("select[name=direction]", "outbound")
    page.fill("input[name=outcome]", "Wants a demo")
    page.fill("input[name=duration_minutes]", "12")
    page.click("[data-testid=log-activity] button[type=submit]")
    page.wait_for_selector("#activity-panel [role=status]:text('Call logged.')")
    assert page.url == contact_url
    assert "Wants a demo" in timeline.inner_text()

    # A meeting with the contact as attendee.
    page.click("#activity-panel a[data-kind=meeting]")
    page.wait_for_selector("input[name=starts_at]")
    page.fill("input[name=subject]", "Demo")
    page.fill("input[name=starts_at]", "2026-03-10T10:00")
    page.fill("input[name=ends_at]", "2026-03-10T09:00")
    page.check("input[name=attendees]")
    page.click("[data-testid=log-activity] button[type=submit]")
    page.wait_for_selector("#activity-panel .field-error:text('A meeting ends after it starts.')")
    assert page.input_value("input[name=subject]") == "Demo"  # what was typed stays
    page.fill("input[name=ends_at]", "2026-03-10T11:00")
    page.click("[data-testid=log-activity] button[type=submit]")
    page.wait_for_selector("#activity-panel [role=status]:text('Meeting logged.')")
    entries = timeline.locator("li[data-entry=activity]")
    assert entries.count() == 2
    assert entries.nth(0).get_attribute("data-kind") == "meeting"  # newest first
    assert "with Grace Hopper" in entries.nth(0).inner_text()
    assert entries.nth(1).get_attribute("data-kind") == "call"
    assert _fits_the_width(page)

    # A task due later today (or, a minute before midnight, just overdue) for the rep.
    due = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    page.click("#activity-panel a[data-kind=task]")
    page.wait_for_selector("input[name=due_at]")
    page.fill("input[name=subject]", "Send the proposal")
    page.fill("input[name=due_at]", due.strftime("%Y-%m-%dT%H:%M"))
    page.click("[data-testid=log-activity] button[type=submit]")
    page.wait_for_selector("#activity-panel [role=status]:text('Task logged.')")

    page.goto(f"{host}/tasks/")
    row = page.locator("li[data-task]", has_text="Send the proposal")
    assert row.count() == 1
    assert row.locator("a", has_text="Grace Hopper").get_attribute(
        "href"
    ) == contact_url.removeprefix(host)
    assert _fits_the_width(page)
    row.get_by_role("button", name="Mark Send the proposal done").click()
    page.wait_for_selector("li[data-task] [role=status]:text('Done')")
    page.reload()
    assert page.locator("li[data-task]", has_text="Send the proposal").count() == 0
    context.close()
