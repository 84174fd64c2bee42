"""Single sign-on in a real browser: an owner verifies the company's domain against the
local DNS server, connects the local OpenID provider, tests it, switches it on and requires
it; a colleague then signs in through the provider and becomes a member just in time."""

import uuid
from typing import Any

import pytest

from iam.models import Membership, Role, User
from iam.sso.models import SsoConnection, SsoDomain
from tenants.models import Tenant
from tests.support.sso import LocalDns, oidc_provider, oidc_user_set  # noqa: F401 - fixture

from .test_accessibility import serious_violations
from .test_journeys import _sign_up

pytestmark = pytest.mark.django_db


def _authorize_at_provider(page: Any, sub: str) -> None:
    page.wait_for_selector("input[name=sub]")
    page.fill("input[name=sub]", sub)
    page.click("button:text('Authorize')")


def test_owner_sets_up_sso_and_a_colleague_signs_in_through_it(
    live_url: str,
    browser: Any,
    local_dns: LocalDns,
    oidc_provider: str,  # noqa: F811
) -> None:
    slug = f"e2e-sso-{uuid.uuid4().hex[:8]}"
    domain = f"{slug}.example"
    port = live_url.rsplit(":", 1)[1]
    host = f"http://{slug}.localhost:{port}"
    context = browser.new_context()
    page = context.new_page()
    _sign_up(page, live_url, slug, "SSO Journey Org")

    # 1. The domain: claim it, publish the record shown, verify it.
    page.goto(f"{host}/settings/sso/")
    page.fill("input[name=domain]", domain)
    page.click("button:text('Claim domain')")
    value = page.inner_text(f"[data-domain='{domain}'] [data-testid=txt-value]")
    local_dns.publish({f"_mycrm-challenge.{domain}": [value]})
    page.click(f"button[aria-label='Verify {domain}']")
    page.wait_for_selector(f"text={domain} is verified.")
    tenant = Tenant.objects.get(slug=slug)
    assert SsoDomain.objects.get(tenant=tenant, domain=domain).is_verified

    # 2. The connection to the local OpenID provider.
    page.click("a:text('Add OpenID Connect')")
    page.fill("input[name=name]", "Company IdP")
    page.fill("input[name=oidc_issuer]", oidc_provider)
    page.fill("input[name=oidc_client_id]", f"mycrm-{slug}")
    page.fill("input[name=oidc_client_secret]", "client-secret-1")
    page.click("form button:text('Save')")
    page.wait_for_selector("text=Test it before switching it on")
    connection = SsoConnection.objects.get(tenant=tenant)
    assert not connection.is_enabled

    # 3. Test it: the provider signs the owner in, the page shows what it sent.
    oidc_user_set(oidc_provider, "owner-at-idp", {"email": f"owner@{domain}", "groups": ["all"]})
    page.click("button[aria-label='Test connection Company IdP']")
    _authorize_at_provider(page, "owner-at-idp")
    page.wait_for_selector("[data-testid=sso-test-result]")
    assert page.inner_text("[data-testid=test-email]") == f"owner@{domain}"
    assert "domain verified" in page.content()

    # 4. Switch it on, and require single sign-on.
    page.click("button:text('Switch Company IdP on')")
    page.wait_for_selector("text=Company IdP is on.")
    page.click("button:text('Require single sign-on')")
    page.wait_for_selector("[data-testid=sso-required] :text('required')")
    connection.refresh_from_db()
    assert connection.is_enabled and connection.tested_at is not None

    # The pages fit a phone's width.
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/settings/sso/", f"/settings/sso/connections/{connection.pk}/", "/auth/sso/"):
        page.goto(f"{host}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        assert serious_violations(page) == [], path
    context.close()

    # 5. A colleague signs in through the provider and is made a member just in time.
    colleague = f"lee@{domain}"
    oidc_user_set(oidc_provider, "lee", {"email": colleague, "name": "Lee Colleague"})
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{host}/")
    assert "/accounts/login/" in page.url
    page.click("a:text('Sign in with SSO')")
    page.fill("input[name=email]", colleague)
    page.click("button:text('Continue')")
    _authorize_at_provider(page, "lee")
    page.wait_for_url(f"{host}/")
    user = User.objects.get(email=colleague)
    assert user.full_name == "Lee Colleague"
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.MEMBER
    context.close()
