"""An organization's admin, in a real browser: invites a colleague (who joins in a browser of
her own), gives her a custom role and a team, writes the policy "members edit only deals
they own" from its ready-made example, and sees it enforced on the colleague, on the page
and in the API, with the policy named as the reason."""

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from .conftest import mails_to, run_manage, sign_up_link
from .test_phone_layout import _overflow

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"
POLICY = "Members edit only deals they own"


def _sign_up(page: Any, live_url: str, slug: str) -> None:
    port = live_url.rsplit(":", 1)[1]
    page.goto(f"{live_url}/signup/")
    page.fill("input[name=organization_name]", "Access Journey")
    page.fill("input[name=slug]", slug)
    page.wait_for_selector("#slug-status :text('is available')")
    page.fill("input[name=full_name]", "Ada Admin")
    page.fill("input[name=email]", f"owner@{slug}.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_selector("[data-testid=signup-sent]")
    page.goto(sign_up_link(live_url, f"owner@{slug}.test"))  # confirms the address too
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_url(f"http://{slug}.localhost:{port}/")


def test_an_admin_limits_what_a_colleague_may_edit_and_she_is_told_why(
    live_url: str, live_env: dict[str, str], live_mailbox: Path, browser: Any
) -> None:
    slug = f"acc-{uuid.uuid4().hex[:8]}"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    colleague_email = f"colleague@{slug}.test"

    admin_context = browser.new_context()
    admin = admin_context.new_page()
    _sign_up(admin, live_url, slug)

    # 1. Invite a colleague, who joins in her own browser.
    admin.goto(f"{host}/settings/members/")
    admin.fill("input[name=email]", colleague_email)
    admin.click("form:has(input[name=email]) button[type=submit]")
    admin.wait_for_selector(f"text=Invitation sent to {colleague_email}")
    (invitation,) = mails_to(live_mailbox, colleague_email)
    link = re.search(rf"{re.escape(live_url)}/invitations/\S+/", invitation)
    assert link, invitation
    colleague_context = browser.new_context()
    colleague = colleague_context.new_page()
    colleague.goto(link.group(0))
    colleague.fill("input[name=full_name]", "Cole League")
    colleague.fill("input[name=password]", PASSWORD + "x")
    colleague.click("main form button[type=submit]")
    colleague.wait_for_url(f"{host}/")

    # A custom role from the permission matrix, and a team.
    admin.goto(f"{host}/settings/roles/")
    admin.click("text=New role")
    admin.fill("input[name=name]", "Contact exporter")
    admin.select_option("select[name=p_contact_export]", "all")
    admin.click("text=Save role")
    admin.wait_for_selector("text=Role “Contact exporter” saved.")
    admin.goto(f"{host}/settings/teams/")
    admin.fill("input[name=name]", "Field sales")
    admin.click("text=Create team")
    admin.wait_for_selector("text=Team “Field sales” created.")

    admin.goto(f"{host}/settings/members/")
    row = admin.locator(f"tr[data-member='{colleague_email}']")
    row.locator("[data-testid=member-access] summary").click()
    row.get_by_label("Contact exporter").check()
    row.get_by_label("Field sales").check()
    row.get_by_role("button", name=f"Save the custom roles and teams of {colleague_email}").click()
    admin.wait_for_selector(f"text=Roles and teams of {colleague_email} saved.")
    summary = admin.locator(f"tr[data-member='{colleague_email}'] [data-testid=member-access]")
    assert "1 custom role, 1 team" in summary.inner_text()

    # 2. The policy, from its ready-made example.
    admin.goto(f"{host}/settings/policies/")
    admin.locator("li", has_text=POLICY).get_by_role("link", name="Use this example").click()
    assert "resource.owner == principal" in admin.input_value("textarea[name=source]")
    admin.click("text=Save policy")
    admin.wait_for_selector(f"text=Policy “{POLICY}” saved.")

    # The admin's own deal, which the colleague does not own.
    admin.goto(f"{host}/deals/new/")
    admin.fill("input[name=name]", "Admin's big deal")
    admin.fill("input[name=amount]", "5000")
    admin.click("main form button[type=submit]")
    admin.wait_for_url(re.compile(rf"{re.escape(host)}/deals/\d+/$"))
    deal_id = int(urlsplit(admin.url).path.strip("/").split("/")[-1])

    # 3. Enforced on the colleague: on the page, with the policy named...
    colleague.goto(f"{host}/deals/{deal_id}/")
    assert "Admin's big deal" in colleague.content()
    response = colleague.goto(f"{host}/deals/{deal_id}/edit/")
    assert response is not None and response.status == 403
    assert POLICY in colleague.content()

    # ...and in the API, as a 403 problem naming it.
    token = run_manage(live_env, "create_api_token", "--tenant", slug, "--email", colleague_email)
    answer = requests.patch(
        f"http://127.0.0.1:{port}/api/v1/deals/{deal_id}/",
        json={"name": "Mine now"},
        headers={"Host": f"{slug}.localhost:{port}", "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 403
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert POLICY in answer.json()["detail"]
    assert answer.json()["policies"] == [POLICY]

    # The "why?" tool tells the admin the same.
    admin.goto(f"{host}/settings/access/why/")
    admin.select_option("select[name=user]", label=colleague_email)
    admin.select_option("select[name=action]", "edit")
    admin.select_option("select[name=record_type]", "deal")
    admin.fill("input[name=record_id]", str(deal_id))
    admin.click("text=Ask why")
    reason = admin.inner_text("[data-testid=why-reason]")
    assert POLICY in reason
    admin_context.close()
    colleague_context.close()


@pytest.mark.parametrize(
    "viewport", [{"width": 390, "height": 844}, {"width": 1280, "height": 800}]
)
def test_the_access_settings_pages_fit_a_phone_and_a_laptop(
    live_url: str, browser: Any, viewport: dict[str, int]
) -> None:
    slug = f"acw-{uuid.uuid4().hex[:8]}"
    host = f"http://{slug}.localhost:{live_url.rsplit(':', 1)[1]}"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    _sign_up(page, live_url, slug)
    page.goto(f"{host}/settings/roles/new/")
    page.fill("input[name=name]", "A role with a rather long name to wrap")
    page.click("text=Save role")
    page.wait_for_selector("text=saved.")
    page.goto(f"{host}/settings/teams/")
    page.fill("input[name=name]", "Field sales and partnerships EMEA")
    page.click("text=Create team")
    page.wait_for_selector("text=created.")
    page.goto(f"{host}/settings/policies/new/?example=members-edit-own-deals")
    page.click("text=Save policy")
    page.wait_for_selector("text=saved.")
    page.goto(f"{host}/deals/new/")
    page.fill("input[name=name]", "A deal")
    page.fill("input[name=amount]", "100")
    page.click("form:has(input[name=amount]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/deals/\d+/$"))
    deal_path = urlsplit(page.url).path
    page.wait_for_selector("[data-testid=share-panel]")
    assert _overflow(page) == "", deal_path
    team_link = None
    for path in (
        "/settings/roles/",
        "/settings/roles/new/",
        "/settings/teams/",
        "/settings/policies/",
        "/settings/policies/new/",
        "/settings/access/why/",
        "/settings/members/",
    ):
        page.goto(f"{host}{path}")
        assert _overflow(page) == "", path
        if path == "/settings/teams/":
            team_link = page.locator("[data-testid=teams] a.link").first.get_attribute("href")
    assert team_link
    page.goto(f"{host}{team_link}")
    assert _overflow(page) == "", team_link
    context.close()
