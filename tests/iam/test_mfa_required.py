"""An organization that requires MFA: its owners and admins switch it on in Settings →
Security (never locking themselves out), and a member without a second factor is sent to set
one up before anything else, in that organization only."""

import json
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client
from django_tenants.utils import tenant_context

from iam.models import Membership, Role, SecuritySettings, User
from iam.org.models import AuditEvent
from iam.security.services import security_settings_update
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.factories import UserFactory

from .mfa_support import sign_in, totp_activate

pytestmark = pytest.mark.django_db


def _with_totp(user: User) -> User:
    """Give the user an authenticator app (set up as the pages do, then signed out)."""
    membership = Membership.objects.filter(user=user).select_related("tenant").first()
    assert membership is not None
    totp_activate(sign_in(host_of(membership.tenant), user.email), user)
    return user


def _require_mfa(tenant: Tenant, owner: User) -> None:
    Authenticator.objects.get_or_create(
        user=owner, type=Authenticator.Type.TOTP, defaults={"data": {"secret": "JBSWY3DPEHPK3PXP"}}
    )
    security_settings_update(
        tenant=tenant, by=owner, mfa_required=True, session_idle_minutes=120, session_max_hours=168
    )


def _post(client: Client, **fields: object) -> Any:
    data = {"session_idle_minutes": 120, "session_max_hours": 168, **fields}
    return client.post("/settings/security/", data)


def test_an_admin_without_mfa_cannot_require_it(tenant_a: Tenant, owner_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    response = _post(client, mfa_required="on")
    assert response.status_code == 400
    errors = response.context["form"].errors["mfa_required"]
    assert "Set up two-step verification for your own account first" in errors[0]
    assert not SecuritySettings.objects.filter(tenant=tenant_a, mfa_required=True).exists()


def test_an_admin_with_mfa_requires_it_and_keeps_working(tenant_a: Tenant, owner_a: User) -> None:
    _with_totp(owner_a)
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    response = _post(client, mfa_required="on", session_idle_minutes=30, session_max_hours=12)
    assert response.status_code == 302
    saved = SecuritySettings.objects.get(tenant=tenant_a)
    assert (saved.mfa_required, saved.session_idle_minutes, saved.session_max_hours) == (
        True,
        30,
        12,
    )
    assert client.get("/").status_code == 200
    with tenant_context(tenant_a):
        event = AuditEvent.objects.get(action="security_settings.updated")
    assert event.actor_id == owner_a.pk
    assert event.changes["mfa_required"] == [False, True]
    assert event.changes["session_idle_minutes"] == [120, 30]


@pytest.mark.parametrize(
    ("field", "value"),
    [("session_idle_minutes", 1), ("session_idle_minutes", 100000), ("session_max_hours", 0)],
)
def test_timeouts_out_of_range_are_field_errors(
    tenant_a: Tenant, owner_a: User, field: str, value: int
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    response = _post(client, **{field: value})
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not SecuritySettings.objects.filter(tenant=tenant_a).exists()


def test_a_member_cannot_change_security_settings(client_a: Client, tenant_a: Tenant) -> None:
    assert client_a.get("/settings/security/").status_code == 403
    assert _post(client_a).status_code == 403
    assert not SecuritySettings.objects.filter(tenant=tenant_a).exists()


def test_the_settings_navigation_links_to_security(tenant_a: Tenant, owner_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    page = client.get("/settings/security/")
    assert page.status_code == 200
    assert 'href="/settings/security/"' in client.get("/").content.decode()


def test_saving_at_one_organization_leaves_the_other_alone(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    _require_mfa(tenant_a, owner_a)
    assert SecuritySettings.objects.get(tenant=tenant_a).mfa_required
    assert not SecuritySettings.objects.filter(tenant=tenant_b).exists()
    # An owner of A is nobody at B: B's settings page is closed to them.
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(owner_a)
    assert _post(client, session_idle_minutes=5).status_code == 403
    assert not SecuritySettings.objects.filter(tenant=tenant_b).exists()


def test_a_member_without_mfa_is_sent_to_set_it_up_first(
    tenant_a: Tenant, owner_a: User, client_a: Client
) -> None:
    _require_mfa(tenant_a, owner_a)
    for path in ("/", "/contacts/", "/settings/api-tokens/"):
        response = client_a.get(path)
        assert response.status_code == 302 and response["Location"] == "/account/security/"
    page = client_a.get("/account/security/")
    assert page.status_code == 200
    assert "Alpha Inc requires two-step verification." in page.content.decode()
    # Setting it up, and signing out, stay open.
    assert client_a.get("/accounts/2fa/totp/activate/").status_code in (200, 302)
    assert client_a.get("/accounts/2fa/totp/activate/")["Location"].startswith(
        "/accounts/reauthenticate/"
    )
    assert client_a.get("/accounts/reauthenticate/").status_code == 200
    assert client_a.post("/accounts/logout/").status_code == 302


def test_api_calls_of_a_session_without_mfa_get_mfa_required(
    tenant_a: Tenant, owner_a: User, client_a: Client, member_a: User
) -> None:
    _require_mfa(tenant_a, owner_a)
    response = client_a.get("/api/v1/contacts/")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["code"] == "mfa-required"
    # An API token is not a session: it keeps working.
    assert token_client(member_a, tenant_a).get("/api/v1/contacts/").status_code == 200


def test_once_set_up_the_member_goes_on(tenant_a: Tenant, owner_a: User, member_a: User) -> None:
    _require_mfa(tenant_a, owner_a)
    client = sign_in(host_of(tenant_a), member_a.email)
    assert client.get("/")["Location"] == "/account/security/"
    totp_activate(client, member_a)
    assert client.get("/").status_code == 200
    assert client.get("/api/v1/contacts/").status_code == 200


def test_requiring_mfa_at_one_organization_does_not_reach_another(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    both = UserFactory(email="both@example.test")
    Membership.objects.create(user=both, tenant=tenant_a, role=Role.MEMBER)
    Membership.objects.create(user=both, tenant=tenant_b, role=Role.MEMBER)
    _require_mfa(tenant_a, owner_a)
    at_a = Client(HTTP_HOST=host_of(tenant_a))
    at_a.force_login(both)
    at_b = Client(HTTP_HOST=host_of(tenant_b))
    at_b.force_login(both)
    assert at_a.get("/")["Location"] == "/account/security/"
    assert at_b.get("/").status_code == 200
    assert at_b.get("/api/v1/contacts/").status_code == 200
    page = at_b.get("/account/security/").content.decode()
    assert "requires two-step verification" not in page


def test_turning_the_requirement_off_opens_everything_again(
    tenant_a: Tenant, owner_a: User, client_a: Client, django_capture_on_commit_callbacks: Any
) -> None:
    """The settings are cached briefly; saving them drops the cached copy once committed."""
    _require_mfa(tenant_a, owner_a)
    assert client_a.get("/").status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        security_settings_update(
            tenant=tenant_a,
            by=owner_a,
            mfa_required=False,
            session_idle_minutes=120,
            session_max_hours=168,
        )
    assert client_a.get("/").status_code == 200
