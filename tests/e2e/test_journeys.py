"""A visitor signs an organization up in a real browser, lands in its workspace, adds a
contact, and cannot reach another organization's data."""

import re
import uuid
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from crm.models import Contact
from iam.models import User
from pii.fields import blind_index_for
from tenants.models import Tenant

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db


@pytest.fixture
def slug() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def test_sign_up_land_in_workspace_and_add_a_contact(
    live_url: str, browser: Any, slug: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_url}/signup/")
    page.fill("input[name=organization_name]", "Journey Test Org")
    page.fill("input[name=slug]", slug)
    page.wait_for_selector("#slug-status :text('is available')")
    page.fill("input[name=full_name]", "Jo Journey")
    page.fill("input[name=email]", f"owner@{slug}.test")
    page.fill("input[name=password]", "a-Long-passphrase-42")
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_url(f"http://{slug}.localhost:{port}/")
    assert "Journey Test Org" in page.content()

    page.goto(f"http://{slug}.localhost:{port}/contacts/new/")
    page.fill("input[name=first_name]", "Ada")
    page.fill("input[name=last_name]", "Lovelace")
    page.fill("input[name=email]", "ada@engines.test")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"http://{slug}\.localhost:{port}/contacts/\d+/"))
    assert "ada@engines.test" in page.content()

    tenant = Tenant.objects.get(slug=slug)
    assert User.objects.get(email=f"owner@{slug}.test").memberships.get().tenant == tenant
    with tenant_context(tenant):
        ada = Contact.objects.get(email_index=blind_index_for(Contact, "email", "ada@engines.test"))
        assert ada.email == "ada@engines.test"
    with tenant_context(Tenant.objects.get(slug="alpha")):
        assert not Contact.objects.filter(last_name="Lovelace").exists()

    # Another organization's host: this browser is not signed in there, and its data is not
    # reachable; signing in as the new owner there is refused with a 403 page.
    response = page.goto(f"http://alpha.localhost:{port}/contacts/")
    assert response is not None
    assert "/accounts/login/" in page.url
    page.fill("input[name=login]", f"owner@{slug}.test")
    page.fill("input[name=password]", "a-Long-passphrase-42")
    page.click("form:has(input[name=login]) button[type=submit]")
    page.wait_for_load_state()
    assert "not a member" in page.content()
    assert "Ada" not in page.content()
    api = page.goto(f"http://alpha.localhost:{port}/api/v1/contacts/")
    assert api is not None and api.status == 403
    context.close()


def test_live_slug_check_reports_taken_and_reserved(live_url: str, browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{live_url}/signup/")
    page.fill("input[name=slug]", "alpha")
    page.wait_for_selector("#slug-status :text('already taken')")
    page.fill("input[name=slug]", "admin")
    page.wait_for_selector("#slug-status :text('reserved')")
    page.close()
