"""Custom fields: definitions (owners and admins manage, members use), typed values on contacts
and companies through the API, the forms and the admin, sensitive values stored only as
ciphertext, and nothing of one organization visible from another."""

import json
import re
import threading
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from crm import services
from crm.models import Company, Contact, CustomField
from iam.models import User
from iam.services import api_token_create
from pii import keys
from pii.exceptions import CiphertextInvalid
from pii.services import key_versions_in_use, tenant_key_rotate, values_reseal
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of, token_client
from tests.support.connections import (
    assert_second_waits_for_first,
    committed_organization,
    run_on_own_connection,
)

from .factories import CustomFieldFactory

pytestmark = pytest.mark.django_db

PASSPORT = "P<UTOERIKSSON<<ANNA<MARIA"


@pytest.fixture(autouse=True)
def _no_keys_in_memory() -> Iterator[None]:
    """Each test's key rows are rolled back, so unwrapped keys must not outlive the test."""
    keys.forget_all()
    yield
    keys.forget_all()


def _client(tenant: Tenant, user: User) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    client.force_login(user)
    return client


@pytest.fixture
def owner_api(tenant_a: Tenant, owner_a: User) -> Client:
    _, raw = api_token_create(user=owner_a, tenant=tenant_a, name="tests")
    return Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def member_api(tenant_a: Tenant, member_a: User) -> Client:
    return token_client(member_a, tenant_a)


@pytest.fixture
def owner_web(tenant_a: Tenant, owner_a: User) -> Client:
    return _client(tenant_a, owner_a)


def _define(tenant: Tenant, **kwargs: Any) -> CustomField:
    with tenant_context(tenant):
        return CustomFieldFactory(**kwargs)


def _stored(tenant: Tenant, model: type[Contact] | type[Company], pk: int) -> tuple[str, str]:
    """The raw text of a record's `custom` and `custom_sealed` columns."""
    with tenant_context(tenant), connection.cursor() as cur:
        cur.execute(
            f"SELECT custom::text, custom_sealed::text FROM {model._meta.db_table} WHERE id = %s",
            [pk],
        )
        plain, sealed = cur.fetchone()
        return plain, sealed


def _post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, body, content_type="application/json")


def _patch(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.patch(url, body, content_type="application/json")


# Definitions -------------------------------------------------------------------------------


def test_owner_defines_changes_and_deletes_a_field_through_the_api(owner_api: Client) -> None:
    created = _post(
        owner_api,
        "/api/v1/custom-fields/",
        {"entity": "company", "label": "Industry", "type": "choice", "options": ["Retail", "Tech"]},
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["key"] == "industry"  # made from the label
    assert (body["options"], body["sensitive"], body["required"]) == (
        ["Retail", "Tech"],
        False,
        False,
    )
    url = f"/api/v1/custom-fields/{body['id']}/"

    changed = _patch(owner_api, url, {"label": "Sector", "required": True, "position": 7})
    assert changed.status_code == 200
    assert (changed.json()["label"], changed.json()["required"]) == ("Sector", True)
    listed = owner_api.get("/api/v1/custom-fields/", {"entity": "company"}).json()
    assert [(f["key"], f["label"], f["position"]) for f in listed] == [("industry", "Sector", 7)]
    assert owner_api.get("/api/v1/custom-fields/", {"entity": "contact"}).json() == []

    assert owner_api.delete(url).status_code == 204
    assert owner_api.get(url).status_code == 404


def test_key_entity_and_type_are_fixed_once_a_field_exists(
    owner_api: Client, tenant_a: Tenant
) -> None:
    field = _post(
        owner_api,
        "/api/v1/custom-fields/",
        {"entity": "contact", "label": "Nickname", "type": "text"},
    ).json()
    url = f"/api/v1/custom-fields/{field['id']}/"
    replaced = owner_api.put(
        url,
        {"label": "Alias", "key": "alias", "entity": "company", "type": "number"},
        content_type="application/json",
    )
    assert replaced.status_code == 200
    assert (replaced.json()["key"], replaced.json()["entity"], replaced.json()["type"]) == (
        "nickname",
        "contact",
        "text",
    )
    with tenant_context(tenant_a), pytest.raises(InvalidFields) as raised:
        services.custom_field_update(
            field=CustomField.objects.get(pk=field["id"]), by=None, key="alias", type="date"
        )
    assert set(raised.value.field_errors()) == {"key", "type"}


def test_a_taken_key_is_a_409_problem(owner_api: Client) -> None:
    first = {"entity": "contact", "label": "Region", "type": "text"}
    assert _post(owner_api, "/api/v1/custom-fields/", first).status_code == 201
    again = _post(owner_api, "/api/v1/custom-fields/", {**first, "label": "Region "})
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["code"] == "custom-field-key-taken"
    assert "region" in again.json()["errors"]["key"][0]
    # The same key on the other entity is another field.
    assert (
        _post(owner_api, "/api/v1/custom-fields/", {**first, "entity": "company"}).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "choice", "options": []}, "options"),
        ({"type": "choice", "options": ["A", "a"]}, "options"),
        ({"type": "text", "options": ["A"]}, "options"),
        ({"type": "boolean", "required": True}, "required"),
        ({"type": "text", "key": "Bad Key"}, "key"),
        ({"type": "text", "key": "1st"}, "key"),
        ({"type": "colour"}, "type"),
        ({"type": "text", "entity": "deal"}, "entity"),
        ({"type": "text", "label": "   "}, "label"),
    ],
)
def test_invalid_definitions_are_problem_json_with_field_errors(
    owner_api: Client, body: dict[str, Any], field: str
) -> None:
    response = _post(
        owner_api, "/api/v1/custom-fields/", {"entity": "contact", "label": "Thing", **body}
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation-error"
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {"sensitive": "true"},
        {"required": 1},
        {"position": "3"},
        {"position": -1},
        {"label": 7},
        {"key": 7},
        {"options": "Gold"},
    ],
)
def test_definition_fields_take_json_types_at_their_word(
    owner_api: Client, body: dict[str, Any]
) -> None:
    response = _post(
        owner_api,
        "/api/v1/custom-fields/",
        {"entity": "contact", "label": "Thing", "type": "text", **body},
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(body)


def test_listing_by_an_unknown_entity_is_a_400(owner_api: Client) -> None:
    for entity in ("", "deal"):
        response = owner_api.get("/api/v1/custom-fields/", {"entity": entity})
        assert response.status_code == 400
        assert "entity" in response.json()["errors"]


def test_new_fields_go_last_even_after_the_highest_position(owner_api: Client) -> None:
    base = {"entity": "contact", "type": "text"}
    last = _post(owner_api, "/api/v1/custom-fields/", {**base, "label": "A", "position": 32767})
    after = _post(owner_api, "/api/v1/custom-fields/", {**base, "label": "B"})
    assert (last.status_code, after.status_code) == (201, 201)
    assert after.json()["position"] == 32767
    assert [f["label"] for f in owner_api.get("/api/v1/custom-fields/").json()] == ["A", "B"]


def test_member_reads_definitions_but_cannot_manage_them(
    member_api: Client, tenant_a: Tenant
) -> None:
    field = _define(tenant_a, label="Region", key="region")
    url = f"/api/v1/custom-fields/{field.pk}/"
    assert [f["key"] for f in member_api.get("/api/v1/custom-fields/").json()] == ["region"]
    assert member_api.get(url).status_code == 200
    attempts = [
        _post(
            member_api,
            "/api/v1/custom-fields/",
            {"entity": "contact", "label": "X", "type": "text"},
        ),
        _patch(member_api, url, {"sensitive": True}),
        member_api.put(url, {"label": "Y"}, content_type="application/json"),
        member_api.delete(url),
    ]
    for response in attempts:
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "access-denied"
        assert "CRM set-up right" in response.json()["detail"]
    with tenant_context(tenant_a):
        unchanged = CustomField.objects.get(pk=field.pk)
        assert (unchanged.label, unchanged.sensitive) == ("Region", False)


def test_member_has_no_custom_fields_settings(client_a: Client, tenant_a: Tenant) -> None:
    field = _define(tenant_a)
    assert b"Custom fields" not in client_a.get("/").content  # no link in the top bar
    assert client_a.get("/settings/custom-fields/").status_code == 403
    assert client_a.get("/settings/custom-fields/new/").status_code == 403
    assert (
        client_a.post(f"/settings/custom-fields/{field.pk}/edit/", {"label": "X"}).status_code
        == 403
    )
    assert client_a.post(f"/settings/custom-fields/{field.pk}/delete/").status_code == 403
    with tenant_context(tenant_a):
        assert CustomField.objects.filter(pk=field.pk).exists()


def test_owner_manages_fields_on_the_settings_page(owner_web: Client, tenant_a: Tenant) -> None:
    assert b"/settings/custom-fields/" in owner_web.get("/").content
    form = owner_web.get("/settings/custom-fields/new/", {"entity": "company"})
    assert form.status_code == 200
    assert b'<option value="company" selected>' in form.content
    created = owner_web.post(
        "/settings/custom-fields/new/",
        {
            "entity": "company",
            "label": "Tier",
            "type": "choice",
            "options": "Gold\nSilver\n\n",
            "position": "",
        },
    )
    assert created.status_code == 302
    with tenant_context(tenant_a):
        field = CustomField.objects.get(key="tier")
    assert (field.entity, field.options, field.sensitive) == ("company", ["Gold", "Silver"], False)
    listing = owner_web.get("/settings/custom-fields/").content.decode()
    assert "Tier" in listing and "Single choice" in listing

    edit_page = owner_web.get(f"/settings/custom-fields/{field.pk}/edit/")
    assert edit_page.status_code == 200
    assert edit_page.context["form"]["label"].value() == "Tier"
    assert edit_page.context["form"]["options"].value() == "Gold\nSilver"
    assert 'value="tier"' in edit_page.content.decode()  # shown, but not editable
    edited = owner_web.post(
        f"/settings/custom-fields/{field.pk}/edit/",
        {
            "label": "Account tier",
            "options": "Gold\nSilver\nBronze",
            "sensitive": "on",
            "position": "3",
        },
    )
    assert edited.status_code == 302
    with tenant_context(tenant_a):
        field.refresh_from_db()
    assert (field.label, field.options, field.sensitive, field.position, field.key) == (
        "Account tier",
        ["Gold", "Silver", "Bronze"],
        True,
        3,
        "tier",
    )
    removed = owner_web.post(f"/settings/custom-fields/{field.pk}/delete/", HTTP_HX_REQUEST="true")
    assert removed.status_code == 200 and removed.content == b""  # htmx swaps the row out
    with tenant_context(tenant_a):
        assert not CustomField.objects.filter(pk=field.pk).exists()


def test_options_typed_before_switching_away_from_a_single_choice_are_dropped(
    owner_web: Client, tenant_a: Tenant
) -> None:
    created = owner_web.post(
        "/settings/custom-fields/new/",
        {"entity": "contact", "label": "Nickname", "type": "text", "options": "A\nB"},
    )
    assert created.status_code == 302
    with tenant_context(tenant_a):
        assert CustomField.objects.get(key="nickname").options == []


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("Größe des Teams", "grosse_des_teams"),
        ("Ärger-Quote", "arger_quote"),
        ("Размер команды", "razmer_komandy"),
        ("Łódź office", "lodz_office"),
    ],
)
def test_a_key_made_from_a_label_transliterates_its_letters(
    owner_api: Client, owner_web: Client, tenant_a: Tenant, label: str, key: str
) -> None:
    created = _post(
        owner_api, "/api/v1/custom-fields/", {"entity": "contact", "label": label, "type": "text"}
    )
    assert created.status_code == 201, created.content
    assert created.json()["key"] == key
    page = owner_web.post(
        "/settings/custom-fields/new/", {"entity": "company", "label": label, "type": "text"}
    )
    assert page.status_code == 302
    with tenant_context(tenant_a):
        assert CustomField.objects.get(entity="company").key == key


def test_the_options_of_a_single_choice_are_not_labelled_optional(
    owner_web: Client, tenant_a: Tenant
) -> None:
    page = owner_web.get("/settings/custom-fields/new/").content.decode()
    label = re.search(r'<label for="id_options"[^>]*>(.*?)</label>', page, re.DOTALL)
    assert label is not None
    assert "Options" in label.group(1) and "optional" not in label.group(1)
    assert "(optional)" in page  # other fields that may stay empty still say so
    missing = owner_web.post(
        "/settings/custom-fields/new/",
        {"entity": "contact", "label": "Size", "type": "choice", "options": " \n "},
    )
    assert missing.status_code == 400
    assert missing.context["form"].errors["options"] == ["Give at least one option."]


def test_a_web_address_typed_without_https_is_saved_from_the_contact_form(
    client_a: Client, tenant_a: Tenant
) -> None:
    _define(tenant_a, key="linkedin", label="LinkedIn", type="url")
    page = client_a.get("/contacts/new/").content.decode()
    tag = re.search(r'<input\b[^>]*\bid="id_custom_linkedin"[^>]*>', page)
    assert tag is not None and 'type="url"' not in tag.group(0)  # no browser-only refusal
    created = client_a.post(
        "/contacts/new/", {"first_name": "Ada", "custom_linkedin": "linkedin.com/in/ada"}
    )
    assert created.status_code == 302
    with tenant_context(tenant_a):
        assert Contact.objects.get(first_name="Ada").custom == {
            "linkedin": "https://linkedin.com/in/ada"
        }
    refused = client_a.post("/contacts/new/", {"first_name": "Bo", "custom_linkedin": "nope"})
    assert refused.status_code == 400
    assert "such as example.com/page" in refused.context["form"].errors["custom_linkedin"][0]


def test_settings_form_shows_errors_next_to_fields(owner_web: Client, tenant_a: Tenant) -> None:
    _define(tenant_a, key="region", label="Region")
    missing = owner_web.post(
        "/settings/custom-fields/new/", {"entity": "contact", "label": "Size", "type": "choice"}
    )
    assert missing.status_code == 400
    assert missing.context["form"].errors["options"] == ["Give at least one option."]
    taken = owner_web.post(
        "/settings/custom-fields/new/", {"entity": "contact", "label": "Region", "type": "text"}
    )
    assert taken.status_code == 409
    assert "already exists" in taken.context["form"].errors["key"][0]
    assert b'class="field-error"' in taken.content


# Values ------------------------------------------------------------------------------------

VALID = [
    ("text", "  Blue  ", "Blue"),
    ("long_text", "line 1\nline 2", "line 1\nline 2"),
    ("number", 42.0, 42),
    ("number", 2.5, 2.5),
    ("date", "2024-02-29", "2024-02-29"),
    ("email", "ada@example.test", "ada@example.test"),
    ("phone", "+44 (20) 7946-0000", "+44 (20) 7946-0000"),
    ("url", "https://example.test/a?b=c", "https://example.test/a?b=c"),
    ("url", "linkedin.com/in/x", "https://linkedin.com/in/x"),
    ("url", " HTTP://Example.test ", "HTTP://Example.test"),
    ("boolean", False, False),
    ("choice", "Gold", "Gold"),
]
INVALID = [
    ("text", "x" * 256, "at most 255"),
    ("text", 12, "Must be a string."),
    ("number", "12", "Must be a number."),
    ("number", True, "Must be a number."),
    ("date", "2023-02-29", "YYYY-MM-DD"),
    ("date", "29/02/2024", "YYYY-MM-DD"),
    ("email", "not-an-address", "valid e-mail"),
    ("phone", "call me", "phone number"),
    ("url", "ftp://example.test", "only http:// and https://"),
    ("url", "example", "such as example.com/page"),
    ("url", "javascript:alert(1)", "such as example.com/page"),
    ("boolean", "yes", "true or false"),
    ("choice", "Platinum", "Choose one of: Gold, Silver."),
    ("text", "a\x00b", "Null characters"),
]


@pytest.mark.parametrize(("kind", "given", "stored"), VALID)
@pytest.mark.parametrize("sensitive", [False, True])
def test_valid_values_are_stored_and_read_back_by_type(
    owner_api: Client, tenant_a: Tenant, kind: str, given: Any, stored: Any, sensitive: bool
) -> None:
    _define(tenant_a, key="thing", type=kind, options=["Gold", "Silver"], sensitive=sensitive)
    created = _post(
        owner_api, "/api/v1/contacts/", {"first_name": "Ada", "custom": {"thing": given}}
    )
    assert created.status_code == 201, created.content
    assert created.json()["custom"] == {"thing": stored}
    read = owner_api.get(f"/api/v1/contacts/{created.json()['id']}/").json()
    assert read["custom"]["thing"] == stored
    assert type(read["custom"]["thing"]) is type(stored)


@pytest.mark.parametrize(("kind", "given", "message"), INVALID)
def test_invalid_values_are_problem_json_per_field(
    owner_api: Client, tenant_a: Tenant, kind: str, given: Any, message: str
) -> None:
    _define(tenant_a, key="thing", type=kind, options=["Gold", "Silver"])
    response = _post(
        owner_api, "/api/v1/contacts/", {"first_name": "Ada", "custom": {"thing": given}}
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert list(errors) == ["custom.thing"]
    assert message in errors["custom.thing"][0]


def test_unknown_keys_and_non_objects_are_rejected(owner_api: Client, tenant_a: Tenant) -> None:
    _define(tenant_a, key="region")
    unknown = _post(owner_api, "/api/v1/contacts/", {"first_name": "A", "custom": {"regoin": "x"}})
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == {
        "custom.regoin": ["There is no custom field with this key."]
    }
    listed = _post(owner_api, "/api/v1/contacts/", {"first_name": "A", "custom": ["x"]})
    assert listed.status_code == 400 and "custom" in listed.json()["errors"]
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(first_name="A").exists()


def test_writes_change_only_the_keys_given_and_null_removes(
    owner_api: Client, tenant_a: Tenant
) -> None:
    _define(tenant_a, key="region")
    _define(tenant_a, key="code", sensitive=True)
    contact = _post(
        owner_api, "/api/v1/contacts/", {"first_name": "A", "custom": {"region": "EU", "code": "7"}}
    ).json()
    url = f"/api/v1/contacts/{contact['id']}/"
    assert _patch(owner_api, url, {"title": "CTO"}).json()["custom"] == {
        "region": "EU",
        "code": "7",
    }
    assert _patch(owner_api, url, {"custom": {"code": "8"}}).json()["custom"] == {
        "region": "EU",
        "code": "8",
    }
    cleared = _patch(owner_api, url, {"custom": {"region": None, "code": ""}}).json()
    assert cleared["custom"] == {"region": None, "code": None}
    assert _stored(tenant_a, Contact, contact["id"]) == ("{}", "{}")


def test_required_values_are_needed_on_create_and_cannot_be_removed(
    owner_api: Client, tenant_a: Tenant
) -> None:
    _define(tenant_a, key="region", required=True)
    missing = _post(owner_api, "/api/v1/contacts/", {"first_name": "A"})
    assert missing.status_code == 400
    assert missing.json()["errors"] == {"custom.region": ["This field is required."]}
    contact = _post(
        owner_api, "/api/v1/contacts/", {"first_name": "A", "custom": {"region": "EU"}}
    ).json()
    url = f"/api/v1/contacts/{contact['id']}/"
    assert _patch(owner_api, url, {"custom": {"region": ""}}).status_code == 400
    assert _patch(owner_api, url, {"last_name": "B"}).status_code == 200


def test_companies_carry_custom_values_too(owner_api: Client, tenant_a: Tenant) -> None:
    _define(tenant_a, entity="company", key="tier", type="choice", options=["Gold"])
    _define(tenant_a, entity="company", key="tax_id", sensitive=True)
    _define(tenant_a, entity="contact", key="tier", type="number")  # another entity's field
    created = _post(
        owner_api,
        "/api/v1/companies/",
        {"name": "Initech", "custom": {"tier": "Gold", "tax_id": "DE-123456789"}},
    )
    assert created.status_code == 201, created.content
    assert created.json()["custom"] == {"tier": "Gold", "tax_id": "DE-123456789"}
    plain, sealed = _stored(tenant_a, Company, created.json()["id"])
    assert json.loads(plain) == {"tier": "Gold"}
    assert "DE-123456789" not in sealed and json.loads(sealed)["tax_id"].startswith("v1.")


def test_contact_list_makes_one_query_for_definitions_however_many_rows(
    owner_api: Client, tenant_a: Tenant
) -> None:
    _define(tenant_a, key="region")
    _define(tenant_a, key="code", sensitive=True)
    for i in range(12):
        _post(owner_api, "/api/v1/contacts/", {"first_name": f"C{i}", "custom": {"code": str(i)}})
    owner_api.get("/api/v1/contacts/")
    with CaptureQueriesContext(connection) as few:
        owner_api.get("/api/v1/contacts/", {"page_size": 2})
    with CaptureQueriesContext(connection) as many:
        results = owner_api.get("/api/v1/contacts/", {"page_size": 12}).json()["results"]
    assert len(many) == len(few) <= 13
    assert {r["custom"]["code"] for r in results} == {str(i) for i in range(12)}


# Forms, pages, admin -----------------------------------------------------------------------


WIDGETS = [
    ("text", "input", 'type="text"'),
    ("long_text", "textarea", ""),
    ("number", "input", 'type="number"'),
    ("date", "input", 'type="date"'),
    ("email", "input", 'type="email"'),
    ("phone", "input", 'type="tel"'),
    ("url", "input", 'inputmode="url"'),
    ("boolean", "input", 'type="checkbox"'),
    ("choice", "select", ""),
]


def test_contact_form_renders_each_type_with_its_input(client_a: Client, tenant_a: Tenant) -> None:
    for kind, _, _ in WIDGETS:
        options = ["Gold"] if kind == "choice" else []
        _define(tenant_a, key=f"f_{kind}", label=f"My {kind}", type=kind, options=options)
    page = client_a.get("/contacts/new/").content.decode()
    assert "More details" in page
    for kind, element, attribute in WIDGETS:
        tag = re.search(rf'<{element}\b[^>]*\bid="id_custom_f_{kind}"[^>]*>', page)
        assert tag is not None, kind
        assert attribute in tag.group(0), tag.group(0)
        assert f"My {kind}" in page


def test_contact_form_shows_type_errors_next_to_custom_fields(
    client_a: Client, tenant_a: Tenant
) -> None:
    _define(tenant_a, key="site", label="Website", type="url")
    _define(tenant_a, key="mobile", label="Mobile", type="phone")
    _define(tenant_a, key="region", label="Region", required=True)
    response = client_a.post(
        "/contacts/new/",
        {"first_name": "Ada", "custom_site": "not a url", "custom_mobile": "call me"},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"custom_site", "custom_mobile", "custom_region"}
    assert "phone number" in errors["custom_mobile"][0]
    assert errors["custom_region"] == ["This field is required."]
    with tenant_context(tenant_a):
        assert not Contact.objects.filter(first_name="Ada").exists()


def test_contact_form_saves_custom_values_and_the_page_shows_them(
    client_a: Client, tenant_a: Tenant
) -> None:
    _define(tenant_a, key="site", label="Website", type="url")
    _define(tenant_a, key="since", label="Customer since", type="date")
    _define(tenant_a, key="vip", label="VIP", type="boolean")
    _define(tenant_a, key="passport", label="Passport", sensitive=True)
    created = client_a.post(
        "/contacts/new/",
        {
            "first_name": "Anna",
            "custom_site": "https://anna.example.test",
            "custom_since": "2021-03-04",
            "custom_vip": "on",
            "custom_passport": PASSPORT,
        },
    )
    assert created.status_code == 302, created.context["form"].errors
    with tenant_context(tenant_a):
        contact = Contact.objects.get(first_name="Anna")
    plain, sealed = _stored(tenant_a, Contact, contact.pk)
    assert json.loads(plain) == {
        "site": "https://anna.example.test",
        "since": "2021-03-04",
        "vip": True,
    }
    assert PASSPORT not in sealed
    page = client_a.get(f"/contacts/{contact.pk}/").content.decode()
    for text in (
        "Website",
        "https://anna.example.test",
        "Customer since",
        "VIP",
        "Yes",
        "Passport",
    ):
        assert text in page
    assert PASSPORT.replace("<", "&lt;") in page
    form = client_a.get(f"/contacts/{contact.pk}/edit/").content.decode()
    assert 'value="2021-03-04"' in form and PASSPORT.replace("<", "&lt;") in form

    edited = client_a.post(
        f"/contacts/{contact.pk}/edit/",
        {
            "first_name": "Anna",
            "custom_site": "",
            "custom_since": "2021-03-04",
            "custom_passport": "X1",
        },
    )
    assert edited.status_code == 302
    with tenant_context(tenant_a):
        values = Contact.objects.get(pk=contact.pk)
        assert values.custom == {"since": "2021-03-04", "vip": False}
        assert values.custom_sealed == {"passport": "X1"}


def test_company_form_and_page_carry_custom_values(client_a: Client, tenant_a: Tenant) -> None:
    _define(tenant_a, entity="company", key="employees", label="Employees", type="number")
    created = client_a.post("/companies/new/", {"name": "Initech", "custom_employees": "250"})
    assert created.status_code == 302
    with tenant_context(tenant_a):
        company = Company.objects.get(name="Initech")
        assert company.custom == {"employees": 250}
    page = client_a.get(f"/companies/{company.pk}/").content.decode()
    assert "Employees" in page and "250" in page
    bad = client_a.post(
        f"/companies/{company.pk}/edit/", {"name": "Initech", "custom_employees": "many"}
    )
    assert bad.status_code == 400
    assert "custom_employees" in bad.context["form"].errors


def test_tenant_admin_shows_and_saves_sensitive_values_in_plaintext(
    owner_web: Client, tenant_a: Tenant
) -> None:
    _define(tenant_a, key="passport", label="Passport", sensitive=True)
    with tenant_context(tenant_a):
        contact = services.contact_create(by=None, first_name="Anna", custom={"passport": PASSPORT})
    page = owner_web.get(f"/admin/crm/contact/{contact.pk}/change/")
    assert page.status_code == 200
    assert PASSPORT.replace("<", "&lt;") in page.content.decode()
    saved = owner_web.post(
        f"/admin/crm/contact/{contact.pk}/change/",
        {"first_name": "Anna", "custom_passport": "X9", "_save": "Save"},
    )
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    with tenant_context(tenant_a):
        assert Contact.objects.get(pk=contact.pk).custom_sealed == {"passport": "X9"}
    assert "X9" not in _stored(tenant_a, Contact, contact.pk)[1]


# Sensitive values at rest ------------------------------------------------------------------


def test_sensitive_value_is_only_ciphertext_in_the_row(owner_api: Client, tenant_a: Tenant) -> None:
    _define(tenant_a, key="passport", sensitive=True)
    _define(tenant_a, key="nickname")
    created = _post(
        owner_api,
        "/api/v1/contacts/",
        {"first_name": "Anna", "custom": {"passport": PASSPORT, "nickname": "Annie"}},
    ).json()
    assert created["custom"] == {"passport": PASSPORT, "nickname": "Annie"}
    plain, sealed = _stored(tenant_a, Contact, created["id"])
    assert json.loads(plain) == {"nickname": "Annie"}
    token = json.loads(sealed)["passport"]
    assert token.startswith("v1.1.")
    with tenant_context(tenant_a), connection.cursor() as cur:
        cur.execute("SELECT c::text FROM crm_contact c WHERE id = %s", [created["id"]])
        row = cur.fetchone()[0]
    assert "Annie" in row and PASSPORT not in row and "ERIKSSON" not in row


def _copy_token(
    tenant: Tenant, table: str, source: int, key: str, target: int, to_key: str
) -> None:
    with tenant_context(tenant), connection.cursor() as cur:
        cur.execute(
            f"UPDATE {table} SET custom_sealed = jsonb_set(custom_sealed, %s, "
            f"(SELECT custom_sealed -> %s FROM {table} WHERE id = %s)) WHERE id = %s",
            [[to_key], key, source, target],
        )


def test_ciphertext_moved_to_another_key_or_row_does_not_decrypt(tenant_a: Tenant) -> None:
    _define(tenant_a, key="passport", sensitive=True)
    _define(tenant_a, key="pin", sensitive=True)
    with tenant_context(tenant_a):
        source = services.contact_create(
            by=None, first_name="S", custom={"passport": PASSPORT, "pin": "1"}
        )
        target = services.contact_create(by=None, first_name="T", custom={"passport": "other"})
    _copy_token(tenant_a, "crm_contact", source.pk, "passport", source.pk, "pin")
    with tenant_context(tenant_a), pytest.raises(CiphertextInvalid):
        _ = Contact.objects.get(pk=source.pk).custom_sealed
    _copy_token(tenant_a, "crm_contact", source.pk, "passport", target.pk, "passport")
    with tenant_context(tenant_a), pytest.raises(CiphertextInvalid):
        _ = Contact.objects.get(pk=target.pk).custom_sealed


def test_ciphertext_moved_to_another_tenant_does_not_decrypt(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    for tenant in (tenant_a, tenant_b):
        _define(tenant, key="passport", sensitive=True)
    with tenant_context(tenant_a):
        source = services.contact_create(by=None, first_name="A", custom={"passport": PASSPORT})
        token = json.loads(_stored(tenant_a, Contact, source.pk)[1])["passport"]
    with tenant_context(tenant_b):
        # Same row id and key in the other tenant: only the tenant differs.
        target = services.contact_create(by=None, first_name="B", custom={"passport": "b"})
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE crm_contact SET pii_row = %s, custom_sealed = %s WHERE id = %s",
                [source.pii_row, json.dumps({"passport": token}), target.pk],
            )
        with pytest.raises(CiphertextInvalid):
            _ = Contact.objects.get(pk=target.pk).custom_sealed


def test_filtering_on_sealed_values_is_refused_but_keys_can_be_looked_up(tenant_a: Tenant) -> None:
    _define(tenant_a, key="passport", sensitive=True)
    with tenant_context(tenant_a):
        contact = services.contact_create(by=None, first_name="A", custom={"passport": PASSPORT})
        with pytest.raises(TypeError, match="encrypted"):
            list(Contact.objects.filter(custom_sealed={"passport": PASSPORT}))
        assert list(Contact.objects.filter(custom_sealed__has_key="passport")) == [contact]


def test_marking_a_field_sensitive_seals_existing_values_and_unmarking_opens_them(
    owner_api: Client, tenant_a: Tenant
) -> None:
    field = _define(tenant_a, key="passport")
    _define(tenant_a, key="pin", sensitive=True)
    ids = [
        _post(
            owner_api,
            "/api/v1/contacts/",
            {"first_name": f"C{i}", "custom": {"passport": f"PASS-{i}", "pin": str(i)}},
        ).json()["id"]
        for i in range(3)
    ]
    _post(owner_api, "/api/v1/contacts/", {"first_name": "Without"})
    url = f"/api/v1/custom-fields/{field.pk}/"
    assert _patch(owner_api, url, {"sensitive": True}).status_code == 200
    for i, pk in enumerate(ids):
        plain, sealed = _stored(tenant_a, Contact, pk)
        assert plain == "{}"
        assert f"PASS-{i}" not in sealed
        assert set(json.loads(sealed)) == {"passport", "pin"}
    listed = owner_api.get("/api/v1/contacts/", {"page_size": 10}).json()["results"]
    assert {c["custom"]["passport"] for c in listed} == {"PASS-0", "PASS-1", "PASS-2", None}

    assert _patch(owner_api, url, {"sensitive": False}).status_code == 200
    for i, pk in enumerate(ids):
        plain, sealed = _stored(tenant_a, Contact, pk)
        assert json.loads(plain) == {"passport": f"PASS-{i}"}
        assert set(json.loads(sealed)) == {"pin"}
    assert owner_api.get(f"/api/v1/contacts/{ids[1]}/").json()["custom"] == {
        "passport": "PASS-1",
        "pin": "1",
    }


def test_removing_a_choice_option_clears_the_values_that_used_it(
    owner_api: Client, tenant_a: Tenant
) -> None:
    field = _define(tenant_a, key="tier", type="choice", options=["Gold", "Silver"], sensitive=True)
    gold = _post(
        owner_api, "/api/v1/contacts/", {"first_name": "G", "custom": {"tier": "Gold"}}
    ).json()
    silver = _post(
        owner_api, "/api/v1/contacts/", {"first_name": "S", "custom": {"tier": "Silver"}}
    ).json()
    assert (
        _patch(
            owner_api, f"/api/v1/custom-fields/{field.pk}/", {"options": ["Gold", "Bronze"]}
        ).status_code
        == 200
    )
    assert owner_api.get(f"/api/v1/contacts/{gold['id']}/").json()["custom"] == {"tier": "Gold"}
    assert owner_api.get(f"/api/v1/contacts/{silver['id']}/").json()["custom"] == {"tier": None}


def test_deleting_a_definition_removes_its_values_everywhere(
    owner_api: Client, tenant_a: Tenant
) -> None:
    passport = _define(tenant_a, key="passport", sensitive=True)
    region = _define(tenant_a, key="region")
    _define(tenant_a, key="pin", sensitive=True)
    contact = _post(
        owner_api,
        "/api/v1/contacts/",
        {"first_name": "A", "custom": {"passport": PASSPORT, "region": "EU", "pin": "1"}},
    ).json()
    assert owner_api.delete(f"/api/v1/custom-fields/{passport.pk}/").status_code == 204
    assert owner_api.delete(f"/api/v1/custom-fields/{region.pk}/").status_code == 204
    plain, sealed = _stored(tenant_a, Contact, contact["id"])
    assert plain == "{}" and set(json.loads(sealed)) == {"pin"}
    assert owner_api.get(f"/api/v1/contacts/{contact['id']}/").json()["custom"] == {"pin": "1"}


def test_key_rotation_reencrypts_sensitive_custom_values(tenant_a: Tenant) -> None:
    _define(tenant_a, key="passport", sensitive=True)
    _define(tenant_a, entity="company", key="tax_id", sensitive=True)
    with tenant_context(tenant_a):
        contacts = [
            services.contact_create(by=None, first_name=f"C{i}", custom={"passport": f"P{i}"})
            for i in range(3)
        ]
        company = services.company_create(by=None, name="Initech", custom={"tax_id": "T1"})
        before = key_versions_in_use()["values"]
        assert ("crm.contact.custom_sealed", 1, 3) in before
        assert ("crm.company.custom_sealed", 1, 1) in before
        tenant_key_rotate(tenant_id=tenant_a.pk)
        done = dict(values_reseal(batch_size=2))
        assert done == {"crm.Company": 1, "crm.Contact": 3}
        after = key_versions_in_use()["values"]
        assert ("crm.contact.custom_sealed", 2, 3) in after
        assert ("crm.company.custom_sealed", 2, 1) in after
        assert not [v for v in after if v[1] == 1]
        assert [Contact.objects.get(pk=c.pk).custom_sealed for c in contacts] == [
            {"passport": f"P{i}"} for i in range(3)
        ]
        assert Company.objects.get(pk=company.pk).custom_sealed == {"tax_id": "T1"}
        assert list(values_reseal()) == []  # nothing left to do
    assert json.loads(_stored(tenant_a, Contact, contacts[0].pk)[1])["passport"].startswith("v1.2.")
    out = StringIO()
    call_command("pii_key_report", tenant="alpha", stdout=out)
    assert "crm.contact.custom_sealed v2: 3 value(s)" in out.getvalue()
    assert "crm.company.custom_sealed v2: 1 value(s)" in out.getvalue()


# Isolation ---------------------------------------------------------------------------------


def test_definitions_of_a_are_invisible_and_untouchable_from_b(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    field = _define(tenant_a, key="alpha_secret", label="Alpha secret")
    client = _client(tenant_b, owner_b)
    listing = client.get("/api/v1/custom-fields/")
    assert listing.status_code == 200 and "alpha_secret" not in listing.content.decode()
    for response in (
        client.get(f"/api/v1/custom-fields/{field.pk}/"),
        _patch(client, f"/api/v1/custom-fields/{field.pk}/", {"label": "Mine"}),
        client.delete(f"/api/v1/custom-fields/{field.pk}/"),
    ):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
    assert "Alpha secret" not in client.get("/settings/custom-fields/").content.decode()
    assert client.get(f"/settings/custom-fields/{field.pk}/edit/").status_code == 404
    assert client.post(f"/settings/custom-fields/{field.pk}/delete/").status_code == 404
    with tenant_context(tenant_a):
        assert CustomField.objects.get(pk=field.pk).label == "Alpha secret"


def test_custom_values_of_a_are_invisible_from_b(
    tenant_a: Tenant, tenant_b: Tenant, owner_b: User
) -> None:
    _define(tenant_a, key="passport", sensitive=True)
    with tenant_context(tenant_a):
        contact = services.contact_create(by=None, first_name="A", custom={"passport": PASSPORT})
    client = _client(tenant_b, owner_b)
    assert PASSPORT not in client.get("/api/v1/contacts/").content.decode()
    assert client.get(f"/api/v1/contacts/{contact.pk}/").status_code == 404
    assert client.get(f"/contacts/{contact.pk}/").status_code == 404
    rejected = _post(client, "/api/v1/contacts/", {"first_name": "B", "custom": {"passport": "x"}})
    assert rejected.status_code == 400  # alpha's definitions mean nothing in beta
    assert rejected.json()["errors"] == {
        "custom.passport": ["There is no custom field with this key."]
    }


# Concurrency -------------------------------------------------------------------------------


def test_a_write_in_flight_and_marking_the_field_sensitive_do_not_interleave() -> None:
    """A record write that read the field as plain holds it until it commits; marking the
    field sensitive waits, then seals the value that write stored in the clear.

    Both sides commit, on connections of their own, so this runs in an organization made
    for it and deleted afterwards (keys included)."""
    made: dict[str, Any] = {}
    toggled = threading.Event()

    def prepare(tenant: Tenant) -> None:
        made["field"] = services.custom_field_create(
            by=None, entity="contact", label="Race", key="race", type="text"
        ).pk
        made["contact"] = services.contact_create(by=None, first_name="Racer").pk

    with committed_organization("race", prepare=prepare) as tenant:

        def write(hold: Any) -> None:
            with tenant_context(tenant), transaction.atomic():
                contact = Contact.objects.get(pk=made["contact"])
                fields = services.custom_values_assign(
                    record=contact, values={"race": "in the clear?"}, creating=False
                )
                hold()
                contact.save(update_fields=fields)

        def toggle() -> None:
            with tenant_context(tenant):
                field = CustomField.objects.get(pk=made["field"])
                services.custom_field_update(field=field, by=None, sensitive=True)
            toggled.set()

        assert_second_waits_for_first(write, toggle)
        assert toggled.is_set()
        # Read on a connection of its own: a lock held by this test's transaction would
        # keep the organization's schema from being dropped afterwards.
        stored: list[tuple[str, str]] = []
        run_on_own_connection(lambda: stored.append(_stored(tenant, Contact, made["contact"])))
    plain, sealed = stored[0]
    assert "race" not in json.loads(plain)
    assert "in the clear?" not in sealed and "race" in json.loads(sealed)
