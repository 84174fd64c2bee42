"""The OpenAPI schema and the Swagger UI page: for members of the organization only, with its
own address, a way back to the workspace, and every operation described."""

import json
from typing import Any

import pytest
from django.conf import settings
from django.shortcuts import resolve_url
from django.test import Client

from config import api_docs
from iam.models import User
from tenants.models import Tenant
from tenants.services import tenant_url
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db

OPENAPI_JSON = "application/vnd.oai.openapi+json"


def schema_of(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    assert response.status_code == 200, response.content[:500]
    return dict(json.loads(response.content))


def signed_in(user: User, tenant: Tenant) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


def test_anonymous_visitor_gets_no_schema(tenant_a: Tenant) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/api/schema/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert b"/api/v1/contacts/" not in response.content


def test_anonymous_visitor_of_the_docs_page_is_sent_to_sign_in(tenant_a: Tenant) -> None:
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"] == f"{resolve_url(settings.LOGIN_URL)}?next=/api/docs/"


def test_member_of_another_organization_gets_neither_schema_nor_docs(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    client = signed_in(owner_b, tenant_a)
    assert client.get("/api/schema/").status_code == 403
    assert client.get("/api/docs/").status_code == 403
    other_token = token_client(owner_b, tenant_b, host=tenant_a)
    assert other_token.get("/api/schema/").status_code == 401


def test_members_get_the_schema_by_session_or_token(
    client_a: Client, tenant_a: Tenant, member_a: User
) -> None:
    assert "/api/v1/contacts/" in schema_of(client_a)["paths"]
    assert "/api/v1/contacts/" in schema_of(token_client(member_a, tenant_a))["paths"]


def test_schema_names_this_organizations_own_address(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    for tenant, user, other in ((tenant_a, owner_a, tenant_b), (tenant_b, owner_b, tenant_a)):
        schema = schema_of(signed_in(user, tenant))
        address = tenant_url(tenant, "").rstrip("/")
        assert schema["servers"] == [{"url": address, "description": tenant.name}]
        assert f"{address}/api/v1/" in schema["info"]["description"]
        text = json.dumps(schema)
        assert "<slug>" not in text
        assert other.slug not in text and other.name not in text


def test_schema_is_generated_once_and_served_to_every_organization(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    api_docs.generated_schema.cache_clear()
    first = schema_of(signed_in(owner_a, tenant_a))
    second = schema_of(signed_in(owner_b, tenant_b))
    info = api_docs.generated_schema.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert first["paths"] == second["paths"]


def test_docs_page_leads_back_to_the_workspace(client_a: Client, tenant_a: Tenant) -> None:
    response = client_a.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/"' in page
    assert f"Back to {tenant_a.name}" in page
    assert 'href="/settings/api-tokens/"' in page
    assert 'id="swagger-ui"' in page


def test_every_operation_has_a_summary_and_a_description_of_its_own(client_a: Client) -> None:
    operations = [
        (f"{method.upper()} {path}", operation)
        for path, methods in schema_of(client_a)["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 28
    descriptions: dict[str, str] = {}
    for name, operation in operations:
        assert operation.get("summary"), f"{name} has no summary"
        description = operation.get("description", "")
        assert description, f"{name} has no description"
        assert "viewset" not in description.lower(), f"{name}: {description}"
        assert description not in descriptions, f"{name} repeats {descriptions.get(description)}"
        descriptions[description] = name
