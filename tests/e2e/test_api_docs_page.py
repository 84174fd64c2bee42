"""A member opens the API docs in a real browser: signed in first, the organization's own
address as the server, described operations, and a way back to the workspace; on a laptop
and on a phone."""

import uuid
from typing import Any

import pytest

from .conftest import run_manage

pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["laptop", "phone"])
def test_member_reads_the_api_docs_and_goes_back_to_the_workspace(
    live_url: str, live_env: dict[str, str], browser: Any, viewport: tuple[int, int]
) -> None:
    slug = f"docs-{uuid.uuid4().hex[:6]}"
    run_manage(
        live_env,
        "create_tenant",
        "--slug",
        slug,
        "--name",
        "Docs Reader Ltd",
        "--owner-email",
        f"owner@{slug}.test",
        "--owner-password",
        PASSWORD,
    )
    port = live_url.rsplit(":", 1)[1]
    workspace = f"http://{slug}.localhost:{port}"
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()

    page.goto(f"{workspace}/api/docs/")
    assert page.url.startswith(f"{workspace}/accounts/login/")  # sign in first
    page.fill("input[name=login]", f"owner@{slug}.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=login]) button[type=submit]")
    page.wait_for_url(f"{workspace}/api/docs/")

    page.wait_for_selector(".swagger-ui .opblock-summary-description")
    servers = page.locator(".swagger-ui .servers select option").all_inner_texts()
    assert any(workspace in server for server in servers), servers
    assert "<slug>" not in page.content()
    # Swagger UI renders the operation groups as they scroll into view.
    contacts = page.locator(".opblock-summary-description", has_text="List contacts")
    for _ in range(40):
        if contacts.count():
            break
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(150)
    contacts.first.click()
    page.wait_for_selector(".opblock-description-wrapper :text('newest first')")

    back = page.get_by_role("link", name="Back to Docs Reader Ltd")
    box = back.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    back.click()
    page.wait_for_url(f"{workspace}/")
    context.close()
