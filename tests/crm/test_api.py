"""The contacts and companies API: CRUD, pagination, problem+json, query counts."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm.models import Contact
from iam.models import User
from iam.services import api_token_create
from tenants.models import Tenant
from tests.conftest import host_of

from .factories import CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="tests")
    return Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_contact_crud_round_trip(api: Client, tenant_a: Tenant, member_a: User) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory(name="Initech")
    created = api.post(
        "/api/v1/contacts/",
        {
            "first_name": "Peter",
            "last_name": "Gibbons",
            "email": "peter@initech.test",
            "company": company.pk,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["owner_id"] == member_a.pk
    assert body["company"] == company.pk
    pk = body["id"]

    assert api.get(f"/api/v1/contacts/{pk}/").json()["last_name"] == "Gibbons"
    patched = api.patch(
        f"/api/v1/contacts/{pk}/", {"title": "Engineer"}, content_type="application/json"
    )
    assert patched.status_code == 200
    assert patched.json()["title"] == "Engineer"
    assert api.delete(f"/api/v1/contacts/{pk}/").status_code == 204
    assert api.get(f"/api/v1/contacts/{pk}/").status_code == 404
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(pk=pk).exists()


def test_company_crud_round_trip(api: Client) -> None:
    created = api.post("/api/v1/companies/", {"name": "Umbrella"}, content_type="application/json")
    assert created.status_code == 201
    pk = created.json()["id"]
    renamed = api.put(
        f"/api/v1/companies/{pk}/", {"name": "Umbrella Corp"}, content_type="application/json"
    )
    assert renamed.json()["name"] == "Umbrella Corp"
    assert api.delete(f"/api/v1/companies/{pk}/").status_code == 204


def test_invalid_input_gets_problem_json_with_field_errors(api: Client) -> None:
    response = api.post(
        "/api/v1/contacts/", {"email": "not-an-email"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert body["status"] == 400
    assert set(body["errors"]) == {"first_name", "email"}


def test_a_body_that_cannot_be_read_is_a_malformed_request_not_a_field_error(
    api: Client, tenant_a: Tenant
) -> None:
    response = api.post(
        "/api/v1/contacts/", '{"first_name": "Ada",', content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "malformed-request"
    assert problem["type"].endswith("/malformed-request")
    assert "JSON parse error" in problem["detail"]
    assert "errors" not in problem
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(first_name="Ada").exists()


def test_company_of_another_tenant_cannot_be_linked(api: Client, tenant_b: Tenant) -> None:
    with tenant_context(tenant_b):
        other = CompanyFactory(name="Beta-only Co")
    response = api.post(
        "/api/v1/contacts/",
        {"first_name": "X", "company": other.pk + 10_000},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "company" in response.json()["errors"]


def test_list_is_cursor_paginated_and_query_count_is_flat(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        company = CompanyFactory()
        ContactFactory.create_batch(30, company=company)
    # Warm: the host cache, the token's last-used stamp, the custom field definitions.
    api.get("/api/v1/contacts/")
    with CaptureQueriesContext(connection) as few:
        first = api.get("/api/v1/contacts/", {"page_size": 5})
    with CaptureQueriesContext(connection) as many:
        api.get("/api/v1/contacts/", {"page_size": 30})
    # The token with its owner, what the owner may do here (roles, teams: one statement),
    # then the page with its tags' names: the company goes out as its id, unread.
    for run in (few, many):
        statements = [q["sql"] for q in run.captured_queries]
        assert len(statements) == 3, statements
        assert "iam_apitoken" in statements[0] and "iam_membership" in statements[1]
        assert "crm_contact" in statements[2] and "crm_tag" in statements[2]
        assert not [sql for sql in statements if "crm_company" in sql]
    body = api.get("/api/v1/contacts/").json()
    assert len(first.json()["results"]) == 5
    assert len(body["results"]) == 25
    assert body["next"] and "cursor=" in body["next"]
    second = api.get(body["next"]).json()
    ids = {c["id"] for c in body["results"]} | {c["id"] for c in second["results"]}
    assert len(ids) == len(body["results"]) + len(second["results"]) >= 30


def test_search_filters_contacts(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ContactFactory(first_name="Zebediah", last_name="Quill")
    results = api.get("/api/v1/contacts/", {"search": "zebed"}).json()["results"]
    assert [r["last_name"] for r in results] == ["Quill"]


def test_session_auth_works_for_members(client_a: Client) -> None:
    assert client_a.get("/api/v1/contacts/").status_code == 200


def test_openapi_schema_and_docs_are_served(client_a: Client) -> None:
    schema = client_a.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert b"/api/v1/contacts/" in schema.content
    docs = client_a.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI's scripts and styles are our own static files, not a CDN's.
    page = docs.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page)
    assert len(assets) >= 3 and not re.search(r"(?:src|href)=\"https?://", page)
    for url in assets:
        assert url.startswith(settings.STATIC_URL), url
        assert finders.find(url.removeprefix(settings.STATIC_URL)), url


def test_unknown_route_is_problem_json(api: Client) -> None:
    response = api.get("/api/v1/contacts/999999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "not-found"


def test_unmatched_api_url_is_problem_json_not_an_html_page(api: Client) -> None:
    response = api.get("/api/v1/contacts/not-a-number/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_numbers_are_not_accepted_for_text_fields(api: Client) -> None:
    response = api.post(
        "/api/v1/companies/", {"name": "Acme", "phone": 5550100}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"phone": ["Must be a string."]}


@pytest.mark.parametrize("page_size", ["0", "101", "ten", "-1"])
def test_out_of_range_page_size_is_a_400(api: Client, page_size: str) -> None:
    response = api.get("/api/v1/contacts/", {"page_size": page_size})
    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://www.Example.pl/", "example.pl"),
        ("http://shop.example.pl:8080/a?b=c", "shop.example.pl"),
        ("www.example.pl", "example.pl"),
        ("  example.co.uk.  ", "example.co.uk"),
        ("", ""),
    ],
)
def test_a_company_domain_is_stored_as_the_bare_domain(
    api: Client, given: str, stored: str
) -> None:
    created = api.post(
        "/api/v1/companies/", {"name": "Hooli", "domain": given}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["domain"] == stored
    patched = api.patch(
        f"/api/v1/companies/{created.json()['id']}/",
        {"domain": given.upper()},
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["domain"] == stored


@pytest.mark.parametrize("given", ["not a domain", "https://", "localhost", "exa_mple..com"])
def test_a_company_domain_that_names_no_domain_is_a_field_error(api: Client, given: str) -> None:
    response = api.post(
        "/api/v1/companies/", {"name": "Hooli", "domain": given}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == ["domain"]
    assert "example.com" in response.json()["errors"]["domain"][0]
