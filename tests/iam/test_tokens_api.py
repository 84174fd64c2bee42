"""The API of API tokens: a member lists, makes and revokes their own personal tokens, and
those with the API tokens admin right the organization's service tokens; the token itself is
in the creation's answer only; bad input is a problem+json 400; a token can't mint a wider
or longer-lived one; nobody reaches anyone else's tokens."""

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from iam.models import ApiToken, Membership, Role, User
from iam.org.models import AuditEvent
from iam.tokens import api_token_authenticate, api_token_create
from tenants.models import Tenant
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db


def _api(raw: str, tenant: Tenant) -> Client:
    return Client(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")


def _session(user: User, tenant: Tenant) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, content_type="application/json")


def test_a_member_makes_lists_and_revokes_a_token(tenant_a: Tenant, member_a: User) -> None:
    me = _session(member_a, tenant_a)
    made = _post(me, "/api/v1/api-tokens/", {"name": "Zapier", "scopes": ["contact:read"]})
    assert made.status_code == 201, made.content
    body = made.json()
    raw = body["token"]
    assert raw.startswith(body["prefix"]) and body["scopes"] == ["contact:read"]
    days = (dt.datetime.fromisoformat(body["expires_at"]) - timezone.now()).days
    assert days in (89, 90)  # 90 days unless said otherwise
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None

    listed = me.get("/api/v1/api-tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["Zapier"]
    assert "token" not in listed[0] and raw not in str(listed)
    assert me.get(f"/api/v1/api-tokens/{body['id']}/").json()["prefix"] == body["prefix"]

    assert me.delete(f"/api/v1/api-tokens/{body['id']}/").status_code == 204
    assert _api(raw, tenant_a).get("/api/v1/contacts/").status_code == 401
    assert me.get("/api/v1/api-tokens/").json()["results"] == []
    assert me.delete(f"/api/v1/api-tokens/{body['id']}/").status_code == 404


def test_a_token_that_never_expires(tenant_a: Tenant, member_a: User) -> None:
    made = _post(
        _session(member_a, tenant_a),
        "/api/v1/api-tokens/",
        {"name": "ci", "scopes": ["*:read"], "expires_at": None},
    )
    assert made.status_code == 201
    assert made.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "ci", "scopes": ["deal:fly"]}, "scopes"),
        ({"name": "ci", "scopes": []}, "scopes"),
        ({"name": "ci", "scopes": "admin"}, "scopes"),
        ({"name": "ci"}, "scopes"),
        ({"name": " ", "scopes": ["*:read"]}, "name"),
        ({"name": "ci", "scopes": ["*:read"], "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_bad_input_is_a_problem_with_field_errors_and_makes_nothing(
    tenant_a: Tenant, member_a: User, body: dict[str, Any], field: str
) -> None:
    before = ApiToken.objects.count()
    refused = _post(_session(member_a, tenant_a), "/api/v1/api-tokens/", body)
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/problem+json"
    assert field in {name.split(".")[0] for name in refused.json()["errors"]}  # "scopes.0"
    assert ApiToken.objects.count() == before


def test_a_token_cant_mint_a_wider_or_longer_lived_token(tenant_a: Tenant, owner_a: User) -> None:
    week = timezone.now() + dt.timedelta(days=7)
    _, raw = api_token_create(
        user=owner_a, tenant=tenant_a, name="narrow", scopes=["contact:read"], expires_at=week
    )
    narrow = _api(raw, tenant_a)
    wider = _post(narrow, "/api/v1/api-tokens/", {"name": "x", "scopes": ["contact:write"]})
    assert wider.status_code == 400
    assert set(wider.json()["errors"]) == {"scopes", "expires_at"}  # 90 days > its week
    later = (week + dt.timedelta(days=1)).isoformat()
    longer = _post(
        narrow,
        "/api/v1/api-tokens/",
        {"name": "x", "scopes": ["contact:read"], "expires_at": later},
    )
    assert set(longer.json()["errors"]) == {"expires_at"}
    same = _post(
        narrow,
        "/api/v1/api-tokens/",
        {"name": "x", "scopes": ["contact:read"], "expires_at": week.isoformat()},
    )
    assert same.status_code == 201, same.content


def test_nobody_reaches_anyone_elses_tokens(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User, owner_a: User, owner_b: User
) -> None:
    theirs, _ = api_token_create(user=owner_a, tenant=tenant_a, name="owner's")
    me = _session(member_a, tenant_a)
    assert me.get(f"/api/v1/api-tokens/{theirs.pk}/").status_code == 404
    assert me.delete(f"/api/v1/api-tokens/{theirs.pk}/").status_code == 404
    assert me.post(f"/settings/api-tokens/{theirs.pk}/revoke/").status_code == 404
    b = token_client(owner_b, tenant_b)
    assert b.get(f"/api/v1/api-tokens/{theirs.pk}/").status_code == 404
    assert b.delete(f"/api/v1/api-tokens/{theirs.pk}/").status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    # A's token at B's host: 401, as for any token of another organization.
    _, raw = api_token_create(user=owner_a, tenant=tenant_a, name="a")
    assert _api(raw, tenant_b).get("/api/v1/api-tokens/").status_code == 401


def test_an_admin_manages_service_tokens_and_a_member_cant(
    tenant_a: Tenant, owner_a: User, member_a: User
) -> None:
    admin = token_client(owner_a, tenant_a)
    made = _post(admin, "/api/v1/service-tokens/", {"name": "ERP", "scopes": ["deal:read"]})
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["created_by"] == owner_a.email
    assert body["account"] == f"service+{body['id']}@alpha.service.invalid"
    assert api_token_authenticate(raw=body["token"], tenant=tenant_a) is not None
    listed = admin.get("/api/v1/service-tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["ERP"] and "token" not in listed[0]
    # Service tokens are not anyone's personal tokens.
    assert admin.get("/api/v1/api-tokens/").json()["results"][0]["name"] == "tests"

    member = token_client(member_a, tenant_a)
    assert member.get("/api/v1/service-tokens/").status_code == 403
    assert (
        _post(member, "/api/v1/service-tokens/", {"name": "x", "scopes": ["*:read"]}).status_code
        == 403
    )
    assert member.delete(f"/api/v1/service-tokens/{body['id']}/").status_code == 403

    assert admin.delete(f"/api/v1/service-tokens/{body['id']}/").status_code == 204
    assert api_token_authenticate(raw=body["token"], tenant=tenant_a) is None


def test_a_personal_token_is_not_revoked_through_the_service_tokens_api(
    tenant_a: Tenant, owner_a: User
) -> None:
    personal, _ = api_token_create(user=owner_a, tenant=tenant_a, name="mine")
    admin = token_client(owner_a, tenant_a)
    assert admin.delete(f"/api/v1/service-tokens/{personal.pk}/").status_code == 404
    assert ApiToken.objects.get(pk=personal.pk).revoked_at is None


def test_service_tokens_need_the_admin_scope_through_a_token(
    tenant_a: Tenant, owner_a: User
) -> None:
    _, raw = api_token_create(user=owner_a, tenant=tenant_a, name="ci", scopes=["*:write"])
    assert _api(raw, tenant_a).get("/api/v1/service-tokens/").status_code == 403


def test_an_admin_without_billing_gives_a_service_token_no_more_than_they_hold(
    tenant_a: Tenant, member_a: User
) -> None:
    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role=Role.MANAGER)
    manager = _session(member_a, tenant_a)
    # A manager lacks the API tokens right altogether.
    refused = _post(manager, "/api/v1/service-tokens/", {"name": "x", "scopes": ["*:read"]})
    assert refused.status_code == 403
    assert refused.json()["code"] == "access-denied"


def test_checking_a_token_is_one_statement(
    tenant_a: Tenant, member_a: User, django_assert_num_queries: Any
) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci", scopes=["*:read"])
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None  # notes its use
    with django_assert_num_queries(1):
        credentials = api_token_authenticate(raw=raw, tenant=tenant_a)
    assert credentials is not None and credentials.scopes == frozenset({"*:read"})
    assert credentials.via == "token" and credentials.user == member_a


def test_making_and_revoking_tokens_is_in_the_audit_log_without_the_secret(
    tenant_a: Tenant, owner_a: User
) -> None:
    owner = _session(owner_a, tenant_a)
    personal = _post(owner, "/api/v1/api-tokens/", {"name": "ci", "scopes": ["deal:read"]}).json()
    service = _post(owner, "/api/v1/service-tokens/", {"name": "erp", "scopes": ["*:read"]}).json()
    owner.delete(f"/api/v1/api-tokens/{personal['id']}/")
    owner.delete(f"/api/v1/service-tokens/{service['id']}/")
    with tenant_context(tenant_a):
        events = list(
            AuditEvent.objects.filter(action__contains="_token.")
            .order_by("seq")
            .values("action", "target_id", "actor_id", "changes")
        )
    assert [(e["action"], e["target_id"]) for e in events[-4:]] == [
        ("api_token.created", str(personal["id"])),
        ("service_token.created", str(service["id"])),
        ("api_token.revoked", str(personal["id"])),
        ("service_token.revoked", str(service["id"])),
    ]
    assert all(e["actor_id"] == owner_a.pk for e in events[-4:])
    assert events[-4]["changes"]["scopes"] == [None, ["deal:read"]]
    assert personal["token"] not in str(events) and service["token"] not in str(events)


def test_a_token_cant_revoke_itself_through_the_api(tenant_a: Tenant, owner_a: User) -> None:
    token, raw = api_token_create(user=owner_a, tenant=tenant_a, name="self")
    refused = _api(raw, tenant_a).delete(f"/api/v1/api-tokens/{token.pk}/")
    assert refused.status_code == 409
    assert refused.json()["code"] == "token-in-use"
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is not None
    # Another of the owner's tokens, or the page, revokes it.
    other = token_client(owner_a, tenant_a)
    assert other.delete(f"/api/v1/api-tokens/{token.pk}/").status_code == 204
    assert api_token_authenticate(raw=raw, tenant=tenant_a) is None
