"""Personal API tokens: only a digest is stored, revocation works, the CLI prints the token."""

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from iam.exceptions import NotAMember
from iam.models import ApiToken, User
from iam.services import api_token_create, api_token_revoke
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def test_only_a_digest_of_the_token_is_stored(tenant_a: Tenant, member_a: User) -> None:
    token, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {stored.digest, stored.prefix, stored.name}
    assert raw.startswith(stored.prefix)


def test_revoked_token_is_refused(tenant_a: Tenant, member_a: User) -> None:
    token, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/contacts/").status_code == 200
    api_token_revoke(token=token)
    assert client.get("/api/v1/contacts/").status_code == 401


def test_token_call_knows_its_membership_and_leaves_the_session_alone(
    tenant_a: Tenant, member_a: User
) -> None:
    from iam.services import api_token_authenticate

    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    credentials = api_token_authenticate(raw=raw, tenant=tenant_a)
    assert credentials is not None and credentials.membership is not None
    membership = credentials.membership
    assert membership.user is credentials.user and membership.tenant is tenant_a
    stored = member_a.memberships.get(tenant=tenant_a)
    assert (membership.pk, membership.role, membership.created_at) == (
        stored.pk,
        stored.role,
        stored.created_at,
    )
    assert not membership._state.adding  # a loaded row: saving it updates, never inserts

    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/contacts/")
    assert response.status_code == 200
    # No session cookie, so the session is never read: no `Vary: Cookie` for caches.
    assert "Cookie" not in response.get("Vary", "")


def test_garbage_bearer_token_is_401(tenant_a: Tenant) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION="Bearer mcrm_nope")
    response = client.get("/api/v1/contacts/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_of_a_removed_member_stops_working(tenant_a: Tenant, member_a: User) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    member_a.memberships.filter(tenant=tenant_a).delete()
    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/contacts/").status_code == 403


def test_non_member_cannot_get_a_token(tenant_b: Tenant, member_a: User) -> None:
    with pytest.raises(NotAMember):
        api_token_create(user=member_a, tenant=tenant_b, name="sneaky")


def test_create_api_token_command_prints_only_a_working_token(tenant_a: Tenant) -> None:
    out = StringIO()
    call_command("create_api_token", tenant="alpha", email="member@alpha.test", stdout=out)
    raw = out.getvalue().strip()
    assert raw.startswith("mcrm_") and "\n" not in raw
    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/contacts/").status_code == 200


def test_create_api_token_command_refuses_a_non_member() -> None:
    with pytest.raises(CommandError, match="not a member"):
        call_command("create_api_token", tenant="beta", email="member@alpha.test")


def test_user_creates_and_revokes_a_token_in_the_ui(client_a: Client, tenant_a: Tenant) -> None:
    page = client_a.post("/settings/api-tokens/", {"name": "Zapier"}, follow=True)
    assert page.redirect_chain == [("/settings/api-tokens/", 302)]
    raw = page.context["created_token"]
    assert raw.encode() in page.content
    token = ApiToken.objects.get(name="Zapier", tenant=tenant_a)
    api = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/contacts/").status_code == 200
    assert raw.encode() not in client_a.get("/settings/api-tokens/").content
    client_a.post(f"/settings/api-tokens/{token.pk}/revoke/")
    assert api.get("/api/v1/contacts/").status_code == 401


def test_token_name_is_required_in_the_ui(client_a: Client) -> None:
    page = client_a.post("/settings/api-tokens/", {"name": "  "})
    assert page.status_code == 400
    assert b"Give the token a name" in page.content
