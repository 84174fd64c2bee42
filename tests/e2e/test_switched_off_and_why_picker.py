"""In a real browser, at a phone's width and a laptop's: the owner chooses the role of the
members SCIM creates, finds a member the identity provider switched off on the Members page
and switches them back on, and asks "why?" about a deal found by typing its name; axe-core finds no serious violation."""

import re
import uuid
from typing import Any

import pytest
import requests

from .test_accessibility import serious_violations
from .test_journeys import _sign_up
from .test_phone_layout import _overflow

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.mark.parametrize(
    "viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 800}]
)
def test_scim_role_switched_off_members_and_the_why_picker(
    live_url: str, browser: Any, viewport: dict[str, int]
) -> None:
    slug = f"swo-{uuid.uuid4().hex[:8]}"
    host = f"http://{slug}.localhost:{live_url.rsplit(':', 1)[1]}"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Switched Org")

    # SCIM settings: a token, and new members made read-only.
    page.goto(f"{host}/settings/scim/")
    page.select_option("select[name=default_role]", "read_only")
    page.click("text=Save role")
    page.wait_for_selector("text=New members from your identity provider get this role.")
    assert page.locator("select[name=default_role]").input_value() == "read_only"
    assert _overflow(page) == "", "/settings/scim/"
    assert serious_violations(page) == [], "/settings/scim/"
    page.fill("input[name=name]", "Okta")
    page.click("text=Create token")
    token = page.inner_text("#new-token").strip()

    # The identity provider creates a person, then switches them off.
    # The server's own address, named by the organization's host (no DNS for it here).
    port = live_url.rsplit(":", 1)[1]
    api = f"http://127.0.0.1:{port}"
    scim = requests.Session()
    scim.headers.update(
        {
            "Host": f"{slug}.localhost:{port}",
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
        }
    )
    email = f"ada@{slug}.test"
    created = scim.post(
        f"{api}/scim/v2/Users",
        json={"schemas": [USER], "userName": email, "emails": [{"value": email}]},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    member_id = created.json()["id"]
    off = scim.patch(
        f"{api}/scim/v2/Users/{member_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
        timeout=10,
    )
    assert off.status_code == 200, off.text

    page.goto(f"{host}/settings/members/")
    section = page.locator("[data-testid=switched-off]")
    assert email in section.inner_text()
    assert (
        "Read-only" in section.inner_text() and "by your identity provider" in section.inner_text()
    )
    assert _overflow(page) == "", "/settings/members/"
    assert serious_violations(page) == [], "/settings/members/"
    page.click(f"button[aria-label='Switch back on {email}']")
    page.wait_for_selector(f"text={email} is switched on again.")
    assert page.locator("[data-testid=switched-off]").count() == 0
    assert email in page.inner_text("[data-testid=members]")

    # "Why?": the deal is found by typing part of its name, and picked.
    page.goto(f"{host}/deals/new/")
    page.fill("input[name=name]", "Globex renewal")
    page.fill("input[name=amount]", "100")
    page.click("form:has(input[name=amount]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/deals/(\d+)/$"))
    deal_id = page.url.rstrip("/").rsplit("/", 1)[1]
    page.goto(f"{host}/settings/access/why/")
    page.select_option("select[name=user]", label=email)
    page.select_option("select[name=action]", "edit")
    page.select_option("select[name=record_type]", "deal")
    page.fill("[data-testid=why-record-search]", "globx")
    option = page.locator("[data-testid=why-record-options] button").first
    option.wait_for()
    assert "Globex renewal" in option.inner_text()
    assert _overflow(page) == "", "/settings/access/why/"
    assert serious_violations(page) == [], "/settings/access/why/"
    option.click()
    assert page.input_value("input[name=record_id]") == deal_id
    page.click("text=Ask why")
    assert page.get_attribute("[data-testid=why-answer]", "data-allowed") == "false"
    assert "Globex renewal" in page.inner_text("[data-testid=why-answer]")
    # A type the picker doesn't know is a field error, shown where the matches go.
    page.evaluate(
        "document.querySelector('#why-type').insertAdjacentHTML('beforeend', "
        "'<option value=\"spaceship\">Spaceship</option>')"
    )
    page.select_option("select[name=record_type]", "spaceship")
    page.wait_for_selector("[data-testid=why-record-errors] :text('No such record type.')")
    context.close()
