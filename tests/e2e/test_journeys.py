"""A visitor signs an organization up in a real browser, lands in its workspace, adds a
contact, and cannot reach another organization's data."""

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from crm.models import Contact
from iam.models import User
from pii.fields import blind_index_for
from tenants.models import Tenant

from .conftest import mails_to, run_manage, sign_up_link

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db


def _sign_up(page: Any, live_url: str, slug: str, organization: str) -> None:
    """Sign `organization` up at `slug` as owner@<slug>.test, follow the link mailed to that
    address, and land in its workspace."""
    port = live_url.rsplit(":", 1)[1]
    page.goto(f"{live_url}/signup/")
    page.fill("input[name=organization_name]", organization)
    page.fill("input[name=slug]", slug)
    page.wait_for_selector("#slug-status :text('is available')")
    page.fill("input[name=full_name]", "Jo Owner")
    page.fill("input[name=email]", f"owner@{slug}.test")
    page.fill("input[name=password]", "a-Long-passphrase-42")
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_selector("[data-testid=signup-sent]")
    page.goto(sign_up_link(live_url, f"owner@{slug}.test"))
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_url(f"http://{slug}.localhost:{port}/")


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def test_sign_up_land_in_workspace_and_add_a_contact(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    context = browser.new_context()
    page = context.new_page()
    _sign_up(page, live_url, slug, "Journey Test Org")
    assert "Journey Test Org" in page.content()
    icon = page.get_attribute("link[rel=icon]", "href")
    assert icon is not None
    served = page.evaluate(
        "async (url) => { const r = await fetch(url); return [r.status, await r.text()]; }", icon
    )
    assert served[0] == 200 and served[1].startswith("<svg")
    assert not page.query_selector("[data-testid=email-unconfirmed]")  # the link confirmed it

    page.goto(f"http://{slug}.localhost:{port}/contacts/new/")
    page.fill("input[name=first_name]", "Ada")
    page.fill("input[name=last_name]", "Lovelace")
    page.fill("input[name=email]", "ada@engines.test")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"http://{slug}\.localhost:{port}/contacts/\d+/"))
    assert "ada@engines.test" in page.content()

    # A name that is one long word (a pasted id, say) wraps; the table stays within the page.
    page.goto(f"http://{slug}.localhost:{port}/contacts/new/")
    page.fill("input[name=first_name]", "X" * 100)
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"http://{slug}\.localhost:{port}/contacts/\d+/"))
    page.goto(f"http://{slug}.localhost:{port}/contacts/")
    assert page.locator("table.table tbody tr").count() == 2
    table_width = page.evaluate("document.querySelector('table.table').scrollWidth")
    assert table_width <= page.evaluate("document.documentElement.clientWidth")

    tenant = Tenant.objects.get(slug=slug)
    assert User.objects.get(email=f"owner@{slug}.test").memberships.get().tenant == tenant
    with tenant_context(tenant):
        ada = Contact.objects.get(email_index=blind_index_for(Contact, "email", "ada@engines.test"))
        assert ada.email == "ada@engines.test"
    with tenant_context(Tenant.objects.get(slug="alpha")):
        assert not Contact.objects.filter(last_name="Lovelace").exists()

    # Another organization's host: this browser is not signed in there, and its data is not
    # reachable; signing in as the new owner there is refused as a wrong password is.
    response = page.goto(f"http://alpha.localhost:{port}/contacts/")
    assert response is not None
    assert "/accounts/login/" in page.url
    page.fill("input[name=login]", f"owner@{slug}.test")
    page.fill("input[name=password]", "a-Long-passphrase-42")
    page.click("form:has(input[name=login]) button[type=submit]")
    page.wait_for_load_state()
    assert "/accounts/login/" in page.url
    assert "password you specified are not correct" in page.content()
    assert "Ada" not in page.content()
    api = page.goto(f"http://alpha.localhost:{port}/api/v1/contacts/")
    assert api is not None and api.status == 401  # not signed in there
    context.close()


def test_live_slug_check_reports_taken_and_reserved(live_url: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{live_url}/signup/")
    page.fill("input[name=slug]", "alpha")
    page.wait_for_selector("#slug-status :text('already taken')")
    page.fill("input[name=slug]", "admin")
    page.wait_for_selector("#slug-status :text('reserved')")
    page.close()


def test_owner_adds_a_sensitive_custom_field_and_a_duplicate_is_caught(
    live_url: str, browser: Any, slug: str
) -> None:
    """In the browser: a new owner defines a sensitive field, a contact gets a value that only
    ciphertext holds in the database, and a second contact with the same e-mail is refused."""
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context()
    page = context.new_page()
    _sign_up(page, live_url, slug, "Secret Keepers")

    page.click("nav >> text=Custom fields")
    page.wait_for_url(f"{host}/settings/custom-fields/")
    page.goto(f"{host}/settings/custom-fields/new/?entity=contact")
    page.fill("input[name=label]", "Passport number")
    page.fill("input[name=key]", "passport")
    page.select_option("select[name=type]", "text")
    page.check("input[name=sensitive]")
    page.click("form:has(input[name=label]) button[type=submit]")
    page.wait_for_url(f"{host}/settings/custom-fields/")
    assert "Passport number" in page.content()

    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Mata")
    page.fill("input[name=email]", "mata@hari.test")
    page.fill("input[name=custom_passport]", "NL-77-4410")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/\d+/"))
    assert "NL-77-4410" in page.content()

    page.goto(f"{host}/contacts/new/")
    page.fill("input[name=first_name]", "Copy")
    page.fill("input[name=email]", "MATA@hari.test")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_selector("text=already has the e-mail address")
    assert "/contacts/new/" in page.url

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        assert list(Contact.objects.values_list("first_name", flat=True)) == ["Mata"]
        with connection.cursor() as cur:
            cur.execute("SELECT email, custom::text, custom_sealed::text FROM crm_contact")
            email, plain, sealed = cur.fetchone()
    assert email.startswith("v1.") and "mata" not in email
    assert "NL-77-4410" not in plain + sealed and json.loads(sealed)["passport"].startswith("v1.")
    context.close()


def test_a_member_imports_a_spreadsheet_fixes_a_row_and_sees_the_duplicates_skipped(
    live_url: str, browser: Any, slug: str
) -> None:
    """In the browser: a CSV upload with a bad row imports nothing and names the row; the
    fixed file imports, its duplicate rows are skipped, and the contacts are listed."""
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context()
    page = context.new_page()
    _sign_up(page, live_url, slug, "Spreadsheet Lovers")

    def upload(text: str) -> None:
        page.goto(f"{host}/contacts/")
        page.click("text=Import")
        page.wait_for_url(f"{host}/contacts/import/")
        page.set_input_files(
            "input[name=file]",
            {"name": "people.csv", "mimeType": "text/csv", "buffer": text.encode()},
        )
        page.click("[data-testid=import-upload]")  # the columns, as their headings propose
        page.wait_for_selector("[data-testid=import-mapping]")
        page.click("[data-testid=import-run]")

    upload("Name;E-mail;Company\nAda Lovelace;ada@engine.test;Engines\nGrace Hopper;grace@;\n")
    page.wait_for_selector("[data-testid=row-errors]")
    assert "Row 3, E-mail" in page.inner_text("[data-testid=row-errors]")
    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant):
        assert not Contact.objects.exists()

    upload(
        "Name;E-mail;Company\nAda Lovelace;ada@engine.test;Engines\n"
        "Grace Hopper;grace@cobol.test;\nAda again; ADA@engine.test ;\n"
    )
    page.wait_for_selector("[data-testid=import-counts]")
    assert page.inner_text("[data-count=created]") == "2"
    assert page.inner_text("[data-count=skipped]") == "1"
    assert "Same contact as row 2" in page.content()
    page.click("text=See contacts")
    page.wait_for_url(f"{host}/contacts/")
    rows = page.inner_text("#contact-rows")
    assert "Ada Lovelace" in rows and "Grace Hopper" in rows and "Engines" in rows
    with tenant_context(tenant):
        assert Contact.objects.count() == 2
    context.close()


def test_an_owner_invites_a_colleague_who_joins(
    live_url: str, live_mailbox: Path, browser: Any, slug: str
) -> None:
    """In the browser: the owner, whose address the sign-up link confirmed, invites a
    colleague, whose link makes their account and opens the workspace, as a member."""
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    owner_context = browser.new_context()
    owner = owner_context.new_page()
    _sign_up(owner, live_url, slug, "Invite Journey")
    assert not owner.query_selector("[data-testid=email-unconfirmed]")
    assert len(mails_to(live_mailbox, f"owner@{slug}.test")) == 1  # the sign-up link only

    owner.click("nav >> text=Members")
    owner.fill("input[name=email]", f"colleague@{slug}.test")
    owner.click("form:has(input[name=email]) button[type=submit]")
    owner.wait_for_selector(f"text=Invitation sent to colleague@{slug}.test")

    (invitation,) = mails_to(live_mailbox, f"colleague@{slug}.test")
    link = re.search(rf"{re.escape(live_url)}/invitations/\S+/", invitation)
    assert link and "Invite Journey" in invitation
    colleague_context = browser.new_context()
    colleague = colleague_context.new_page()
    colleague.goto(link.group(0))
    colleague.fill("input[name=full_name]", "Cole League")
    colleague.fill("input[name=password]", "a-Long-passphrase-43")
    colleague.click("main form button[type=submit]")
    colleague.wait_for_url(f"{host}/")
    assert "Invite Journey" in colleague.content()
    assert not colleague.query_selector("nav >> text=Members")  # a member, not an admin
    assert not colleague.query_selector("[data-testid=email-unconfirmed]")

    owner.goto(f"{host}/settings/members/")
    assert f"colleague@{slug}.test" in owner.inner_text("[data-testid=members]")
    owner_context.close()
    colleague_context.close()


def test_one_sign_in_on_a_workspace_serves_the_public_site_and_the_other_workspaces(
    live_url: str, live_env: dict[str, str], browser: Any, slug: str
) -> None:
    """In the browser: signed in on one organization's host only, *All workspaces* lands on
    the public site signed in, and another workspace opens from there without signing in
    again; every session cookie stays on the host that set it."""
    port = live_url.rsplit(":", 1)[1]
    other = f"{slug}-two"
    for each, name in ((slug, "First Workspace"), (other, "Second Workspace")):
        run_manage(
            live_env,
            *("create_tenant", "--slug", each, "--name", name),
            *("--owner-email", f"owner@{slug}.test", "--owner-password", "a-Long-passphrase-42"),
        )
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"http://{slug}.localhost:{port}/accounts/login/")
    page.fill("input[name=login]", f"owner@{slug}.test")
    page.fill("input[name=password]", "a-Long-passphrase-42")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"http://{slug}.localhost:{port}/")

    page.click("footer >> text=All workspaces")
    page.wait_for_url(f"{live_url}/workspaces/")
    listed = page.inner_text("main")
    assert f"owner@{slug}.test" in listed
    assert "First Workspace" in listed and "Second Workspace" in listed

    page.click(f"a[href='/workspaces/{other}/open/']")
    page.wait_for_url(f"http://{other}.localhost:{port}/")
    assert "Second Workspace" in page.content()
    assert page.query_selector("nav[aria-label=Main] >> text=Contacts")

    sessions = [c for c in context.cookies() if c["name"] == "sessionid"]
    assert {c["domain"] for c in sessions} == {
        f"{slug}.localhost",
        "localhost",
        f"{other}.localhost",
    }
    context.close()
