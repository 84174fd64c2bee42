"""A NUL character anywhere in a request's text is a 400 naming where it is, never a server
error (PostgreSQL refuses NUL in text): every query parameter and every text field of every
API operation, as the OpenAPI schema lists them (so new endpoints are covered as they are
added), and every form of the web pages."""

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from config.api_docs import generated_schema
from iam.models import User
from problems.nul import MESSAGE
from tenants.models import Tenant
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db

SCHEMA = generated_schema()
METHODS = ("get", "post", "put", "patch", "delete")
NUL_TEXT = "Ada\x00Lovelace"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its `$ref` (and a single-item allOf/oneOf) followed."""
    while True:
        if "$ref" in schema:
            schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif len(schema.get("allOf", schema.get("oneOf", []))) == 1:
            schema = (schema.get("allOf") or schema["oneOf"])[0]
        else:
            return schema


def _text_values(schema: dict[str, Any]) -> list[tuple[str, Any]]:
    """(where, a value with a NUL there) for each text a client may send in `schema`; where
    is a dotted path ("" for the value itself, `custom.note`, `tags.0`)."""
    schema = _resolve(schema)
    if schema.get("readOnly"):
        return []
    kind = schema.get("type")
    if kind == "string" and schema.get("format") != "binary":
        return [("", NUL_TEXT)]
    if kind == "array":
        return [(_join("0", where), [value]) for where, value in _text_values(schema["items"])]
    if kind == "object" or "properties" in schema:
        found = [
            (_join(name, where), {name: value})
            for name, field in schema.get("properties", {}).items()
            for where, value in _text_values(field)
        ]
        if "properties" not in schema and schema.get("additionalProperties") is not None:
            found.append(("note", {"note": NUL_TEXT}))  # values by key: custom fields
        return found
    return []


def _join(name: str, where: str) -> str:
    return f"{name}.{where}" if where else name


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in SCHEMA["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _query_cases() -> list[Any]:
    cases = []
    for method, path, operation in _operations():
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        # An endpoint that declares none still gets one: a client may send any.
        for name in names or ["search"]:
            cases.append(pytest.param(method, path, name, id=f"{method} {path}?{name}"))
    return cases


def _body_cases() -> list[Any]:
    cases = []
    for method, path, operation in _operations():
        content = operation.get("requestBody", {}).get("content", {})
        for media_type in ("application/json", "multipart/form-data"):
            if media_type not in content:
                continue
            for where, body in _text_values(content[media_type]["schema"]):
                cases.append(
                    pytest.param(
                        method, path, media_type, where, body, id=f"{method} {path} {where}"
                    )
                )
    return cases


def _concrete(path: str) -> str:
    """The path with each `{parameter}` filled in: no record needs to exist, the NUL is
    refused before a view looks one up."""
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.fixture
def api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def _assert_refused(response: Any, where: str) -> None:
    assert response.status_code == 400, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation-error"
    assert body["errors"][where] == [MESSAGE], body


@pytest.mark.parametrize(("method", "path", "name"), _query_cases())
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(
    api: Client, method: str, path: str, name: str
) -> None:
    response = api.generic(method.upper(), f"{_concrete(path)}?{name}=Ada%00")
    _assert_refused(response, name)


@pytest.mark.parametrize(("method", "path", "media_type", "where", "body"), _body_cases())
def test_a_nul_in_a_text_field_of_a_body_is_a_400_naming_it(
    api: Client, method: str, path: str, media_type: str, where: str, body: dict[str, Any]
) -> None:
    url = _concrete(path)
    if media_type == "application/json":
        response = api.generic(method.upper(), url, json.dumps(body), "application/json")
    else:  # an upload: the form fields of the page's import, with a file
        from django.core.files.uploadedfile import SimpleUploadedFile

        upload = SimpleUploadedFile("contacts.csv", b"first name,last name\nAda,Lovelace\n")
        response = api.post(url, {"file": upload, **body})
    assert response.status_code == 400, response.content[:500]
    errors = response.json()["errors"]
    assert where in errors, errors
    assert not any(" 500" in message for message in errors[where])


def test_the_search_that_used_to_fail_is_a_400_and_searching_still_works(
    api: Client,
) -> None:
    refused = api.get("/api/v1/companies/?search=%00")
    _assert_refused(refused, "search")
    assert api.get("/api/v1/companies/?search=Ada").status_code == 200


def test_nul_in_a_custom_value_a_key_or_a_list_is_named_by_its_path(api: Client) -> None:
    response = api.post(
        "/api/v1/companies/",
        json.dumps({"name": "Initech", "custom": {"note\x00": "x"}, "tags": ["ok", "b\x00d"]}),
        "application/json",
    )
    _assert_refused(response, "custom.note\\0")
    assert set(response.json()["errors"]) == {"custom.note\\0", "tags.1"}


def test_nul_in_the_path_is_a_400(api: Client, tenant_a: Tenant, owner_a: User) -> None:
    _assert_refused(api.get("/api/v1/custom-fields/%00/"), "path")
    page = Client(HTTP_HOST=host_of(tenant_a))
    page.force_login(owner_a)
    assert page.get("/contacts/%00/").status_code == 400


def test_a_body_that_is_not_json_is_still_refused_as_malformed(api: Client) -> None:
    response = api.post("/api/v1/companies/", b'{"name": "a\x00', "application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed-request"


# The web pages: every page whose address has no parameter, on an organization's host and on
# the public site, refuses a NUL in its query string and in a form it is sent.


def _pages(patterns: list[Any], prefix: str = "") -> list[str]:
    found = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if "<" in route or "(?P" in route or route.startswith(("api/", "admin/", "static/")):
            continue
        if isinstance(entry, URLResolver):
            found += _pages(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and not route.startswith("^"):
            found.append("/" + route)
    return sorted(set(found))


TENANT_PAGES = _pages(get_resolver("config.urls_tenant").url_patterns)
PUBLIC_PAGES = _pages(get_resolver("config.urls_public").url_patterns)


@pytest.fixture
def browser_a(tenant_a: Tenant, owner_a: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(owner_a)
    return client


def _post_form(client: Client, page: str, data: dict[str, str]) -> Any:
    """POST `data` as a browser sends a form: URL-encoded."""
    return client.post(page, urlencode(data), content_type="application/x-www-form-urlencoded")


def _assert_page_refuses(response: Any, name: str) -> None:
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "null character" in page and name in page


def test_every_page_is_listed() -> None:
    tenant = ("crm:contact_list", "crm:company_create", "crm:custom_field_create", "iam:members")
    assert {reverse(name, urlconf="config.urls_tenant") for name in tenant} <= set(TENANT_PAGES)
    public = ("public_site:signup", "account_login")
    assert {reverse(name, urlconf="config.urls_public") for name in public} <= set(PUBLIC_PAGES)


@pytest.mark.parametrize("page", TENANT_PAGES)
def test_a_page_refuses_a_nul_in_its_query_string_and_its_form(
    browser_a: Client, page: str
) -> None:
    _assert_page_refuses(browser_a.get(f"{page}?q=Ada%00"), "q")
    _assert_page_refuses(_post_form(browser_a, page, {"name": NUL_TEXT, "other": "x"}), "name")
    # Sent as an upload (multipart) form: the same, but for upload pages, which read their body
    # late and refuse a NUL with their own form.
    upload = browser_a.post(page, {"name": NUL_TEXT, "first_name": NUL_TEXT})
    if getattr(resolve(page, urlconf="config.urls_tenant").func, "csrf_exempt", False):
        assert upload.status_code < 500
    else:
        _assert_page_refuses(upload, "name")


@pytest.mark.parametrize("page", PUBLIC_PAGES)
def test_a_public_page_refuses_a_nul_in_its_query_string_and_its_form(
    public_client: Client, page: str
) -> None:
    _assert_page_refuses(public_client.get(f"{page}?next=%00"), "next")
    _assert_page_refuses(_post_form(public_client, page, {"email": NUL_TEXT}), "email")
    assert public_client.post(page, {"email": NUL_TEXT, "slug": NUL_TEXT}).status_code < 500


def test_a_json_body_larger_than_the_upload_limit_is_a_400(api: Client) -> None:
    """The check reads JSON bodies whole, within Django's limit on bodies read in memory."""
    name = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = api.post("/api/v1/companies/", json.dumps({"name": name}), "application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "bad-request"
