"""API token scopes: what each scope allows, how they are validated and stored, and that the
decision point holds a token to them (never beyond its owner's role)."""

import importlib

import pytest
from django.db import connection
from django.db.migrations import RunSQL
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iam.authz.catalog import ALL_ADMIN_PERMISSIONS, ALL_PERMISSIONS, RECORD_TYPE_KEYS
from iam.models import ApiToken, Membership, Role, User
from iam.token_scopes import (
    ALL_SCOPES,
    FULL_SCOPES,
    SERVICE_ADMIN_PERMISSIONS,
    scope_allows,
    scope_grants,
    scope_levels,
    scopes_errors,
    scopes_from_levels,
    scopes_normalize,
)
from iam.tokens import api_token_authenticate, api_token_create
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of


@pytest.mark.parametrize(
    ("scopes", "permission", "allowed"),
    [
        (["deal:read"], "deal.view", True),
        (["deal:read"], "deal.export", True),
        (["deal:read"], "deal.edit", False),
        (["deal:read"], "deal.create", False),
        (["deal:read"], "contact.view", False),
        (["deal:write"], "deal.view", True),
        (["deal:write"], "deal.delete", True),
        (["deal:write"], "deal.assign", True),
        (["deal:write"], "lead.edit", False),
        (["*:read"], "activity.view", True),
        (["*:read"], "activity.edit", False),
        (["*:write"], "company.delete", True),
        (["*:write"], "admin.people", False),
        (["admin"], "admin.people", True),
        (["admin"], "admin.billing", True),
        (["admin"], "deal.view", False),
        (["*:write", "admin"], "invoice.view", False),  # unknown record type
        (["*:write", "admin"], "deal.fly", False),  # unknown action
        (["*:write", "admin"], "admin.everything", False),  # unknown right
        ([], "deal.view", False),
    ],
)
def test_scope_allows(scopes: list[str], permission: str, allowed: bool) -> None:
    assert scope_allows(scopes, permission) is allowed


def test_full_scopes_reach_every_permission() -> None:
    assert all(scope_allows(FULL_SCOPES, p) for p in ALL_PERMISSIONS)


# Pure functions: a busy machine may make generation look slow; that is no failure.
_PURE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PURE
@given(st.lists(st.sampled_from(ALL_SCOPES), max_size=8), st.sampled_from(sorted(ALL_PERMISSIONS)))
def test_normalizing_never_changes_what_scopes_allow(scopes: list[str], permission: str) -> None:
    assert scope_allows(scopes_normalize(scopes), permission) == scope_allows(scopes, permission)


@_PURE
@given(st.lists(st.sampled_from(ALL_SCOPES), max_size=8), st.sampled_from(sorted(ALL_PERMISSIONS)))
def test_write_always_includes_read(scopes: list[str], permission: str) -> None:
    area, _, action = permission.partition(".")
    if area in RECORD_TYPE_KEYS and scope_allows(scopes, f"{area}.edit"):
        assert scope_allows(scopes, f"{area}.view")


def test_normalizing_drops_what_a_wider_scope_includes() -> None:
    assert scopes_normalize(["deal:read", "deal:write", "admin", "admin"]) == [
        "admin",
        "deal:write",
    ]
    assert scopes_normalize(["*:read", "contact:read", "contact:write"]) == [
        "*:read",
        "contact:write",
    ]
    assert scopes_normalize(["*:write", "*:read", "lead:write"]) == ["*:write"]


@pytest.mark.parametrize(
    "raw",
    ["deal:read", [], ["deal:admin"], ["invoice:read"], ["read"], ["*"], [7], ["Deal:read"]],
)
def test_bad_scopes_are_named(raw: object) -> None:
    assert scopes_errors(raw)


def test_the_picker_reads_and_writes_scopes() -> None:
    every_write = {t: "write" for t in RECORD_TYPE_KEYS}
    assert scopes_from_levels(every_write, admin=True) == ["*:write", "admin"]
    assert scopes_from_levels({**every_write, "deal": "read"}, admin=False) == [
        "activity:write",
        "company:write",
        "contact:write",
        "deal:read",
        "lead:write",
    ]
    assert scopes_from_levels({"deal": "none"}, admin=False) == []
    assert scope_levels(["*:read", "deal:write"]) == {
        "contact": "read",
        "company": "read",
        "lead": "read",
        "deal": "write",
        "activity": "read",
    }


def test_a_service_tokens_grants_are_its_scopes_and_admin_is_not_billing() -> None:
    grants = scope_grants(["deal:read", "admin"])
    assert set(grants) == {"deal.view", "deal.export"} | SERVICE_ADMIN_PERMISSIONS
    assert "admin.billing" not in grants
    assert SERVICE_ADMIN_PERMISSIONS == ALL_ADMIN_PERMISSIONS - {"admin.billing"}
    assert set(grants.values()) == {"all"}


@pytest.mark.django_db
def test_scopes_are_stored_normalized(tenant_a: Tenant, member_a: User) -> None:
    token, _ = api_token_create(
        user=member_a, tenant=tenant_a, name="ci", scopes=["deal:read", "deal:write", "lead:read"]
    )
    assert ApiToken.objects.get(pk=token.pk).scopes == ["deal:write", "lead:read"]


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", [[], ["deal:delete"], ["everything"], "admin"])
def test_a_bad_scope_is_a_field_error_and_nothing_is_made(
    tenant_a: Tenant, member_a: User, scopes: object
) -> None:
    before = ApiToken.objects.count()
    with pytest.raises(InvalidFields) as refused:
        api_token_create(user=member_a, tenant=tenant_a, name="ci", scopes=scopes)  # type: ignore[arg-type]
    assert "scopes" in refused.value.errors
    assert ApiToken.objects.count() == before


@pytest.mark.django_db
def test_tokens_from_before_scopes_keep_everything_their_owner_could_do(
    tenant_a: Tenant, member_a: User
) -> None:
    """The data migration gives existing tokens `*:write` and `admin`: what they had."""
    token, raw = api_token_create(user=member_a, tenant=tenant_a, name="old")
    ApiToken.objects.filter(pk=token.pk).update(scopes=[])  # as the new column left it
    migration = importlib.import_module("iam.migrations.0007_token_scopes_expiry_service")
    (fill,) = [op for op in migration.Migration.operations if isinstance(op, RunSQL)]
    with connection.cursor() as cursor:
        cursor.execute(str(fill.sql))
    assert ApiToken.objects.get(pk=token.pk).scopes == ["*:write", "admin"]
    credentials = api_token_authenticate(raw=raw, tenant=tenant_a)
    assert credentials is not None and credentials.scopes == frozenset(FULL_SCOPES)


def _client(raw: str, tenant: Tenant) -> Client:
    return Client(HTTP_HOST=host_of(tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.mark.django_db
def test_a_read_token_reads_but_does_not_write(tenant_a: Tenant, member_a: User) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci", scopes=["contact:read"])
    api = _client(raw, tenant_a)
    assert api.get("/api/v1/contacts/").status_code == 200
    refused = api.post("/api/v1/contacts/", {"first_name": "Ada"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "access-denied"
    assert "scope" in refused.json()["detail"]

    # Records of another type are out of its reach: a list shows none of them.
    _, writer = api_token_create(user=member_a, tenant=tenant_a, name="ci", scopes=["*:write"])
    made = _client(writer, tenant_a).post(
        "/api/v1/companies/", {"name": "Acme"}, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    assert _client(writer, tenant_a).get("/api/v1/companies/").json()["results"]
    assert api.get("/api/v1/companies/").json()["results"] == []


@pytest.mark.django_db
def test_a_write_token_writes_its_record_type(tenant_a: Tenant, member_a: User) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci", scopes=["contact:write"])
    made = _client(raw, tenant_a).post(
        "/api/v1/contacts/", {"first_name": "Ada"}, content_type="application/json"
    )
    assert made.status_code == 201, made.content


@pytest.mark.django_db
def test_admin_rights_need_the_admin_scope(tenant_a: Tenant, owner_a: User) -> None:
    _, records_only = api_token_create(user=owner_a, tenant=tenant_a, name="ci", scopes=["*:write"])
    assert _client(records_only, tenant_a).get("/api/v1/members/").status_code == 403
    _, admin = api_token_create(user=owner_a, tenant=tenant_a, name="ci", scopes=["admin"])
    assert _client(admin, tenant_a).get("/api/v1/members/").status_code == 200
    refused = _client(admin, tenant_a).post(
        "/api/v1/contacts/", {"first_name": "Ada"}, content_type="application/json"
    )
    assert refused.status_code == 403


@pytest.mark.django_db
def test_scopes_never_reach_beyond_the_owners_role(tenant_a: Tenant, member_a: User) -> None:
    Membership.objects.filter(user=member_a, tenant=tenant_a).update(role=Role.READ_ONLY)
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="ci", scopes=FULL_SCOPES)
    api = _client(raw, tenant_a)
    assert api.get("/api/v1/contacts/").status_code == 200
    assert (
        api.post(
            "/api/v1/contacts/", {"first_name": "Ada"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert api.get("/api/v1/members/").status_code == 403
