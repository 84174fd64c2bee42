"""Encrypted contact fields: the database holds ciphertext only, the ORM and API plaintext."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from crm.models import Company, Contact
from crm.services import company_create, custom_field_create
from iam.models import User
from pii.exceptions import CiphertextInvalid
from pii.fields import blind_index_for
from tenants.models import Tenant
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

EMAIL, PHONE = "grace.hopper@navy.test", "+1 555 0199"
# The value of a custom field marked sensitive, and of one that is not.
SERVICE_NUMBER, NICKNAME = "NAVY-0000-1906", "Amazing Grace"


def _raw_rows(table: str = "crm_contact") -> str:
    with connection.cursor() as cur:
        cur.execute(f"SELECT string_agg(c::text, '\n') FROM {table} c")
        return cur.fetchone()[0] or ""


def _heap(table: str) -> bytes:
    """The table's heap file as PostgreSQL wrote it to disk."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_relation_filepath(%s)", [table])
        path = cur.fetchone()[0]
        cur.execute("CHECKPOINT")
        cur.execute("SELECT pg_read_binary_file(%s)", [path])
        return bytes(cur.fetchone()[0])


def test_database_holds_no_plaintext_of_encrypted_fields(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = Contact.objects.create(
            first_name="Grace",
            email=EMAIL,
            phone=PHONE,
            address="1 Arlington Ridge Rd\nArlington, VA",
            birthday=dt.date(1906, 12, 9),
            custom={"nickname": NICKNAME},
            custom_sealed={"service_number": SERVICE_NUMBER},
        )
        raw = _raw_rows()
        assert "Grace" in raw  # names are not encrypted: the scan does see plaintext columns
        assert NICKNAME in raw  # nor are custom fields not marked sensitive
        for secret in (
            EMAIL,
            "grace.hopper",
            "navy.test",
            PHONE,
            "5550199",
            "Arlington",
            "1906",
            SERVICE_NUMBER,
            "NAVY-0000",
        ):
            assert secret not in raw
        heap = _heap("crm_contact")
        assert b"Grace" in heap  # the heap file holds the row...
        assert NICKNAME.encode() in heap
        for secret in (EMAIL, "Arlington", PHONE, SERVICE_NUMBER):
            assert secret.encode() not in heap  # ...but no plaintext of encrypted fields
        reloaded = Contact.objects.get(pk=contact.pk)
        assert (reloaded.email, reloaded.phone) == (EMAIL, PHONE)
        assert reloaded.birthday == dt.date(1906, 12, 9)
        assert reloaded.address.startswith("1 Arlington")
        assert reloaded.custom_sealed == {"service_number": SERVICE_NUMBER}


def test_sensitive_custom_values_of_companies_are_not_in_the_heap(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        custom_field_create(by=None, entity="company", label="Tax ID", type="text", sensitive=True)
        custom_field_create(by=None, entity="company", label="Motto", type="text")
        company = company_create(
            by=None, name="Eckert-Mauchly", custom={"tax_id": SERVICE_NUMBER, "motto": NICKNAME}
        )
        raw = _raw_rows("crm_company")
        assert "Eckert-Mauchly" in raw and NICKNAME in raw
        assert SERVICE_NUMBER not in raw and "0000-1906" not in raw
        heap = _heap("crm_company")
        assert b"Eckert-Mauchly" in heap and NICKNAME.encode() in heap
        assert SERVICE_NUMBER.encode() not in heap
        assert Company.objects.get(pk=company.pk).custom_sealed == {"tax_id": SERVICE_NUMBER}


def test_blind_index_finds_contacts_by_normalized_email_and_phone(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = Contact.objects.create(first_name="Grace", email=EMAIL, phone=PHONE)
        by_email = blind_index_for(Contact, "email", "  Grace.Hopper@NAVY.test ")
        by_phone = blind_index_for(Contact, "phone", "+1 (555) 0199")
        assert list(Contact.objects.filter(email_index=by_email)) == [contact]
        assert list(Contact.objects.filter(phone_index=by_phone)) == [contact]


def test_ciphertext_copied_to_another_row_does_not_decrypt(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        source = Contact.objects.create(first_name="Source", email=EMAIL)
        target = Contact.objects.create(first_name="Target", email="other@navy.test")
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE crm_contact SET email = (SELECT email FROM crm_contact WHERE id = %s) "
                "WHERE id = %s",
                [source.pk, target.pk],
            )
        with pytest.raises(CiphertextInvalid):
            _ = Contact.objects.get(pk=target.pk).email


def test_filtering_on_the_encrypted_column_is_refused(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a), pytest.raises(TypeError, match="blind index"):
        list(Contact.objects.filter(email=EMAIL))


def test_deferred_encrypted_field_loads_on_access(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = Contact.objects.create(first_name="Grace", email=EMAIL)
        assert Contact.objects.only("first_name").get(pk=contact.pk).email == EMAIL


def test_values_written_before_encryption_stay_readable(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        contact = Contact.objects.create(first_name="Old")
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE crm_contact SET email = %s WHERE id = %s", ["old@x.test", contact.pk]
            )
        assert Contact.objects.get(pk=contact.pk).email == "old@x.test"


def test_api_reads_writes_and_searches_encrypted_fields(tenant_a: Tenant, member_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(member_a)
    created = client.post(
        "/api/v1/contacts/",
        {"first_name": "Grace", "email": EMAIL, "phone": PHONE},
        content_type="application/json",
    ).json()
    assert (created["email"], created["phone"]) == (EMAIL, PHONE)
    found = client.get("/api/v1/contacts/", {"search": EMAIL.upper()}).json()["results"]
    assert [c["id"] for c in found] == [created["id"]]
    with tenant_context(tenant_a):
        assert EMAIL not in _raw_rows()


def test_api_filters_contacts_by_exact_email_and_phone(tenant_a: Tenant, member_a: User) -> None:
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(member_a)
    for first, email, phone in (
        ("Ada", "ada@x.test", "+44 20 7946 0000"),
        ("Bob", "bob@x.test", ""),
    ):
        client.post(
            "/api/v1/contacts/",
            {"first_name": first, "email": email, "phone": phone},
            content_type="application/json",
        )
    by_email = client.get("/api/v1/contacts/", {"email": " ADA@x.test"}).json()["results"]
    by_phone = client.get("/api/v1/contacts/", {"phone": "+44 (20) 7946-0000"}).json()["results"]
    assert [c["first_name"] for c in by_email] == ["Ada"]
    assert [c["first_name"] for c in by_phone] == ["Ada"]
    assert client.get("/api/v1/contacts/", {"email": "nobody@x.test"}).json()["results"] == []
