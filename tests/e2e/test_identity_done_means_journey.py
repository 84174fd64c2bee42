"""Access and identity's "done means", its closing part, as one story in a real browser: the
owner verifies the company's e-mail domain by its DNS record, connects the company's OpenID
provider (tested before it is switched on), requires two-step verification and single
sign-on; a colleague signs in through the provider, becomes a member just in time and is
sent to set up an authenticator app before anything else, and gives its code after the
provider at her next sign-in; the owner makes a SCIM token, and
the identity provider creates, switches off and removes a member over SCIM; the owner finds
every one of those actions in the audit log, and `manage.py audit_verify` says the chain
holds.

Everything outside the product is a real local server: the DNS server, oidc-provider-mock,
and the identity provider's SCIM client is plain HTTP from this test to the live server."""

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import requests
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

from iam.models import Membership, Role, User
from tenants.models import Tenant
from tests.support.connections import run_on_own_connection
from tests.support.manage import manage
from tests.support.sso import LocalDns, oidc_provider, oidc_user_set  # noqa: F401 - fixture

# The server commits to the throw-away test database; this test's own transaction only reads.
pytestmark = pytest.mark.django_db

PASSWORD = "a-Long-passphrase-42"
SCIM_JSON = "application/scim+json"


def _totp(secret: str) -> str:
    """What an authenticator app shows for `secret` (RFC 6238: 30-second steps), read as a
    person would: not in a step's last seconds, when the code could expire on its way."""
    left = 30 - time.time() % 30
    if left < 3:
        time.sleep(left + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _password_sign_in(page: Any, host: str, email: str) -> None:
    page.goto(f"{host}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")


def _authorize_at_provider(page: Any, sub: str) -> None:
    page.wait_for_selector("input[name=sub]")
    page.fill("input[name=sub]", sub)
    page.click("button:text('Authorize')")


def _sso_sign_in(page: Any, host: str, email: str, sub: str) -> None:
    """Start at the organization's sign-in page, as a member would, and sign in at the
    identity provider as `sub`."""
    page.goto(f"{host}/")
    assert "/accounts/login/" in page.url
    page.click("a:text('Sign in with SSO')")
    page.fill("input[name=email]", email)
    page.click("button:text('Continue')")
    _authorize_at_provider(page, sub)


def _authenticator_app_set_up(page: Any, host: str, *, password: str | None) -> str:
    """Set up an authenticator app from the Security page; its secret. Whoever has a
    password gives it again first."""
    page.goto(f"{host}/account/security/")
    page.click("[data-testid=totp-set-up]")
    if password is not None:
        page.wait_for_url(re.compile(r".*/accounts/reauthenticate/.*"))
        page.fill("input[name=password]", password)
        page.click("main form button[type=submit]")
    page.wait_for_url(f"{host}/accounts/2fa/totp/activate/")
    secret = page.input_value("#authenticator_secret")
    page.fill("input[name=code]", _totp(secret))
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/2fa/.*"))
    page.goto(f"{host}/account/security/")
    assert "On: signing in asks for a second step" in page.inner_text("main")
    return secret


def _audit_rows(page: Any, host: str, action: str) -> list[str]:
    """The audit log's entries (their text, newest first) whose action is or starts with
    `action`, searched for on the page as an owner would."""
    page.goto(f"{host}/settings/audit/")
    page.fill("input[name=action]", action)
    page.click("form[data-testid=audit-search] button[type=submit]")
    page.wait_for_url(re.compile(rf".*action={re.escape(action)}.*"))
    return [str(t) for t in page.locator("[data-testid=audit-events] > li").all_inner_texts()]


def _rows_with(rows: list[str], action: str, *words: str) -> list[str]:
    """The entries of `action` that mention every one of `words`."""
    return [r for r in rows if r.split()[0] == action and all(w in r for w in words)]


def _member_rows(page: Any, host: str) -> str:
    page.goto(f"{host}/settings/members/")
    return str(page.inner_text("[data-testid=members]"))


@pytest.fixture
def organization() -> Iterator[str]:
    """A committed organization whose owner has a confirmed address (setting up a second
    factor asks for one) and a password hashed as the server hashes; yields its slug.
    Deleted afterwards with everyone the journey made in it."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from iam.services import user_email_confirm
    from tenants.services import provision_tenant, tenant_delete
    from tests.factories import UserFactory

    slug = f"idn-{uuid.uuid4().hex[:8]}"

    def setup() -> None:
        owner = cast(User, UserFactory(email=f"owner@{slug}.test", full_name="Ada Owner"))
        provision_tenant(slug=slug, name="Identity Done Inc", owner=owner)
        user_email_confirm(user=owner)
        owner.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
        owner.save(update_fields=["password"])

    def cleanup() -> None:
        for tenant in Tenant.objects.filter(slug=slug):
            tenant_delete(tenant=tenant)
        User.objects.filter(email__endswith=f"@{slug}.example").delete()
        User.objects.filter(email=f"owner@{slug}.test").delete()

    run_on_own_connection(setup)
    try:
        yield slug
    finally:
        run_on_own_connection(cleanup)


def test_the_company_verifies_its_domain_connects_sso_with_mfa_and_provisions_over_scim(
    live_url: str,
    live_env: dict[str, str],
    browser: Any,
    organization: str,
    local_dns: LocalDns,
    oidc_provider: str,  # noqa: F811
) -> None:
    slug = organization
    domain = f"{slug}.example"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    tenant = Tenant.objects.get(slug=slug)
    owner_context = browser.new_context()
    owner = owner_context.new_page()
    _password_sign_in(owner, host, f"owner@{slug}.test")
    owner.wait_for_url(f"{host}/")

    # 1. The company's domain, proved by the TXT record the page asks for.
    owner.goto(f"{host}/settings/sso/")
    owner.fill("input[name=domain]", domain)
    owner.click("button:text('Claim domain')")
    value = owner.inner_text(f"[data-domain='{domain}'] [data-testid=txt-value]")
    assert value.startswith("mycrm-verify=")
    local_dns.publish({f"_mycrm-challenge.{domain}": [value]})
    owner.click(f"button[aria-label='Verify {domain}']")
    owner.wait_for_selector(f"text={domain} is verified.")

    # 2. The connection to the company's OpenID provider: saved, tested, switched on.
    owner.click("a:text('Add OpenID Connect')")
    owner.fill("input[name=name]", "Company IdP")
    owner.fill("input[name=oidc_issuer]", oidc_provider)
    owner.fill("input[name=oidc_client_id]", f"mycrm-{slug}")
    owner.fill("input[name=oidc_client_secret]", "client-secret-1")
    owner.click("form button:text('Save')")
    owner.wait_for_selector("text=Test it before switching it on")
    oidc_user_set(oidc_provider, f"{slug}-owner", {"email": f"owner@{domain}"})
    owner.click("button[aria-label='Test connection Company IdP']")
    _authorize_at_provider(owner, f"{slug}-owner")
    owner.wait_for_selector("[data-testid=sso-test-result]")
    assert owner.inner_text("[data-testid=test-email]") == f"owner@{domain}"
    assert "domain verified" in owner.content()
    owner.click("button:text('Switch Company IdP on')")
    owner.wait_for_selector("text=Company IdP is on.")

    # MFA for everyone: refused while the owner has no second factor, then required.
    owner.goto(f"{host}/settings/security/")
    owner.check("input[name=mfa_required]")
    owner.click("main form button[type=submit]")
    assert "Set up two-step verification for your own account first" in owner.inner_text("main")
    owner_secret = _authenticator_app_set_up(owner, host, password=PASSWORD)
    owner.goto(f"{host}/settings/security/")
    owner.check("input[name=mfa_required]")
    owner.click("main form button[type=submit]")
    owner.wait_for_selector("text=Security settings saved.")
    assert owner.is_checked("input[name=mfa_required]")

    # ...and single sign-on as the way in (owners keep their password to get back in).
    owner.goto(f"{host}/settings/sso/")
    owner.click("button:text('Require single sign-on')")
    owner.wait_for_selector("[data-testid=sso-required] :text('required')")

    # 3. A colleague signs in through the provider: made a member just in time, then sent to
    # set up two-step verification before anything else (no password to give again: the
    # provider vouched for her a moment ago).
    colleague_email = f"lee@{domain}"
    oidc_user_set(oidc_provider, f"{slug}-lee", {"email": colleague_email, "name": "Lee Jit"})
    colleague_context = browser.new_context()
    colleague = colleague_context.new_page()
    _sso_sign_in(colleague, host, colleague_email, f"{slug}-lee")
    colleague.wait_for_url(f"{host}/account/security/")
    assert "Identity Done Inc requires two-step verification." in colleague.inner_text("main")
    colleague.goto(f"{host}/contacts/")
    colleague.wait_for_url(f"{host}/account/security/")
    lee = User.objects.get(email=colleague_email)
    assert not lee.has_usable_password()
    assert Membership.objects.get(user=lee, tenant=tenant).role == Role.MEMBER
    lee_secret = _authenticator_app_set_up(colleague, host, password=None)
    colleague.goto(f"{host}/contacts/")
    assert colleague.url == f"{host}/contacts/"
    assert colleague_email in colleague.inner_text("header")
    colleague_context.close()

    # Her next sign-in through the provider asks for the app's code too, as a password would.
    colleague_context = browser.new_context()
    colleague = colleague_context.new_page()
    _sso_sign_in(colleague, host, colleague_email, f"{slug}-lee")
    colleague.wait_for_url(f"{host}/accounts/2fa/authenticate/")
    colleague.fill("input[name=code]", _totp(lee_secret))
    colleague.click("main form button[type=submit]:has-text('Sign In')")
    colleague.wait_for_url(f"{host}/")
    assert colleague_email in colleague.inner_text("header")

    # With single sign-on required, the owner's password (and app code) still opens the door.
    colleague_context.close()
    owner.click("header form button:has-text('Sign out')")
    _password_sign_in(owner, host, f"owner@{slug}.test")
    owner.wait_for_url(f"{host}/accounts/2fa/authenticate/")
    owner.fill("input[name=code]", _totp(owner_secret))
    owner.click("main form button[type=submit]:has-text('Sign In')")
    owner.wait_for_url(f"{host}/")

    # 4. A SCIM token, read from the page it is shown on once.
    owner.goto(f"{host}/settings/scim/")
    owner.fill("input[name=name]", "Company IdP")
    owner.click("button:text('Create token')")
    owner.wait_for_selector("#new-token")
    token = owner.inner_text("#new-token").strip()
    base_url = owner.inner_text("[data-testid=scim-base-url]").strip()
    assert base_url == f"{host}/scim/v2"
    scim = requests.Session()
    scim.headers.update(
        {
            "Host": f"{slug}.localhost:{port}",
            "Authorization": f"Bearer {token}",
            "Content-Type": SCIM_JSON,
            "Accept": SCIM_JSON,
        }
    )
    users_url = f"http://127.0.0.1:{port}/scim/v2/Users"

    # The identity provider creates a member...
    sam_email = f"sam@{domain}"
    created = scim.post(
        users_url,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": sam_email,
            "name": {"givenName": "Sam", "familyName": "Provisioned"},
            "emails": [{"value": sam_email, "primary": True}],
            "externalId": "idp-sam-1",
            "active": True,
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    sam_id = created.json()["id"]
    assert created.json()["active"] is True
    assert sam_email in _member_rows(owner, host)
    # The new member signs in through the provider (asked to set up MFA, like everyone).
    oidc_user_set(oidc_provider, f"{slug}-sam", {"email": sam_email, "name": "Sam"})
    sam_context = browser.new_context()
    sam = sam_context.new_page()
    _sso_sign_in(sam, host, sam_email, f"{slug}-sam")
    sam.wait_for_url(f"{host}/account/security/")
    assert "requires two-step verification" in sam.inner_text("main")

    # ...switches them off: their open session ends at once, the page says so, and the
    # identity provider can't sign them in again...
    switched_off = scim.patch(
        f"{users_url}/{sam_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
        timeout=10,
    )
    assert switched_off.status_code == 200, switched_off.text
    assert switched_off.json()["active"] is False
    answer = sam.goto(f"{host}/contacts/")
    assert answer is not None and answer.status == 403
    # Told that their access was switched off, not that they never belonged.
    assert "Your access to Identity Done Inc is switched off" in sam.inner_text("main")
    assert sam_email not in _member_rows(owner, host)
    switched_off_rows = owner.inner_text("[data-testid=switched-off]")
    assert sam_email in switched_off_rows and "switched off" in switched_off_rows
    sam_context.close()
    sam_context = browser.new_context()
    sam = sam_context.new_page()
    _sso_sign_in(sam, host, sam_email, f"{slug}-sam")
    sam.wait_for_selector("text=Your membership of this organization is switched off.")
    assert sam.url.startswith(f"{host}/auth/sso/")
    sam.goto(f"{host}/")
    assert "/accounts/login/" in sam.url
    sam_context.close()

    # ...and removes them: gone from the page, and from SCIM.
    removed = scim.delete(f"{users_url}/{sam_id}", timeout=10)
    assert removed.status_code == 204, removed.text
    _member_rows(owner, host)
    assert sam_email not in owner.inner_text("main")
    assert scim.get(f"{users_url}/{sam_id}", timeout=10).status_code == 404
    # The SCIM page tells the owner the token is in use.
    owner.goto(f"{host}/settings/scim/")
    token_row = owner.locator("tr", has_text="Company IdP").inner_text()
    assert "Never" not in token_row and "ago" in token_row, token_row

    # 5. Every one of those actions is in the audit log, found by searching it.
    sso_rows = _audit_rows(owner, host, "sso.")
    assert _rows_with(sso_rows, "sso.domain_verified", domain)
    for action in ("sso.connection_created", "sso.connection_tested", "sso.connection_enabled"):
        assert _rows_with(sso_rows, action, "Company IdP"), action
    assert _rows_with(sso_rows, "sso.required_changed", "sso_required", "False → True")
    assert _rows_with(sso_rows, "sso.member_created", f"member “{colleague_email}”", "SSO")
    assert len(_rows_with(sso_rows, "sso.signed_in", colleague_email, "SSO")) == 2
    assert _rows_with(sso_rows, "sso.sign_in_failed", sam_email, "switched off")
    mfa_rows = _audit_rows(owner, host, "security_settings.updated")
    assert _rows_with(mfa_rows, "security_settings.updated", "mfa_required", "False → True")
    member_rows = _audit_rows(owner, host, "member.")
    for action in ("member.provisioned", "member.deactivated", "member.deprovisioned"):
        assert _rows_with(member_rows, action, sam_email, "SCIM"), action

    # 6. The chain verifies, checked as an operator would, from the command line.
    done = manage(live_env, "audit_verify", "--tenant", slug)
    assert re.fullmatch(r"chain holds: \d+ events", done.stdout.strip()), done.stdout
    assert int(done.stdout.split()[2]) >= 15
    owner_context.close()
