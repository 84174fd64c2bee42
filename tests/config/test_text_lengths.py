"""A text longer than the schema's maxLength is refused, even when surrounding spaces would be
trimmed off: request validation and the OpenAPI schema agree, for every serializer of the API
(body and query parameters alike) and every operation the schema lists."""

import json
import re
from typing import Any

import pytest
from django.test import Client
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

import config.urls_tenant  # noqa: F401 - imports every API view, so every serializer exists
from config.api_docs import generated_schema
from iam.models import User
from tenants.models import Tenant
from tests.conftest import token_client

SCHEMA = generated_schema()
OURS = ("crm.", "iam.", "tenants.", "problems.", "pii.", "public_site.", "config.")


def _serializer_classes() -> list[type[serializers.Serializer[Any]]]:
    found: list[type[serializers.Serializer[Any]]] = []
    todo = list(serializers.Serializer.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        abstract = issubclass(cls, serializers.ModelSerializer) and not hasattr(cls, "Meta")
        if cls.__module__.startswith(OURS) and not abstract:
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _text_fields(fields: Any, prefix: str = "") -> list[tuple[str, serializers.CharField]]:
    """(dotted name, field) of every writable text field with a maximum length."""
    found = []
    for name, field in fields.items():
        if field.read_only:
            continue
        while isinstance(field, (serializers.ListField, serializers.DictField)):
            field, name = field.child, f"{name}.0"
        if isinstance(field, serializers.Serializer):
            found += _text_fields(field.fields, f"{prefix}{name}.")
        elif isinstance(field, serializers.CharField) and field.max_length is not None:
            found.append((f"{prefix}{name}", field))
    return found


def _fields_with_a_max_length() -> list[Any]:
    return [
        pytest.param(field, id=f"{cls.__module__}.{cls.__qualname__}.{name}")
        for cls in _serializer_classes()
        for name, field in _text_fields(cls().fields)
    ]


FIELDS = _fields_with_a_max_length()


def test_every_serializer_text_field_is_found() -> None:
    names = {param.id for param in FIELDS}
    assert "crm.api.serializers.CompanySerializer.phone" in names
    assert "crm.api.serializers.CustomFieldSerializer.key" in names
    assert "iam.api.serializers.InvitationCreateSerializer.email" in names or any(
        name.startswith("iam.api.serializers.") and name.endswith(".email") for name in names
    )


@pytest.mark.parametrize("field", FIELDS)
def test_a_text_longer_than_its_max_length_is_refused_even_if_trimming_would_fit_it(
    field: serializers.CharField,
) -> None:
    assert field.max_length is not None
    padded = " " * 4 + "x" * field.max_length
    with pytest.raises(ValidationError) as refused:
        field.run_validation(padded)
    assert refused.value.get_codes() == ["max_length"]
    # At the limit, spaces included, the length is fine (the text may fail other rules).
    try:
        field.run_validation(" " + "x" * (field.max_length - 1))
    except ValidationError as other:
        assert "max_length" not in str(other.get_codes())


# Over HTTP, as the schema describes each operation: every top-level text property and query
# parameter with a maxLength, on the operations that need no record (no path parameters).

OPERATIONS = [
    (method, path, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
    if method in ("get", "post", "put", "patch") and "{" not in path
]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _body_cases() -> list[Any]:
    cases = []
    for method, path, operation in OPERATIONS:
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        properties = _resolve(content["application/json"]["schema"]).get("properties", {})
        for name, prop in properties.items():
            prop = _resolve(prop)
            if prop.get("type") == "string" and "maxLength" in prop and not prop.get("readOnly"):
                cases.append(pytest.param(method, path, name, prop, id=f"{method} {path} {name}"))
    return cases


def _query_cases() -> list[Any]:
    return [
        pytest.param(path, p["name"], p["schema"], id=f"{path}?{p['name']}")
        for method, path, operation in OPERATIONS
        if method == "get"
        for p in operation.get("parameters", [])
        if p["in"] == "query"
        and p["schema"].get("type") == "string"
        and "maxLength" in p["schema"]
        and "enum" not in p["schema"]
    ]


@pytest.fixture
def api(tenant_a: Tenant, owner_a: User) -> Client:
    return token_client(owner_a, tenant_a)


def _too_long(schema: dict[str, Any]) -> str:
    return " " * 4 + "x" * int(schema["maxLength"])


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "name", "schema"), _body_cases())
def test_a_body_text_longer_than_the_schema_says_is_a_400_on_it(
    api: Client, method: str, path: str, name: str, schema: dict[str, Any]
) -> None:
    body = json.dumps({name: _too_long(schema)})
    response = api.generic(method.upper(), path, body, "application/json")
    assert response.status_code == 400, response.content[:300]
    messages = response.json()["errors"][name]
    assert any(re.search(rf"no more than {schema['maxLength']} characters", m) for m in messages)


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "name", "schema"), _query_cases())
def test_a_query_text_longer_than_the_schema_says_is_a_400_on_it(
    api: Client, path: str, name: str, schema: dict[str, Any]
) -> None:
    response = api.get(path, {name: _too_long(schema)})
    assert response.status_code == 400, response.content[:300]
    assert name in response.json()["errors"]


@pytest.mark.django_db
def test_a_phone_of_4_spaces_and_50_digits_is_refused_and_50_digits_are_kept(
    api: Client,
) -> None:
    refused = api.post(
        "/api/v1/companies/", {"name": "Initech", "phone": " " * 4 + "1" * 50}, "application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["errors"]["phone"] == [
        "Ensure this field has no more than 50 characters."
    ]
    kept = api.post(
        "/api/v1/companies/", {"name": "Initech", "phone": " " + "1" * 49}, "application/json"
    )
    assert kept.status_code == 201, kept.content
    assert kept.json()["phone"] == "1" * 49
