"""Two-step verification in a real browser: an owner sets up an authenticator app (the code
computed from the secret the page shows), signs out and back in with password and code, and
requires MFA of the organization; a member without it is then sent to set it up before
anything else. A security key (Chromium's virtual authenticator) is added as a passkey and
signs in without a password."""

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

from tests.support.connections import run_on_own_connection

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"


def _totp(secret: str) -> str:
    """What an authenticator app shows now for `secret` (RFC 6238: 30-second steps)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


@pytest.fixture
def organization() -> Iterator[str]:
    """A committed organization with an owner and a member, both with confirmed addresses
    (setting up two-step verification asks for one); yields its slug."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from iam.models import Membership, Role, User
    from iam.services import user_email_confirm
    from tenants.models import Tenant
    from tenants.services import provision_tenant, tenant_delete
    from tests.factories import UserFactory

    slug = f"mfa-{uuid.uuid4().hex[:8]}"
    emails = [f"owner@{slug}.test", f"member@{slug}.test"]

    def setup() -> None:
        owner, member = (UserFactory(email=email) for email in emails)
        tenant = provision_tenant(slug=slug, name="Two Step Inc", owner=owner)
        Membership.objects.create(user=member, tenant=tenant, role=Role.MEMBER)
        for user in (owner, member):
            user_email_confirm(user=user)
            # Hashed as the server hashes (the suite's own processes use a faster hasher).
            user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
            user.save(update_fields=["password"])

    def cleanup() -> None:
        for tenant in Tenant.objects.filter(slug=slug):
            tenant_delete(tenant=tenant)
        User.objects.filter(email__in=emails).delete()

    run_on_own_connection(setup)
    try:
        yield slug
    finally:
        run_on_own_connection(cleanup)


def _sign_in(page: Any, host: str, email: str) -> None:
    page.goto(f"{host}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")


def test_an_authenticator_app_then_an_organization_that_requires_it(
    live_url: str, browser: Any, organization: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{organization}.localhost:{port}"
    owner_email = f"owner@{organization}.test"

    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, host, owner_email)
    page.wait_for_url(f"{host}/")

    # Set up the app from the Security page in the user menu.
    page.click("[data-testid=security-link]")
    page.wait_for_url(f"{host}/account/security/")
    page.click("[data-testid=totp-set-up]")
    page.wait_for_url(re.compile(r".*/accounts/reauthenticate/.*"))
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{host}/accounts/2fa/totp/activate/")
    secret = page.input_value("#authenticator_secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    page.fill("input[name=code]", _totp(secret))
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/2fa/.*"))
    page.goto(f"{host}/account/security/")
    assert "On: signing in asks for a second step" in page.inner_text("main")

    # Sign out, and back in: the password, then the app's code.
    page.click("header form button:has-text('Sign out')")
    _sign_in(page, host, owner_email)
    page.wait_for_url(f"{host}/accounts/2fa/authenticate/")
    page.fill("input[name=code]", _totp(secret))
    page.click("main form button[type=submit]:has-text('Sign In')")
    page.wait_for_url(f"{host}/")

    # Require it of everyone.
    page.goto(f"{host}/settings/security/")
    page.check("input[name=mfa_required]")
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=Security settings saved.")
    assert page.is_checked("input[name=mfa_required]")

    # A member without it is sent to set it up before anything else.
    member = browser.new_context().new_page()
    _sign_in(member, host, f"member@{organization}.test")
    member.wait_for_url(f"{host}/account/security/")
    assert "Two Step Inc requires two-step verification." in member.inner_text("main")
    member.goto(f"{host}/contacts/")
    member.wait_for_url(f"{host}/account/security/")
    fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert member.evaluate(fits)
    member.set_viewport_size({"width": 390, "height": 844})
    member.reload()
    assert member.evaluate(fits)


def test_a_security_key_added_as_a_passkey_signs_in_without_a_password(
    live_url: str, browser: Any, organization: str
) -> None:
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{organization}.localhost:{port}"
    context = browser.new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    _sign_in(page, host, f"member@{organization}.test")
    page.wait_for_url(f"{host}/")
    page.goto(f"{host}/account/security/")
    page.click("[data-testid=webauthn-add]")
    page.wait_for_url(re.compile(r".*/accounts/reauthenticate/.*"))
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{host}/accounts/2fa/webauthn/add/")
    page.check("input[name=passwordless]")
    page.click("#mfa_webauthn_add")
    page.wait_for_url(re.compile(r".*/accounts/2fa/.*(recovery-codes|webauthn)/?$"))
    page.goto(f"{host}/account/security/")
    assert "passkey" in page.inner_text("main")

    page.click("header form button:has-text('Sign out')")
    page.goto(f"{host}/accounts/login/")
    page.click("#passkey_login")
    page.wait_for_url(f"{host}/")
    assert f"member@{organization}.test" in page.content()
