"""Operator impersonation in a real browser: an operator opens an organization in the operator
admin, acts as one of its members with a reason, sees the banner on every page (at a phone's
width too), edits a contact, and ends it; the organization's owner then reads the start, the
edit (through "operator", naming the operator) and the end in the audit log."""

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Permission

from iam.models import Membership, Role, User
from tenants.models import Tenant
from tests.support.connections import run_on_own_connection

from .test_accessibility import serious_violations

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"
REASON = "Ticket 8812: contact names look wrong"


def _hashed() -> str:
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(PASSWORD, hasher.salt())


@pytest.fixture
def organization() -> Iterator[str]:
    """A committed organization with an owner and a member, and an operator who may act as
    members (passwords hashed as the server hashes); yields its slug."""
    from tenants.services import provision_tenant, tenant_delete
    from tests.factories import UserFactory

    slug = f"imp-{uuid.uuid4().hex[:8]}"

    def setup() -> None:
        owner = UserFactory(email=f"owner@{slug}.test")
        tenant = provision_tenant(slug=slug, name="Acted Upon Ltd", owner=owner)
        member = UserFactory(email=f"member@{slug}.test")
        Membership.objects.create(user=member, tenant=tenant, role=Role.MEMBER)
        operator = UserFactory(email=f"ops@{slug}.example")
        operator.is_staff = True
        for user in (owner, operator):
            user.password = _hashed()
        owner.save(update_fields=["password"])
        operator.save(update_fields=["password", "is_staff"])
        operator.user_permissions.add(
            *Permission.objects.filter(
                codename__in=["impersonate_member", "view_tenant", "change_tenant"]
            )
        )

    def cleanup() -> None:
        for tenant in Tenant.objects.filter(slug=slug):
            tenant_delete(tenant=tenant)
        User.objects.filter(email__endswith=f"@{slug}.test").delete()
        User.objects.filter(email__endswith=f"@{slug}.example").delete()

    run_on_own_connection(setup)
    try:
        yield slug
    finally:
        run_on_own_connection(cleanup)


def _fits(page: Any) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


def test_an_operator_acts_as_a_member_and_the_owner_reads_it_in_the_audit_log(
    live_url: str, browser: Any, organization: str
) -> None:
    slug = organization
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    tenant_id = Tenant.objects.get(slug=slug).pk

    # The operator signs in to the operator admin and opens the organization.
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{live_url}/admin/login/")
    page.fill("input[name=username]", f"ops@{slug}.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{live_url}/admin/tenants/tenant/{tenant_id}/change/")
    page.click("[data-testid=act-as-member]")

    # A reason is required.
    page.select_option("select[name=member]", label=f"member@{slug}.test (Member)")
    page.click("input[type=submit][value='Act as this member']")
    assert "This field is required." in page.content()

    page.select_option("select[name=member]", label=f"member@{slug}.test (Member)")
    page.fill("textarea[name=reason]", REASON)
    page.click("input[type=submit][value='Act as this member']")
    page.wait_for_url(f"{host}/")
    banner = page.locator("[data-testid=impersonation-banner]")
    assert f"member@{slug}.test" in banner.inner_text()
    assert f"ops@{slug}.example" in banner.inner_text()
    assert _fits(page)
    assert serious_violations(page) == []

    # Edits a contact as the member; the banner stays on every page.
    page.goto(f"{host}/contacts/new/")
    assert page.locator("[data-testid=impersonation-banner]").count() == 1
    page.fill("input[name=first_name]", "Grace")
    page.fill("input[name=last_name]", "Hoper")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(host)}/contacts/(\d+)/"))
    contact_url = page.url
    page.goto(f"{contact_url}edit/")
    page.fill("input[name=last_name]", "Hopper")
    page.click("form:has(input[name=first_name]) button[type=submit]")
    page.wait_for_url(contact_url)
    assert "Hopper" in page.content()
    assert _fits(page)

    # A sensitive page is refused.
    page.goto(f"{host}/accounts/password/change/")
    assert "Not while an operator acts as this member." in page.content()

    # End: back in the operator admin, signed out of the organization.
    page.goto(f"{host}/")
    page.click("[data-testid=impersonation-banner] button:text('End')")
    page.wait_for_url(re.compile(rf"{re.escape(live_url)}/admin/.*"))
    page.goto(f"{host}/contacts/")
    assert "/accounts/login/" in page.url
    context.close()

    # The owner reads all of it in the audit log, at a laptop's width.
    owner = browser.new_context(viewport={"width": 1280, "height": 800})
    page = owner.new_page()
    page.goto(f"{host}/accounts/login/")
    page.fill("input[name=login]", f"owner@{slug}.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{host}/")
    page.goto(f"{host}/settings/audit/")
    events = page.inner_text("[data-testid=audit-events]")
    for text in (
        "operator.impersonation_started",
        "operator.impersonation_ended",
        "contact.updated",
        REASON,
        f"ops@{slug}.example as member@{slug}.test",
    ):
        assert text in events, text
    assert _fits(page)

    # ...and, at a phone's width, switches operator access off in Security settings.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{host}/settings/security/")
    page.uncheck("#id_operator_access_allowed")
    page.click("[data-testid=operator-access] button[type=submit]")
    page.wait_for_url(f"{host}/settings/security/")
    assert "can no longer act as members" in page.content()
    assert not page.is_checked("#id_operator_access_allowed")
    assert REASON in page.inner_text("[data-testid=operator-visits]")
    assert _fits(page)
    assert serious_violations(page) == []
    owner.close()
