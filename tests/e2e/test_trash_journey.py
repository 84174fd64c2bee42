"""In a real browser: a contact deleted from its page waits in the Trash and comes back with
Restore; two duplicate contacts are merged, choosing the record that stays and a value of
the other; on a phone the Trash and the merge pages fit the screen and pass axe-core."""

import re
import uuid
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from crm.models import Contact
from tenants.models import Tenant

from .test_accessibility import SIZES, serious_violations
from .test_journeys import _sign_up
from .test_phone_layout import _overflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def _new_contact(page: Any, host: str, first: str, last: str, email: str, title: str) -> str:
    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", first)
    page.fill("input[name=last_name]", last)
    page.fill("input[name=email]", email)
    page.fill("input[name=title]", title)
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))
    return str(page.url)


def test_delete_a_contact_find_it_in_the_trash_and_restore_it(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Trash Journey Org")
    url = _new_contact(page, host, "Zoë", "Müller", "zoe@example.test", "Buyer")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/delete/'] button:has-text('Delete')")
    page.wait_for_url(f"{host}/contacts/")
    assert "moved to the trash" in page.content()
    assert page.goto(url).status == 404

    page.goto(f"{host}/")
    page.click("nav[aria-label=Main] >> text=Trash")
    page.wait_for_url(f"{host}/trash/")
    entry = page.locator("[data-testid=trash-entry]", has_text="Zoë Müller")
    assert "Deleted by Jo Owner" in entry.inner_text()
    assert "29 days left" in entry.inner_text()
    entry.locator("button:has-text('Restore')").click()
    page.wait_for_url(url)
    assert "Zoë Müller" in page.content()
    assert "restored" in page.content()
    page.goto(f"{host}/trash/")
    assert page.locator("[data-testid=trash-entry]").count() == 0
    context.close()


def test_merge_two_contacts_choosing_the_survivor_and_a_field(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["laptop"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Merge Journey Org")
    first = _new_contact(page, host, "Grace", "Hopper", "grace@old.test", "Rear admiral")
    second = _new_contact(page, host, "Grace", "Hopper", "grace@navy.test", "Admiral")
    first_id = int(first.rstrip("/").rsplit("/", 1)[1])
    second_id = int(second.rstrip("/").rsplit("/", 1)[1])

    page.goto(first)
    page.click(f"a[href='/merge/contact/{first_id}/']")
    page.wait_for_url(f"{host}/merge/contact/{first_id}/")
    page.fill("#merge-search", "hopper")
    page.click("button:has-text('Find')")
    page.locator("[data-testid=merge-candidates] a:has-text('Compare')").click()
    page.wait_for_url(f"{host}/merge/contact/{first_id}/{second_id}/")
    form = page.locator("[data-testid=merge-form]")
    form.locator(f"input[name=survivor][value='{second_id}']").check()
    form.locator(f"input[name=title][value='{second_id}']").check()
    form.locator(f"input[name=email][value='{first_id}']").check()
    form.locator("button:has-text('Merge')").click()
    page.wait_for_url(second)
    assert "Merged" in page.content()
    assert "grace@old.test" in page.content() and "Admiral" in page.content()

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        kept = Contact.objects.get(pk=second_id)
        assert (kept.email, kept.title) == ("grace@old.test", "Admiral")
        assert Contact.trashed.filter(pk=first_id).exists()
    page.goto(f"{host}/trash/")
    assert page.locator("[data-testid=trash-entry]", has_text="Grace Hopper").count() == 1
    context.close()


def test_on_a_phone_the_trash_and_merge_pages_fit_and_are_accessible(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context(viewport=SIZES["phone"])
    page = context.new_page()
    _sign_up(page, live_url, slug, "Pocket Trash Org")
    first = _new_contact(
        page, host, "Augusta Ada", "King-Noel Lovelace", "augusta.ada@engines.test", "Countess"
    )
    second = _new_contact(
        page, host, "Ada", "Lovelace", "ada.lovelace.with.a.long.address@engines.test", "Writer"
    )
    first_id = first.rstrip("/").rsplit("/", 1)[1]
    second_id = second.rstrip("/").rsplit("/", 1)[1]

    for url in (
        f"{host}/merge/contact/{first_id}/?q=lovelace",
        f"{host}/merge/contact/{first_id}/{second_id}/",
    ):
        page.goto(url)
        assert _overflow(page) == "", url
        assert serious_violations(page) == [], url

    page.goto(second)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/delete/'] button:has-text('Delete')")
    page.wait_for_url(f"{host}/contacts/")
    page.goto(f"{host}/trash/")
    assert page.locator("[data-testid=trash-entry]").count() == 1
    assert _overflow(page) == ""
    assert serious_violations(page) == []
    context.close()
