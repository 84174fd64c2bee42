"""OpenID Connect sign-in, for real, against a local provider (oidc-provider-mock): the
test button, switching on, just-in-time members, linking by verified domain only, group
mappings and "SSO required"."""

from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from iam.models import CustomRole, Membership, Role, SecuritySettings, Team, TeamMember, User
from iam.sso import dns as sso_dns
from iam.sso.exceptions import ConnectionNotTested
from iam.sso.models import SsoConnection, SsoDomain
from iam.sso.services import (
    connection_client_secret,
    connection_enable,
    connection_save,
    domain_claim,
    domain_verify,
    sso_required_set,
)
from tests.conftest import PASSWORD, host_of
from tests.support.sso import (  # noqa: F401 - fixtures
    dns,
    local_dns,
    oidc_provider,
    oidc_sign_in,
    oidc_user_set,
)

pytestmark = pytest.mark.django_db


def verified(tenant: Any, dns: Any, domain: str = "alpha.example") -> SsoDomain:  # noqa: F811
    claimed = domain_claim(tenant=tenant, domain=domain)
    dns.publish({sso_dns.record_name(domain): [sso_dns.record_value(claimed.token)]})
    return domain_verify(domain=claimed)


def oidc_connection(tenant: Any, issuer: str, **extra: Any) -> SsoConnection:
    connection = connection_save(
        tenant=tenant,
        name="Okta",
        protocol="oidc",
        oidc_issuer=issuer,
        oidc_client_id=f"mycrm-{tenant.slug}",
        oidc_client_secret="s3cret",
        **extra,
    )
    connection.tested_at = connection.created_at
    connection.is_enabled = True
    connection.save()
    return connection


def _signed_in_user(client: Client) -> int | None:
    value = client.session.get(SESSION_KEY)
    return int(value) if value else None


def test_the_client_secret_is_stored_sealed(tenant_a, oidc_provider):  # noqa: F811
    connection = oidc_connection(tenant_a, oidc_provider)
    assert "s3cret" not in connection.oidc_client_secret
    assert connection.oidc_client_secret.startswith("v1.")
    assert connection_client_secret(connection=connection) == "s3cret"
    assert connection.oidc_metadata["issuer"] == oidc_provider


def test_a_new_person_of_a_verified_domain_joins_just_in_time(tenant_a, dns, oidc_provider):  # noqa: F811
    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider)
    oidc_user_set(oidc_provider, "ada", {"email": "ada@alpha.example", "name": "Ada L"})
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = oidc_sign_in(client, f"/auth/sso/{connection.pk}/start/", "ada")
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="ada@alpha.example")
    assert user.full_name == "Ada L" and not user.has_usable_password()
    membership = Membership.objects.get(user=user, tenant=tenant_a)
    assert membership.role == Role.MEMBER
    assert _signed_in_user(client) == user.pk
    assert client.get("/").status_code == 200


def test_without_jit_a_stranger_is_refused_and_nobody_is_created(tenant_a, dns, oidc_provider):  # noqa: F811
    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider, jit_enabled=False)
    oidc_user_set(oidc_provider, "bob", {"email": "bob@alpha.example"})
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = oidc_sign_in(client, f"/auth/sso/{connection.pk}/start/", "bob")
    assert response.status_code == 403
    assert not User.objects.filter(email="bob@alpha.example").exists()
    assert _signed_in_user(client) is None


def test_an_existing_account_is_never_linked_by_an_unverified_address(
    tenant_a,
    member_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    # member@alpha.test exists and is a member, but alpha.test is not a verified domain.
    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider)
    oidc_user_set(oidc_provider, "impostor", {"email": member_a.email})
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = oidc_sign_in(client, f"/auth/sso/{connection.pk}/start/", "impostor")
    assert response.status_code == 403
    assert "not in a domain" in response.content.decode()
    assert _signed_in_user(client) is None


def test_an_existing_member_of_a_verified_domain_is_signed_in(tenant_a, dns, oidc_provider):  # noqa: F811
    verified(tenant_a, dns)
    existing = User.objects.create_user(email="eve@alpha.example", password=PASSWORD)
    Membership.objects.create(user=existing, tenant=tenant_a, role=Role.ADMIN)
    connection = oidc_connection(tenant_a, oidc_provider)
    oidc_user_set(oidc_provider, "eve", {"email": "EVE@alpha.example"})
    client = Client(HTTP_HOST=host_of(tenant_a))
    assert oidc_sign_in(client, f"/auth/sso/{connection.pk}/start/", "eve").status_code == 302
    assert _signed_in_user(client) == existing.pk
    assert Membership.objects.get(user=existing, tenant=tenant_a).role == Role.ADMIN


def test_groups_map_to_roles_and_teams_and_are_replaced_at_each_sign_in(
    tenant_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    verified(tenant_a, dns)
    analysts = CustomRole.objects.create(tenant=tenant_a, name="Analyst", permissions={})
    sales = Team.objects.create(tenant=tenant_a, name="Sales")
    connection = oidc_connection(
        tenant_a,
        oidc_provider,
        group_mappings=[
            {"group": "crm-managers", "role": "manager", "custom_role": None, "team": sales.pk},
            {"group": "crm-analysts", "role": "", "custom_role": analysts.pk, "team": None},
        ],
    )
    oidc_user_set(
        oidc_provider,
        "gus",
        {"email": "gus@alpha.example", "groups": ["crm-managers", "crm-analysts"]},
    )
    client = Client(HTTP_HOST=host_of(tenant_a))
    oidc_sign_in(client, f"/auth/sso/{connection.pk}/start/", "gus")
    gus = User.objects.get(email="gus@alpha.example")
    membership = Membership.objects.get(user=gus, tenant=tenant_a)
    assert membership.role == Role.MANAGER
    assert list(membership.custom_roles.all()) == [analysts]
    assert TeamMember.objects.filter(team=sales, user=gus).exists()

    # The provider drops both groups: what they granted is taken back.
    oidc_user_set(oidc_provider, "gus", {"email": "gus@alpha.example", "groups": []})
    oidc_sign_in(Client(HTTP_HOST=host_of(tenant_a)), f"/auth/sso/{connection.pk}/start/", "gus")
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER
    assert not membership.custom_roles.exists()
    assert not TeamMember.objects.filter(team=sales, user=gus).exists()


def test_the_test_button_shows_the_claims_and_marks_tested_without_signing_in(
    tenant_a,
    owner_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    verified(tenant_a, dns)
    connection = connection_save(
        tenant=tenant_a,
        name="Okta",
        protocol="oidc",
        oidc_issuer=oidc_provider,
        oidc_client_id="mycrm",
        oidc_client_secret="s3cret",
    )
    with pytest.raises(ConnectionNotTested):
        connection_enable(connection=connection, enabled=True)
    oidc_user_set(oidc_provider, "tess", {"email": "tess@alpha.example", "groups": ["crm-admins"]})
    admin = Client(HTTP_HOST=host_of(tenant_a))
    admin.force_login(owner_a)
    assert admin.post(f"/settings/sso/connections/{connection.pk}/enable/", {"enabled": "1"})
    assert not SsoConnection.objects.get(pk=connection.pk).is_enabled

    response = oidc_sign_in(
        admin, f"/settings/sso/connections/{connection.pk}/test/", "tess", method="post"
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "tess@alpha.example" in page and "crm-admins" in page and "domain verified" in page
    assert not User.objects.filter(email="tess@alpha.example").exists()
    assert _signed_in_user(admin) == owner_a.pk
    connection.refresh_from_db()
    assert connection.tested_at is not None and not connection.is_enabled

    admin.post(f"/settings/sso/connections/{connection.pk}/enable/", {"enabled": "1"})
    assert SsoConnection.objects.get(pk=connection.pk).is_enabled


def test_a_switched_off_connection_signs_nobody_in(tenant_a, dns, oidc_provider):  # noqa: F811
    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider)
    connection.is_enabled = False
    connection.save()
    client = Client(HTTP_HOST=host_of(tenant_a))
    assert client.get(f"/auth/sso/{connection.pk}/start/").status_code == 404


def test_the_email_first_step_sends_a_verified_address_to_its_provider(
    tenant_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    verified(tenant_a, dns)
    oidc_connection(tenant_a, oidc_provider)
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = client.post("/auth/sso/", {"email": "zoe@alpha.example"})
    assert response.status_code == 302 and response["Location"].startswith(oidc_provider)
    response = client.post("/auth/sso/", {"email": "zoe@elsewhere.example"})
    assert (
        response.status_code == 400 and "not set up for this address" in response.content.decode()
    )


def test_sso_required_refuses_a_members_password_but_not_an_owners(
    tenant_a,
    owner_a,
    member_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    verified(tenant_a, dns)
    oidc_connection(tenant_a, oidc_provider)
    sso_required_set(tenant=tenant_a, required=True)
    member = Client(HTTP_HOST=host_of(tenant_a))
    response = member.post("/accounts/login/", {"login": member_a.email, "password": PASSWORD})
    assert "single sign-on" in response.content.decode()
    assert _signed_in_user(member) is None
    owner = Client(HTTP_HOST=host_of(tenant_a))
    response = owner.post("/accounts/login/", {"login": owner_a.email, "password": PASSWORD})
    assert response.status_code == 302
    assert _signed_in_user(owner) == owner_a.pk


def test_sso_required_needs_a_switched_on_connection(tenant_a, owner_a):
    admin = Client(HTTP_HOST=host_of(tenant_a))
    admin.force_login(owner_a)
    response = admin.post("/settings/sso/required/", {"required": "1"}, follow=True)
    assert "Switch a connection on" in response.content.decode()
    assert not SecuritySettings.objects.filter(tenant=tenant_a, sso_required=True).exists()


def test_sso_required_refuses_a_sign_in_carried_over_from_the_public_site(
    tenant_a,
    owner_a,
    member_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    from django.conf import settings as django_settings

    from tests.support.browser import Browser

    verified(tenant_a, dns)
    oidc_connection(tenant_a, oidc_provider)
    sso_required_set(tenant=tenant_a, required=True)
    browser = Browser()
    browser.client(django_settings.BASE_DOMAIN).force_login(member_a)
    page = browser.get(f"http://{django_settings.BASE_DOMAIN}/workspaces/alpha/open/")
    assert page.status_code == 403 and "single sign-on" in page.content.decode()
    assert _signed_in_user(browser.client(host_of(tenant_a))) is None

    owner = Browser()
    owner.client(django_settings.BASE_DOMAIN).force_login(owner_a)
    page = owner.get(f"http://{django_settings.BASE_DOMAIN}/workspaces/alpha/open/")
    assert page.status_code == 200 and page.wsgi_request.user == owner_a


def test_sso_sign_ins_and_refusals_are_in_the_organizations_audit_log(
    tenant_a,
    tenant_b,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    from django_tenants.utils import tenant_context

    from iam.org.models import AuditEvent

    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider)
    oidc_user_set(oidc_provider, "ann", {"email": "ann@alpha.example"})
    oidc_user_set(oidc_provider, "out", {"email": "out@elsewhere.example"})
    oidc_sign_in(Client(HTTP_HOST=host_of(tenant_a)), f"/auth/sso/{connection.pk}/start/", "ann")
    refused = oidc_sign_in(
        Client(HTTP_HOST=host_of(tenant_a)), f"/auth/sso/{connection.pk}/start/", "out"
    )
    assert refused.status_code == 403
    ann = User.objects.get(email="ann@alpha.example")
    with tenant_context(tenant_a):
        events = {e.action: e for e in AuditEvent.objects.filter(action__startswith="sso.")}
    created = events["sso.member_created"]
    assert created.actor_id == ann.pk
    assert (created.target_type, created.target_label) == ("member", "ann@alpha.example")
    assert events["sso.signed_in"].via == "sso" and events["sso.signed_in"].actor_id == ann.pk
    failed = events["sso.sign_in_failed"]
    assert failed.via == "sso" and failed.changes["email"][1] == "out@elsewhere.example"
    with tenant_context(tenant_a):
        sign_in = AuditEvent.objects.get(action="sign_in.succeeded", actor_id=ann.pk)
    assert sign_in.via == "sso"  # the session it opens came through the identity provider
    with tenant_context(tenant_b):
        assert not AuditEvent.objects.filter(action__startswith="sso.").exists()


def _member_with_an_authenticator_app(tenant: Any, email: str) -> tuple[User, str]:
    """A member of `tenant` with a password and an authenticator app; the app's secret."""
    from tests.iam.mfa_support import sign_in, totp_activate

    user = User.objects.create_user(email=email, password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role=Role.MEMBER)
    return user, totp_activate(sign_in(host_of(tenant), email), user)


def test_a_member_with_a_second_factor_gives_it_after_the_identity_provider(
    tenant_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    from tests.iam.mfa_support import totp_code

    verified(tenant_a, dns)
    connection = oidc_connection(tenant_a, oidc_provider)
    vera, secret = _member_with_an_authenticator_app(tenant_a, "vera@alpha.example")
    sso_required_set(tenant=tenant_a, required=True)
    oidc_user_set(oidc_provider, "vera", {"email": "vera@alpha.example"})
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = oidc_sign_in(client, f"/auth/sso/{connection.pk}/start/", "vera")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert _signed_in_user(client) is None
    assert client.get("/").status_code == 302  # not in yet

    done = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/"
    assert _signed_in_user(client) == vera.pk  # and "SSO required" let the sign-in through
    assert client.get("/").status_code == 200


def test_a_members_password_and_app_code_are_refused_when_sso_is_required(
    tenant_a,
    dns,  # noqa: F811
    oidc_provider,  # noqa: F811
):
    from tests.iam.mfa_support import totp_code

    verified(tenant_a, dns)
    oidc_connection(tenant_a, oidc_provider)
    _, secret = _member_with_an_authenticator_app(tenant_a, "wes@alpha.example")
    sso_required_set(tenant=tenant_a, required=True)
    client = Client(HTTP_HOST=host_of(tenant_a))
    asked = client.post("/accounts/login/", {"login": "wes@alpha.example", "password": PASSWORD})
    assert asked["Location"] == "/accounts/2fa/authenticate/"
    # A second factor after a password is no single sign-on.
    refused = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert "single sign-on" in refused.content.decode()
    assert _signed_in_user(client) is None
