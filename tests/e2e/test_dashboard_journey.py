"""A sales manager, in a real browser, opens the dashboard: its charts are drawn, a click on a
stage's bar opens the deals of that stage, the tasks tile opens My tasks, and on a phone the
page fits the screen with nothing serious for axe-core."""

import datetime as dt
import re
import uuid
from typing import Any

import pytest
import requests
from django.utils import timezone

from iam.models import User

from .conftest import run_manage
from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up
from .test_phone_layout import _overflow, _tables_that_scroll

pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _sales(live_env: dict[str, str], live_url: str, slug: str) -> dict[str, int]:
    """Deals on two stages, a won deal, leads from two sources and an overdue task, made
    through the API as an integration would (the server sees only committed data)."""
    port = live_url.rsplit(":", 1)[1]
    token = run_manage(
        live_env, "create_api_token", "--tenant", slug, "--email", f"owner@{slug}.test"
    )
    headers = {"Host": f"{slug}.localhost:{port}", "Authorization": f"Bearer {token}"}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        made = requests.post(
            f"http://127.0.0.1:{port}/api/v1/{path}", json=body, headers=headers, timeout=10
        )
        assert made.status_code == 201, made.text
        return dict(made.json())

    pipelines = requests.get(
        f"http://127.0.0.1:{port}/api/v1/pipelines/", headers=headers, timeout=10
    ).json()
    stages = {s["name"]: s for s in next(p for p in pipelines if p["is_default"])["stages"]}
    won = next(s for s in stages.values() if s["is_won"])
    for i, stage in enumerate(("Lead in", "Lead in", "Qualified")):
        post(
            "deals/",
            {
                "name": f"Deal {i}",
                "stage": stages[stage]["id"],
                "amount": f"{1000 * (i + 1)}.00",
                "currency": "EUR",
            },
        )
    post("deals/", {"name": "Won deal", "stage": won["id"], "amount": "5000.00", "currency": "EUR"})
    post("leads/", {"last_name": "Referred", "source": "referral"})
    post("leads/", {"last_name": "Visitor", "source": "web"})
    lead = post("leads/", {"last_name": "Busy", "source": "web"})
    owner = User.objects.get(email=f"owner@{slug}.test")
    post(
        "activities/",
        {
            "kind": "task",
            "subject": "Send the proposal",
            "lead": lead["id"],
            "assignee_id": owner.pk,
            "due_at": (timezone.now() - dt.timedelta(hours=3)).isoformat(),
        },
    )
    return {"qualified": stages["Qualified"]["id"]}


def test_the_dashboards_charts_are_drawn_and_each_opens_the_list_behind_it(
    live_env: dict[str, str], live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Chart Journey Org")
    ids = _sales(live_env, live_url, slug)

    page.goto(f"{host}/")
    for key in ("pipeline", "won", "sources", "scores"):
        page.wait_for_selector(f"canvas[data-chart=chart-{key}][data-drawn=true]")
    assert page.locator("[data-testid=tasks-overdue]").inner_text() == "1"
    assert "Send the proposal" in page.locator("[data-testid=recent-activity]").inner_text()

    # A click on the Qualified bar opens the deal list of that stage.
    page.locator("canvas[data-chart=chart-pipeline]").scroll_into_view_if_needed()
    point = page.evaluate(
        """() => {
          const canvas = document.querySelector("canvas[data-chart=chart-pipeline]");
          const chart = Chart.getChart(canvas);
          const index = chart.data.labels.indexOf("Qualified");
          const bar = chart.getDatasetMeta(0).data[index];
          const box = canvas.getBoundingClientRect();
          return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
        }"""
    )
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(f"{host}/deals/?stage={ids['qualified']}")
    assert page.locator("text=Deal 2").count() >= 1
    assert page.locator("text=Deal 0").count() == 0

    page.goto(f"{host}/")
    page.click("[data-testid=tasks-tile] a[aria-label^='My tasks']")
    page.wait_for_url(f"{host}/tasks/")
    assert "Send the proposal" in page.content()

    # The won chart's table links to this month's won deals.
    page.goto(f"{host}/")
    this_month = timezone.now().strftime("%Y-%m")
    page.click(f"[data-testid=won-chart] tr[data-month='{this_month}'] a")
    page.wait_for_url(re.compile(r".*/deals/\?outcome=won.*"))
    assert page.locator("text=Won deal").count() >= 1
    context.close()


def test_the_dashboard_fits_a_phone_and_axe_finds_nothing_serious(
    live_env: dict[str, str], live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Pocket Charts Org")
    _sales(live_env, live_url, slug)
    page.goto(f"{host}/")
    page.wait_for_selector("canvas[data-chart=chart-pipeline][data-drawn=true]")
    assert _overflow(page) == ""
    assert _tables_that_scroll(page) == []
    box = page.locator("canvas[data-chart=chart-pipeline]").bounding_box()
    assert box is not None and 0 < box["width"] <= SIZES["phone"]["width"]
    assert serious_violations(page) == []
    context.close()
