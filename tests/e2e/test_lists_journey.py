"""A sales manager, in a real browser, shapes the contact list: picks its columns, filters it
by a tag, saves that as a view, ticks three contacts and gives them to a colleague. On a
phone the column picker and the bulk bar fit the screen and work."""

import uuid
from typing import Any

import pytest
import requests
from django_tenants.utils import tenant_context

from crm.models import Contact, SavedView
from iam.models import User
from tenants.models import Tenant

from .conftest import run_manage
from .test_journeys import _sign_up
from .test_phone_layout import PHONE, _overflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _team_and_contacts(live_env: dict[str, str], live_url: str, slug: str) -> User:
    """A colleague to give contacts to, and five contacts, three of them tagged "hot", made
    in processes of their own (the server sees only committed data): the colleague by
    manage.py, the contacts in one request to the bulk API."""
    run_manage(
        live_env,
        "shell",
        "-c",
        "from iam.models import Membership, User; from tenants.models import Tenant; "
        f"u = User.objects.create_user(email='sam@{slug}.test', password='a-Long-pass-42', "
        "full_name='Sam Seller'); "
        f"Membership.objects.create(user=u, tenant=Tenant.objects.get(slug='{slug}'))",
    )
    port = live_url.rsplit(":", 1)[1]
    token = run_manage(
        live_env, "create_api_token", "--tenant", slug, "--email", f"owner@{slug}.test"
    )
    made = requests.post(
        f"http://127.0.0.1:{port}/api/v1/contacts/bulk/",
        json={
            "create": [
                {"first_name": first, "last_name": "Lister", "tags": tags, "owner_id": None}
                for first, tags in (
                    ("Ann", ["hot"]),
                    ("Ben", ["hot"]),
                    ("Cat", ["hot"]),
                    ("Dan", []),
                    ("Eve", []),
                )
            ]
        },
        headers={"Host": f"{slug}.localhost:{port}", "Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert made.status_code == 200, made.text
    return User.objects.get(email=f"sam@{slug}.test")


def test_pick_columns_filter_save_a_view_and_give_three_contacts_to_a_colleague(
    live_env: dict[str, str], live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_up(page, live_url, slug, "Lists Journey Org")
    colleague = _team_and_contacts(live_env, live_url, slug)

    page.goto(f"{host}/contacts/")
    heads = page.locator("table thead")
    assert "Phone" in heads.text_content()

    # Columns: without the phone and the date added, with the owner.
    page.click("[data-testid=column-picker] summary")
    picker = page.locator("[data-testid=column-picker] form")
    picker.get_by_label("Phone").uncheck()
    picker.get_by_label("Added").uncheck()
    picker.get_by_role("button", name="Show these columns").click()
    page.wait_for_load_state()
    assert "Phone" not in heads.text_content()
    assert "Owner" in heads.text_content()

    # Filter by the tag, then save that as a view.
    with page.expect_response(lambda r: "/contacts/?" in r.url and "tag=hot" in r.url):
        page.select_option("#contact-tag", "hot")
    rows = page.locator("#contact-rows tr:has(input[name=ids])")
    rows.first.wait_for()
    page.wait_for_function(
        "document.querySelectorAll('#contact-rows input[name=ids]').length === 3"
    )
    page.click("[data-testid=views-menu] summary")
    page.fill("#contacts-view-name", "Hot ones")
    page.click("[data-testid=views-menu] button:has-text('Save view')")
    page.wait_for_url("**view=*")
    assert "View: Hot ones" in page.inner_text("[data-testid=views-menu] summary")
    assert rows.count() == 3
    assert "Phone" not in heads.text_content()

    # Tick them all, give them to Sam.
    page.check("[data-select-all]")
    assert page.inner_text("[data-selected-count]") == "3 selected"
    page.select_option("#bulk-owner", str(colleague.pk))
    page.click("[data-testid=bulk-bar] button:has-text('Assign owner')")
    page.wait_for_url("**view=*")
    assert "3 contacts given to Sam Seller." in page.content()
    owners = page.locator("#contact-rows [data-testid=owner]").all_inner_texts()
    assert owners == ["Sam Seller"] * 3

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        given = set(
            Contact.objects.filter(owner_id=colleague.pk).values_list("first_name", flat=True)
        )
        assert given == {"Ann", "Ben", "Cat"}
        view = SavedView.objects.get(name="Hot ones")
        assert view.query == {"tag": "hot"}
        assert "phone" not in view.columns and "owner" in view.columns

    # The view is in the menu on the next visit, and picking it filters again.
    page.goto(f"{host}/contacts/")
    page.click("[data-testid=views-menu] summary")
    page.click("[data-testid=views-menu] a:has-text('Hot ones')")
    page.wait_for_url("**view=*")
    assert rows.count() == 3
    context.close()


def test_on_a_phone_the_column_picker_and_the_bulk_bar_fit_and_work(
    live_env: dict[str, str], live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    _sign_up(page, live_url, slug, "Lists Pocket Org")
    _team_and_contacts(live_env, live_url, slug)
    for path in ("/contacts/", "/companies/", "/leads/", "/deals/"):
        page.goto(f"{host}{path}")
        assert _overflow(page) == "", path

    page.goto(f"{host}/contacts/")
    page.click("[data-testid=column-picker] summary")
    picker = page.locator("[data-testid=column-picker] form")
    assert picker.is_visible()
    box = picker.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert _overflow(page) == ""
    picker.get_by_label("Tags").uncheck()
    picker.get_by_role("button", name="Show these columns").click()
    page.wait_for_load_state()

    bar = page.locator("[data-testid=bulk-bar]")
    for control in ("[data-select-all]", "#bulk-owner", "#bulk-tag"):
        target = bar.locator(control)
        assert target.is_visible(), control
        spot = target.bounding_box()
        assert spot is not None and spot["x"] + spot["width"] <= PHONE["width"], control
    page.check("[data-select-all]")
    assert page.inner_text("[data-selected-count]") == "5 selected"
    page.fill("#bulk-tag", "phoned")
    bar.get_by_role("button", name="Add tag").click()
    page.wait_for_load_state()
    assert "Tag “phoned” added to 5 of 5 contacts." in page.content()
    context.close()
