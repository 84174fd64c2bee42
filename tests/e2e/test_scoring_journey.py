"""An owner, in a real browser, adds a lead scoring rule, watches the preview show what it
would do, saves it, and finds the lead's page scored by it (a real worker rescoring in the
background); on a phone the settings page fits and passes axe-core."""

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.manage import celery_worker

from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up
from .test_phone_layout import _overflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(live_env: dict[str, str]) -> Iterator[None]:
    """A Celery worker, as `make run` starts beside the server."""
    with celery_worker(live_env):
        yield


def _score_once(page: Any, url: str, expected: str, timeout: float = 30) -> str:
    """Reload the lead's page until its score card says `expected` (it is rescored in the
    background); the card's text."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        text = str(page.inner_text("[data-testid=score-card]"))
        if expected in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_an_owner_adds_a_rule_previews_it_and_the_lead_is_scored_by_it(
    live_url: str, browser: Any, slug: str, worker: None
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Scoring Journey Org")

    page.goto(f"{host}/leads/new/")
    page.fill("input[name=first_name]", "Katherine")
    page.fill("input[name=last_name]", "Johnson")
    page.fill("input[name=title]", "Head of Orbital Mechanics")
    page.select_option("select[name=source]", "referral")
    page.click("form:has(input[name=last_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/leads/\d+/"))
    lead_url = page.url
    # The organization's default rules score it within seconds: a referral, a "Head".
    card = _score_once(page, lead_url, "Source is Referral")
    assert "Source is Referral" in card and "Title contains “Head”" in card
    before = int(page.inner_text("[data-testid=score]").split("/")[0])

    page.click("nav[aria-label=Main] >> text=Lead scoring")
    page.wait_for_url(f"{host}/settings/scoring/")
    form = page.locator("[data-testid=rule-form]")
    form.locator("select[name=condition]").select_option("title_contains")
    form.locator("input[name=value]").fill("Orbital")
    form.locator("input[name=points]").fill("12")
    preview = page.locator("#scoring-preview")
    preview.locator("text=(+12)").wait_for()
    assert "Katherine Johnson" in preview.inner_text()

    form.locator("button:has-text('Add rule')").click()
    page.wait_for_url(f"{host}/settings/scoring/")
    assert "Title contains “Orbital”" in page.inner_text("[data-testid=rules]")

    card = _score_once(page, lead_url, "Title contains “Orbital”")
    assert "Title contains “Orbital”" in card and "+12" in card
    assert "Last changed" in card
    assert int(page.inner_text("[data-testid=score]").split("/")[0]) == min(100, before + 12)

    page.goto(f"{host}/leads/")
    page.click("th >> text=Score")  # best first
    page.wait_for_url(re.compile(r".*ordering=-score"))
    assert page.inner_text("[data-testid=lead-score]") == str(min(100, before + 12))
    context.close()


def test_on_a_phone_the_scoring_settings_fit_and_are_accessible(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Scoring Phone Org")
    page.goto(f"{host}/settings/scoring/")
    assert page.locator("[data-testid=rule-row]").count() > 0  # the default rules
    assert _overflow(page) == ""
    assert serious_violations(page) == []
    page.click("[data-testid=rule-row] >> text=Edit")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/settings/scoring/rules/\d+/"))
    assert _overflow(page) == ""
    assert serious_violations(page) == []
    context.close()
