"""Signing in from one host on another: a one-time link that only the browser which asked for
it can use, from the public site to a workspace and from a workspace back to the public site.
Session cookies stay on the host that set them."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from iam.exceptions import HandoffInvalid
from iam.models import Membership, Role, User
from iam.services import handoff_redeem, handoff_state_new, handoff_url
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD
from tests.support.browser import Browser

pytestmark = pytest.mark.django_db

PUBLIC = f"http://{settings.BASE_DOMAIN}"


def _is_handoff_link(url: str) -> bool:
    return urlsplit(url).path == "/auth/handoff/" and "token=" in url


def _signed_in_on_public(user: User) -> Browser:
    browser = Browser()
    browser.client(settings.BASE_DOMAIN).force_login(user)
    return browser


def _signed_in_on(tenant: Tenant, user: User) -> Browser:
    """A browser that signed in with the password on the organization's host only."""
    browser = Browser()
    answer = browser.post(
        f"http://{host_of(tenant)}/accounts/login/", {"login": user.email, "password": PASSWORD}
    )
    assert answer.status_code == 200 and answer.wsgi_request.user == user
    return browser


def _all_workspaces_link(browser: Browser, tenant: Tenant) -> str:
    page = browser.get(f"http://{host_of(tenant)}/")
    found = re.search(r'<a href="([^"]+)"[^>]*>All workspaces</a>', page.content.decode())
    assert found, "no All workspaces link in the footer"
    return found.group(1).replace("&amp;", "&")


def test_opening_a_workspace_signs_in_there(tenant_a: Tenant, member_a: User) -> None:
    browser = _signed_in_on_public(member_a)
    page = browser.get(f"{PUBLIC}/workspaces/alpha/open/")
    assert page.status_code == 200
    assert urlsplit(browser.url).hostname == host_of(tenant_a)
    assert page.wsgi_request.user == member_a
    assert b"Alpha Inc" in page.content


def test_handoff_link_is_refused_in_a_browser_that_did_not_ask_for_it(
    tenant_a: Tenant, member_a: User
) -> None:
    """Login CSRF: someone gets a link for their own account and has another browser open it.
    That browser must not end up signed in as them."""
    attacker = _signed_in_on_public(member_a)
    attacker.get(f"{PUBLIC}/workspaces/alpha/open/", until=_is_handoff_link)
    link = attacker.url

    victim = Browser()
    page = victim.get(link)
    assert page.status_code == 400
    assert not page.wsgi_request.user.is_authenticated
    assert victim.get(f"http://{host_of(tenant_a)}/contacts/").status_code == 200
    assert victim.url.startswith(f"http://{host_of(tenant_a)}/accounts/login/")


def test_handoff_link_works_once(tenant_a: Tenant, member_a: User) -> None:
    browser = _signed_in_on_public(member_a)
    browser.get(f"{PUBLIC}/workspaces/alpha/open/", until=_is_handoff_link)
    link = browser.url
    assert browser.get(link).wsgi_request.user == member_a
    browser.client(host_of(tenant_a)).logout()
    assert browser.get(link).status_code == 400


def test_handoff_link_of_a_is_useless_at_b(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    Membership.objects.create(user=member_a, tenant=tenant_b, role=Role.MEMBER)
    browser = _signed_in_on_public(member_a)
    browser.get(f"{PUBLIC}/workspaces/alpha/open/", until=_is_handoff_link)
    link_to_a = urlsplit(browser.url)
    browser.get(f"{PUBLIC}/workspaces/beta/open/", until=_is_handoff_link)  # b's nonce is set
    response = browser.get(f"http://{host_of(tenant_b)}/auth/handoff/?{link_to_a.query}")
    assert response.status_code == 400
    assert not response.wsgi_request.user.is_authenticated


def test_public_site_issues_no_link_to_a_workspace_of_someone_else(
    tenant_b: Tenant, member_a: User
) -> None:
    browser = _signed_in_on_public(member_a)
    assert browser.get(f"{PUBLIC}/workspaces/beta/open/").status_code == 404
    # Asked by beta's host on behalf of a browser signed in on the public site as member_a.
    started = browser.get(f"http://{host_of(tenant_b)}/auth/handoff/start/", until=_is_handoff_link)
    assert started.status_code == 404
    assert not browser.cookie(host_of(tenant_b), settings.SESSION_COOKIE_NAME)


def test_a_link_asked_for_without_a_browser_nonce_is_refused(
    tenant_a: Tenant, member_a: User
) -> None:
    browser = _signed_in_on_public(member_a)
    assert browser.get(f"{PUBLIC}/workspaces/alpha/handoff/?state=nonsense").status_code == 400
    assert browser.get(f"{PUBLIC}/workspaces/alpha/handoff/").status_code == 400


def test_all_workspaces_from_an_organization_host_lands_signed_in_on_the_public_site(
    tenant_a: Tenant, member_a: User
) -> None:
    browser = _signed_in_on(tenant_a, member_a)
    assert not browser.cookie(settings.BASE_DOMAIN, settings.SESSION_COOKIE_NAME)
    page = browser.get(_all_workspaces_link(browser, tenant_a))
    assert page.status_code == 200
    assert browser.url == f"{PUBLIC}:8000/workspaces/"
    assert page.wsgi_request.user == member_a
    assert b"Alpha Inc" in page.content


def test_a_signed_in_member_opens_another_workspace_from_the_public_site(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    Membership.objects.create(user=member_a, tenant=tenant_b, role=Role.MEMBER)
    browser = _signed_in_on(tenant_a, member_a)
    browser.get(_all_workspaces_link(browser, tenant_a))
    page = browser.get("/workspaces/beta/open/")
    assert urlsplit(browser.url).hostname == host_of(tenant_b)
    assert page.status_code == 200 and page.wsgi_request.user == member_a
    assert b"Beta GmbH" in page.content


def test_session_cookies_stay_on_the_host_that_set_them(tenant_a: Tenant, member_a: User) -> None:
    browser = _signed_in_on(tenant_a, member_a)
    browser.get(_all_workspaces_link(browser, tenant_a))
    for host in (host_of(tenant_a), settings.BASE_DOMAIN):
        morsel = browser.client(host).cookies[settings.SESSION_COOKIE_NAME]
        assert morsel.value and not morsel["domain"], host


def test_all_workspaces_link_of_a_browser_signed_out_everywhere_asks_to_sign_in(
    tenant_a: Tenant,
) -> None:
    browser = Browser()
    page = browser.get(_all_workspaces_link(browser, tenant_a))
    assert page.status_code == 200
    assert browser.url.startswith(f"{PUBLIC}:8000/accounts/login/")


def test_the_public_site_refuses_a_link_meant_for_a_workspace(
    tenant_a: Tenant, member_a: User
) -> None:
    nonce, state = handoff_state_new()
    token = parse_qs(urlsplit(handoff_url(user=member_a, tenant=tenant_a, state=state)).query)
    with pytest.raises(HandoffInvalid):
        handoff_redeem(token=token["token"][0], tenant=None, nonce=nonce)
