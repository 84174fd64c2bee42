"""Two-step verification through django-allauth's MFA: an authenticator app asked for at
sign-in, recovery codes, passkeys offered on the sign-in page, and the Security page."""

import pytest
from allauth.core import context
from allauth.mfa.models import Authenticator
from django.test import Client, RequestFactory, override_settings

from iam.models import User
from iam.security.mfa import MfaAdapter
from iam.services import user_email_confirm
from tenants.models import Tenant
from tests.conftest import host_of
from tests.factories import PASSWORD

from .mfa_support import reauthenticate, sign_in, totp_activate, totp_code

pytestmark = pytest.mark.django_db


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_an_authenticator_app_is_asked_for_after_the_password(
    tenant_a: Tenant, member_a: User
) -> None:
    client = sign_in(host_of(tenant_a), member_a.email)
    secret = totp_activate(client, member_a)
    assert Authenticator.objects.filter(user=member_a, type=Authenticator.Type.TOTP).exists()
    client.post("/accounts/logout/")

    browser = Client(HTTP_HOST=host_of(tenant_a))
    step = browser.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    assert step.status_code == 302 and step["Location"] == "/accounts/2fa/authenticate/"
    assert not _signed_in(browser)
    wrong = browser.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and not _signed_in(browser)
    assert "Incorrect code" in wrong.content.decode()
    done = browser.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert done.status_code == 302
    assert browser.session["_auth_user_id"] == str(member_a.pk)


def test_an_authenticator_code_is_good_once_on_every_host(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    """A code used to sign in on one host can't sign in again on another within its 30 s."""
    from iam.models import Membership, Role

    Membership.objects.create(user=member_a, tenant=tenant_b, role=Role.MEMBER)
    secret = totp_activate(sign_in(host_of(tenant_a), member_a.email), member_a)
    code = totp_code(secret)
    first = Client(HTTP_HOST=host_of(tenant_a))
    first.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    first.post("/accounts/2fa/authenticate/", {"code": code})
    assert _signed_in(first)
    again = Client(HTTP_HOST=host_of(tenant_b))
    again.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    again.post("/accounts/2fa/authenticate/", {"code": code})
    assert not _signed_in(again)


def test_a_recovery_code_signs_in_instead_of_the_app(tenant_a: Tenant, member_a: User) -> None:
    client = sign_in(host_of(tenant_a), member_a.email)
    totp_activate(client, member_a)
    codes = (
        Authenticator.objects.get(user=member_a, type=Authenticator.Type.RECOVERY_CODES)
        .wrap()
        .get_unused_codes()
    )
    assert len(codes) == 10
    browser = Client(HTTP_HOST=host_of(tenant_a))
    browser.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    browser.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert _signed_in(browser)


def test_the_security_page_shows_second_factors_and_links_to_set_them_up(
    tenant_a: Tenant, member_a: User
) -> None:
    client = sign_in(host_of(tenant_a), member_a.email)
    before = client.get("/account/security/").content.decode()
    assert "Off: your password alone signs you in." in before
    assert 'href="/accounts/2fa/totp/activate/"' in before
    assert 'href="/accounts/2fa/webauthn/add/"' in before
    totp_activate(client, member_a)
    after = client.get("/account/security/").content.decode()
    assert "On: signing in asks for a second step" in after
    assert "10 unused" in after
    assert 'href="/accounts/2fa/totp/deactivate/"' in after


def test_the_security_page_is_on_the_public_site_too(public_client: Client, owner_a: User) -> None:
    public_client.force_login(owner_a)
    page = public_client.get("/account/security/")
    assert page.status_code == 200
    assert "Where you're signed in" in page.content.decode()


def test_the_user_menu_links_to_the_security_page(client_a: Client) -> None:
    page = client_a.get("/").content.decode()
    assert 'href="/account/security/"' in page


def test_the_sign_in_page_offers_a_passkey(tenant_a: Tenant) -> None:
    page = Client(HTTP_HOST=host_of(tenant_a)).get("/accounts/login/").content.decode()
    assert "Sign in with a passkey" in page
    assert 'action="/accounts/2fa/webauthn/login/"' in page


def test_adding_a_security_key_offers_it_as_a_passkey_too(tenant_a: Tenant, member_a: User) -> None:
    client = sign_in(host_of(tenant_a), member_a.email)
    user_email_confirm(user=member_a)
    reauthenticate(client)
    page = client.get("/accounts/2fa/webauthn/add/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="passwordless"' in body and 'id="mfa_webauthn_add"' in body


@pytest.mark.parametrize(
    ("base", "host", "rp_id"),
    [
        ("mycrm.example", "acme.mycrm.example", "mycrm.example"),
        ("mycrm.example", "mycrm.example:8000", "mycrm.example"),
        ("mycrm.example", "crm.acme-corp.example", "crm.acme-corp.example"),
        ("localhost", "alpha.localhost:8000", "alpha.localhost"),
    ],
)
def test_security_keys_belong_to_the_base_domain_where_browsers_allow_it(
    base: str, host: str, rp_id: str
) -> None:
    request = RequestFactory().get("/", HTTP_HOST=host)
    with override_settings(BASE_DOMAIN=base, ALLOWED_HOSTS=["*"]), context.request_context(request):
        entity = MfaAdapter().get_public_key_credential_rp_entity()
    assert entity == {"id": rp_id, "name": "MyCRM"}
