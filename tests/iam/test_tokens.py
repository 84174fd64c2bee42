"""Personal API tokens: only a digest is stored, revocation works, the CLI prints the token."""

import hashlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test import Client, RequestFactory
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from iam.authentication import BearerTokenAuthentication
from iam.exceptions import NotAMember
from iam.models import ApiToken, User
from iam.services import api_token_authenticate, api_token_create, api_token_revoke
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


def test_a_token_call_is_checked_in_one_statement_and_its_role_decides(
    tenant_a: Tenant, member_a: User, owner_a: User, django_assert_num_queries: Any
) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/contacts/")  # the first use notes when it was used
    assert response.status_code == 200
    # No session cookie, so the session is never read: no `Vary: Cookie` for caches.
    assert "Cookie" not in response.get("Vary", "")
    # Then the token, its user and its owner's standing are one statement.
    with django_assert_num_queries(1):
        assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None

    # The member list is for owners and admins: the role decides.
    assert client.get("/api/v1/members/").status_code == 403
    _, owners_raw = api_token_create(user=owner_a, tenant=tenant_a, name="ci")
    owner = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {owners_raw}")
    assert owner.get("/api/v1/members/").status_code == 200


def test_a_membership_ended_after_the_token_was_checked_is_refused(
    tenant_a: Tenant, member_a: User
) -> None:
    credentials_check = BearerTokenAuthentication()
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    request = Request(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    request._request.tenant = tenant_a  # type: ignore[attr-defined]
    user, _ = credentials_check.authenticate(request) or (None, None)
    assert user == member_a
    member_a.memberships.filter(tenant=tenant_a).delete()
    with pytest.raises(PermissionDenied):
        _ = request._request.membership.role  # type: ignore[attr-defined]


def test_garbage_bearer_token_is_401(tenant_a: Tenant) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION="Bearer mcrm_nope")
    response = client.get("/api/v1/contacts/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_goes_with_its_owners_membership(tenant_a: Tenant, member_a: User) -> None:
    token, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci")
    with connection.cursor() as cursor:  # even a delete that goes around the services
        cursor.execute(
            "DELETE FROM iam_membership WHERE user_id = %s AND tenant_id = %s",
            [member_a.pk, tenant_a.pk],
        )
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    client = Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/contacts/").status_code == 401


def test_the_database_refuses_a_token_without_a_membership(
    tenant_b: Tenant, member_a: User
) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.create(
            user=member_a, tenant=tenant_b, name="sneaky", prefix="mcrm_x", digest="0" * 64
        )


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
    raw = page.context["created"]["raw"]
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
