"""Importing contacts from CSV: columns by heading, row errors, duplicates found through the
blind indexes (in the file and among existing contacts), all or nothing, retries, races and
organizations kept apart."""

import csv
import io
import re
import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import services
from crm.imports import MAX_ROWS, contact_import_read
from crm.models import Company, Contact, ContactImport
from crm.services import imports as import_services
from iam.models import User
from iam.services import api_token_create
from pii.fields import blind_index_for
from problems.exceptions import InvalidFields
from tenants.models import Tenant
from tests.conftest import host_of
from tests.support.connections import (
    assert_second_waits_for_first,
    committed_organization,
    run_on_own_connection,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/import/"


@pytest.fixture
def api(tenant_a: Tenant, member_a: User) -> Client:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="tests")
    return Client(HTTP_HOST=host_of(tenant_a), HTTP_AUTHORIZATION=f"Bearer {raw}")


def _upload(api: Client, text: str | bytes, **fields: Any) -> Any:
    content = text.encode() if isinstance(text, str) else text
    headers = {}
    if "key" in fields:
        headers["Idempotency-Key"] = fields.pop("key")
    body = {"file": SimpleUploadedFile("people.csv", content, "text/csv"), **fields}
    return api.post(URL, body, headers=headers)


def _emails(tenant: Tenant) -> list[str]:
    with tenant_context(tenant):
        return sorted(c.email for c in Contact.objects.all())


def _page_post(
    client: Client,
    text: str | bytes,
    *,
    step: str = "import",
    filename: str = "team.csv",
    extra: dict[str, Any] | None = None,
    **headers: Any,
) -> Any:
    """Upload a file on the import page and, unless `step` is "map", post it again with the
    mapping the page proposed, to check it or import it, as a browser does."""
    content = text.encode() if isinstance(text, str) else text

    def upload() -> SimpleUploadedFile:
        return SimpleUploadedFile(filename, content, "text/csv")

    data = {"on_duplicate": "skip", **(extra or {})}
    mapped = client.post("/contacts/import/", {"file": upload(), **data, "step": "map"})
    if step == "map" or mapped.context is None or not mapped.context["mapping_step"]:
        return mapped
    found = mapped.context["mapping_step"]
    columns = {f"column-{c['index']}": c["chosen"] for c in found.columns}
    body = {"file": upload(), **data, **columns, "headings_digest": found.digest, "step": step}
    return client.post("/contacts/import/", body, **headers)


def test_rows_become_contacts_whatever_the_headings_spelling_and_separator(
    api: Client, tenant_a: Tenant, member_a: User
) -> None:
    text = (
        "\ufeffE-Mail Address;Given name;SURNAME;Mobile;Job title;Company;Date of birth;Notes\n"
        "ada@engine.test;Ada;Lovelace;+44 20 7946 0000;Analyst;Analytical Engines;1815-12-10;x\n"
        "grace@cobol.test;Grace;Hopper;;Rear Admiral;analytical engines;;y\n"
    )
    response = _upload(api, text)
    assert response.status_code == 201, response.content
    result = response.json()
    assert (result["rows"], result["contacts_created"], result["rows_skipped"]) == (2, 2, 0)
    assert result["companies_created"] == 1  # matched by name, case aside
    assert result["report"]["ignored_columns"] == ["Notes"]
    assert result["report"]["columns"]["E-Mail Address"] == "email"
    assert result["report"]["columns"]["Company"] == "company"
    with tenant_context(tenant_a):
        ada = Contact.objects.get(email_index=blind_index_for(Contact, "email", "ADA@engine.test"))
        assert (ada.first_name, ada.last_name, ada.title) == ("Ada", "Lovelace", "Analyst")
        assert ada.phone == "+44 20 7946 0000"
        assert ada.birthday.isoformat() == "1815-12-10"
        assert ada.owner_id == member_a.pk
        assert Company.objects.get().contacts.count() == 2
        with connection.cursor() as cur:  # the database holds ciphertext only
            cur.execute("SELECT email, phone FROM crm_contact WHERE id = %s", [ada.pk])
            email, phone = cur.fetchone()
        assert email.startswith("v1.") and "ada@" not in email
        assert phone.startswith("v1.") and "7946" not in phone
        assert ContactImport.objects.get().contacts_created == 2


def test_a_name_column_is_split_into_first_and_last_name(api: Client, tenant_a: Tenant) -> None:
    response = _upload(api, "Name,Email\nAlan Mathison Turing,alan@bletchley.test\n")
    assert response.status_code == 201, response.content
    with tenant_context(tenant_a):
        alan = Contact.objects.get()
    assert (alan.first_name, alan.last_name) == ("Alan", "Mathison Turing")


def test_duplicates_within_the_file_are_found_by_address_and_by_phone(
    api: Client, tenant_a: Tenant
) -> None:
    text = (
        "first name,email,phone\n"
        "Ada,ada@engine.test,+1 555 0100\n"
        "Ada again, ADA@Engine.TEST ,\n"  # same address: case and spaces aside
        "Phone twin,,+1 (555) 0100\n"  # no address: same phone as row 2
        "Different,,+1 555 0199\n"
    )
    result = _upload(api, text).json()
    assert (result["contacts_created"], result["rows_skipped"]) == (2, 2)
    assert result["report"]["skipped"] == [
        {"row": 3, "reason": "duplicate-row", "of_row": 2},
        {"row": 4, "reason": "duplicate-row", "of_row": 2},
    ]
    assert _emails(tenant_a) == ["", "ada@engine.test"]


def test_existing_contacts_are_skipped_or_updated(api: Client, tenant_a: Tenant) -> None:
    with tenant_context(tenant_a):
        ada = services.contact_create(
            by=None, first_name="Ada", last_name="L", email="ada@engine.test", title="Analyst"
        )
        bob = services.contact_create(by=None, first_name="Bob", phone="+1 555 0101")
    text = "first name,last name,email,phone,title\nAda,,Ada@Engine.test,,Countess\nRobert,,,+15550101,\n"
    skipped = _upload(api, text).json()
    assert skipped["report"]["skipped"] == [
        {"row": 2, "reason": "existing-contact", "contact": ada.pk},
        {"row": 3, "reason": "existing-contact", "contact": bob.pk},
    ]
    updated = _upload(api, text, on_duplicate="update").json()
    assert (updated["contacts_created"], updated["contacts_updated"]) == (0, 2)
    with tenant_context(tenant_a):
        ada.refresh_from_db()
        bob.refresh_from_db()
        assert Contact.objects.count() == 2
    assert (ada.last_name, ada.title, ada.email) == ("L", "Countess", "ada@engine.test")
    assert bob.first_name == "Robert"


def test_a_bad_row_fails_the_whole_import_and_names_each_bad_cell(
    api: Client, tenant_a: Tenant
) -> None:
    text = (
        "first name,email,birthday,company\n"
        "Ada,ada@engine.test,1815-12-10,New Company\n"
        ",not-an-address,10th of December,\n"
        "Grace,grace@cobol.test,,\n"
    )
    response = _upload(api, text)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert set(errors) == {"rows.3.first_name", "rows.3.email", "rows.3.birthday"}
    with tenant_context(tenant_a):
        assert not Contact.objects.exists()
        assert not Company.objects.exists()  # the company of row 2 was not kept either
        assert not ContactImport.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty."),
        (b"first name\n", "The file has no contacts below its headings."),
        ("Vorname,Straße\nÄnne,Hauptstr\n".encode(), "none was recognised"),
        ("first name,email\nJosé,j@x.test\n".encode("latin-1"), "not UTF-8"),
        (b"first name\x00,email\n", "not a CSV text file"),
    ],
)
def test_a_file_that_cant_be_read_gets_a_file_error(
    api: Client, content: bytes, message: str
) -> None:
    response = _upload(api, content)
    assert response.status_code == 400
    assert message in response.json()["errors"]["file"][0]


def test_a_file_with_too_many_rows_is_refused(api: Client, tenant_a: Tenant) -> None:
    rows = "".join(f"P{i}\n" for i in range(MAX_ROWS + 1))
    response = _upload(api, "first name\n" + rows)
    assert response.status_code == 400
    assert "more than 5,000" in response.json()["errors"]["file"][0]
    assert _emails(tenant_a) == []


def test_a_long_first_line_built_to_slow_down_guessing_the_separator_is_answered_at_once(
    api: Client,
) -> None:
    """Guessing the separator with `csv.Sniffer` takes time quadratic in the first line's
    length (seconds at 24 kB, hours at 5 MB) for a line like this one; any member could send
    one as a dry run."""
    line = ',"a' * 14_000  # 42 kB
    started = time.monotonic()
    response = _upload(api, line, dry_run="true")
    took = time.monotonic() - started
    assert response.status_code == 400
    assert "none was recognised" in response.json()["errors"]["file"][0]
    assert took < 2, f"{took:.1f} s"


_heading_text = st.text(alphabet="xyz ,;\t\"'", max_size=12)


@settings(max_examples=60, deadline=None)
@given(separator=st.sampled_from([",", ";", "\t"]), headings=st.lists(_heading_text, max_size=8))
def test_the_separator_is_the_one_between_the_headings_whatever_they_hold(
    separator: str, headings: list[str]
) -> None:
    """Headings may hold the other separators, quotes and spaces (quoted, as spreadsheets
    write them); the columns come out as they were written."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, quoting=csv.QUOTE_ALL)
    writer.writerow(["First name", "Email", *headings])
    writer.writerow(["Ada", "ada@engine.test", *("" for _ in headings)])
    file = contact_import_read(out.getvalue().encode(), definitions=[])
    assert file.columns == {"First name": "first_name", "Email": "email"}
    assert file.ignored_columns == [h.strip() for h in headings if h.strip()]
    assert [row.values["email"] for row in file.rows] == ["ada@engine.test"]


def test_custom_fields_by_key_or_label_typed_and_sensitive_ones_sealed(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        for label, kind, sensitive in (
            ("Passport number", "text", True),
            ("Seats", "number", False),
            ("Newsletter", "boolean", False),
        ):
            services.custom_field_create(
                by=None, entity="contact", label=label, type=kind, sensitive=sensitive
            )
    text = "first name,passport number,seats,Newsletter\nAda,P-123,12,yes\nBob,,3.5,no\n"
    response = _upload(api, text)
    assert response.status_code == 201, response.content
    with tenant_context(tenant_a):
        ada, bob = Contact.objects.order_by("first_name")
        assert ada.custom == {"seats": 12, "newsletter": True}
        assert ada.custom_sealed == {"passport_number": "P-123"}
        with connection.cursor() as cur:
            cur.execute("SELECT custom_sealed::text FROM crm_contact WHERE id = %s", [ada.pk])
            assert "P-123" not in cur.fetchone()[0]
        assert bob.custom == {"seats": 3.5, "newsletter": False}
        assert "passport_number" not in bob.custom_sealed  # an empty cell is no value


def test_custom_values_of_the_wrong_type_and_missing_required_ones_are_row_errors(
    api: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        services.custom_field_create(by=None, entity="contact", label="Seats", type="number")
        services.custom_field_create(
            by=None, entity="contact", label="Region", type="choice", options=["EU", "US"]
        )
        services.custom_field_create(
            by=None, entity="contact", label="Source", type="text", required=True
        )
    text = "first name,seats,region,source\nAda,many,EU,web\nBob,2,Mars,\n"
    errors = _upload(api, text).json()["errors"]
    assert set(errors) == {"rows.2.custom.seats", "rows.3.custom.region", "rows.3.custom.source"}


def test_a_retry_with_the_same_key_returns_the_first_result_and_imports_nothing_more(
    api: Client, tenant_a: Tenant
) -> None:
    text = "first name\nNo address\n"  # rows without e-mail or phone are not duplicates
    first = _upload(api, text, key="import-1")
    again = _upload(api, text, key="import-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    with tenant_context(tenant_a):
        assert Contact.objects.count() == 1
    other = _upload(api, "first name\nSomeone else\n", key="import-1")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency-key-reused"
    with tenant_context(tenant_a):
        assert Contact.objects.count() == 1


@pytest.mark.parametrize("url", [URL, "/api/v1/leads/import/", "/api/v1/deals/import/"])
def test_a_body_too_large_is_refused_unread_even_with_an_idempotency_key(
    api: Client, url: str
) -> None:
    """The key's check reads the body; the size check comes first."""
    body = _Body(10 * 1024 * 1024)
    response = api.generic("POST", url, HTTP_IDEMPOTENCY_KEY="big-1", **body.environ())
    assert response.status_code == 400
    assert response.json()["errors"]["file"] == ["The file is larger than 5 MB; split it."]
    assert body.read_bytes == 0


def test_a_dry_run_reports_and_keeps_nothing(api: Client, tenant_a: Tenant) -> None:
    text = "first name,email,company\nAda,ada@engine.test,Engines\n"
    response = _upload(api, text, dry_run="true")
    assert response.status_code == 200
    body = response.json()
    assert (body["dry_run"], body["id"], body["contacts_created"]) == (True, None, 1)
    assert body["companies_created"] == 1
    with tenant_context(tenant_a):
        assert not Contact.objects.exists()
        assert not Company.objects.exists()
        assert not ContactImport.objects.exists()


def test_an_import_in_one_organization_neither_sees_nor_touches_another(
    api: Client, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b):
        services.contact_create(by=None, first_name="Ada B", email="ada@engine.test")
    result = _upload(api, "first name,email\nAda A,ada@engine.test\n").json()
    assert (result["contacts_created"], result["rows_skipped"]) == (1, 0)
    with tenant_context(tenant_b):
        assert [c.first_name for c in Contact.objects.all()] == ["Ada B"]
        assert not ContactImport.objects.exists()
    with tenant_context(tenant_a):
        assert [c.first_name for c in Contact.objects.all()] == ["Ada A"]


def test_a_token_of_one_organization_cannot_import_into_another(
    tenant_a: Tenant, tenant_b: Tenant, member_a: User
) -> None:
    _, raw = api_token_create(user=member_a, tenant=tenant_a, name="tests")
    at_b = Client(HTTP_HOST=host_of(tenant_b), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert _upload(at_b, "first name\nIntruder\n").status_code == 401
    with tenant_context(tenant_b):
        assert not Contact.objects.filter(first_name="Intruder").exists()


def test_the_import_page_imports_and_lists_the_rows_to_fix(
    client_a: Client, tenant_a: Tenant
) -> None:
    page = client_a.get("/contacts/import/")
    assert page.status_code == 200
    key = page.context["form"].initial["idempotency_key"]

    def post(text: str) -> Any:
        return _page_post(client_a, text, extra={"idempotency_key": key})

    bad = post("first name,email\nAda,nope\n")
    assert bad.status_code == 400
    assert bad.context["row_errors"] == [(2, "E-mail", ["Enter a valid email address."])]
    assert b"Row 2, E-mail" in bad.content
    good = post("first name,email\nAda,ada@engine.test\nAda,ada@engine.test\n")
    assert good.status_code == 200
    assert good.context["result"].contacts_created == 1
    assert b"Same contact as row 2" in good.content
    resubmitted = post("first name,email\nAda,ada@engine.test\nAda,ada@engine.test\n")
    assert resubmitted.context["result"].replayed is True
    with tenant_context(tenant_a):
        assert Contact.objects.count() == 1
    assert b"team.csv" in client_a.get("/contacts/import/").content  # under recent imports


def test_a_signed_in_non_member_gets_403_on_the_import_page(
    tenant_b: Tenant, member_a: User
) -> None:
    client = Client(HTTP_HOST=host_of(tenant_b))
    client.force_login(member_a)
    assert client.get("/contacts/import/").status_code == 403
    upload = SimpleUploadedFile("x.csv", b"first name\nX\n", "text/csv")
    assert client.post("/contacts/import/", {"file": upload}).status_code == 403


_names = st.text(alphabet="abcdefgh", min_size=1, max_size=6)
_mailboxes = st.sampled_from(["ada", "bob", "cy", "dee"])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(st.tuples(_names, _mailboxes, st.booleans()), min_size=1, max_size=12))
def test_any_file_imports_each_address_once_and_again_imports_nothing(
    tenant_a: Tenant, rows: list[tuple[str, str, bool]]
) -> None:
    text = "first name,email\n" + "".join(
        f"{name},{' ' + box.upper() if shout else box}@x.test\n" for name, box, shout in rows
    )
    with tenant_context(tenant_a):
        Contact.objects.all().delete()
        first = services.contact_import(by=None, content=text.encode())
        again = services.contact_import(by=None, content=text.encode())
        distinct = {box for _, box, _ in rows}
        assert first.contacts_created == Contact.objects.count() == len(distinct)
        assert first.rows_skipped == len(rows) - len(distinct)
        assert again.contacts_created == 0
        assert again.rows_skipped == len(rows)


def _warm_keys(tenant: Tenant) -> None:
    services.contact_create(by=None, first_name="Warm", email="warm@race.test")


def test_two_imports_of_one_address_at_once_make_one_contact() -> None:
    """The first import holds its transaction open after inserting; the second, importing
    the same address meanwhile, waits for it and then skips the row as an existing contact.
    Both commit on connections of their own, in an organization made for the test."""
    made: dict[str, Any] = {}

    with committed_organization("imports", prepare=_warm_keys) as tenant:

        def first(hold: Any) -> None:
            with tenant_context(tenant), transaction.atomic():
                made["first"] = services.contact_import(
                    by=None, content=b"first name,email\nOne,same@race.test\n"
                )
                hold()

        def second() -> None:
            with tenant_context(tenant):
                made["second"] = services.contact_import(
                    by=None,
                    content=b"first name,email\nTwo,SAME@race.test\nThree,three@race.test\n",
                )

        def count() -> None:
            with tenant_context(tenant):
                made["count"] = Contact.objects.count()

        assert_second_waits_for_first(first, second)
        run_on_own_connection(count)
    assert made["first"].contacts_created == 1
    assert (made["second"].contacts_created, made["second"].rows_skipped) == (1, 1)
    assert made["second"].report["skipped"][0]["reason"] == "existing-contact"
    assert made["count"] == 3  # warm-up, One and Three


def test_the_service_refuses_an_unknown_duplicate_rule(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a), pytest.raises(InvalidFields) as caught:
        services.contact_import(by=None, content=b"first name\nA\n", on_duplicate="merge")
    assert "on_duplicate" in caught.value.field_errors()


@pytest.mark.parametrize(
    ("headings", "row"),
    [
        (  # Outlook: a "Title" (Mr, Dr) before the "Job Title"; several phones; 0/0/00
            "First Name,Middle Name,Last Name,Title,E-mail Address,Home Phone,Business Phone,"
            "Mobile Phone,Job Title,Company,Birthday",
            "Ada,,Lovelace,Dr.,ada@engine.test,+44 1,+44 2,+44 3,Analyst,Engines,0/0/00",
        ),
        (  # Google Contacts
            "First Name,Last Name,Organization Name,Organization Title,E-mail 1 - Label,"
            "E-mail 1 - Value,Phone 1 - Label,Phone 1 - Value",
            "Ada,Lovelace,Engines,Analyst,* Work,ada@engine.test,Mobile,+44 3",
        ),
    ],
)
def test_address_book_exports_import_as_they_are(
    api: Client, tenant_a: Tenant, headings: str, row: str
) -> None:
    response = _upload(api, f"{headings}\n{row}\n")
    assert response.status_code == 201, response.content
    with tenant_context(tenant_a):
        ada = Contact.objects.select_related("company").get()
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@engine.test")
    assert (ada.title, ada.phone, ada.company.name) == ("Analyst", "+44 3", "Engines")
    assert ada.birthday is None


@pytest.mark.parametrize("where", ["api", "page"])
def test_an_uploaded_file_never_touches_the_disk_and_a_huge_one_is_refused(
    api: Client,
    client_a: Client,
    tenant_a: Tenant,
    tmp_path: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """Django writes uploads over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file; a file of
    personal data must stay in memory, and one over the limit is refused, not stored."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    on_disk_during_import: list[list[str]] = []
    import_for_real = import_services.contact_import

    def import_watching_the_disk(**kwargs: Any) -> Any:
        # A temporary upload file exists until the request ends: look while it would.
        on_disk_during_import.append([p.name for p in tmp_path.iterdir()])
        return import_for_real(**kwargs)

    monkeypatch.setattr(import_services, "contact_import", import_watching_the_disk)
    rows = "".join(f"Person {i},person{i}@disk.test\n" for i in range(200))  # about 6 KB

    def post(content: bytes) -> Any:
        if where == "api":
            return api.post(URL, {"file": SimpleUploadedFile("people.csv", content, "text/csv")})
        return _page_post(client_a, content)

    assert post(("first name,email\n" + rows).encode()).status_code in (200, 201)
    with tenant_context(tenant_a):
        assert Contact.objects.count() == 200
    huge = post(b"first name\n" + b"x" * (5 * 1024 * 1024))
    assert huge.status_code == 400
    message = "The file is larger than 5 MB; split it."
    if where == "api":
        assert huge.json()["errors"]["file"] == [message]
    else:
        assert huge.context["form"].errors["file"] == [message]
    assert on_disk_during_import[0] == []  # no temporary upload file, while it would exist


def test_imports_are_limited_per_user_and_organization(
    api: Client, client_a: Client, tenant_b: Tenant, member_a: User
) -> None:
    for _ in range(30):
        assert _upload(api, "first name\nA\n", dry_run="true").status_code == 200
    limited = _upload(api, "first name\nA\n", dry_run="true")
    assert limited.status_code == 429
    assert limited["Content-Type"] == "application/problem+json"
    page = client_a.post(
        "/contacts/import/",
        {"file": SimpleUploadedFile("a.csv", b"first name\nA\n"), "on_duplicate": "skip"},
    )
    assert page.status_code == 200  # the page keeps its own count
    membership = tenant_b.memberships.create(user=member_a, role="member")
    _, raw = api_token_create(user=member_a, tenant=tenant_b, name="tests")
    at_b = Client(HTTP_HOST=host_of(tenant_b), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert _upload(at_b, "first name\nB\n", dry_run="true").status_code == 200  # B's own count
    membership.delete()


# Upload limits: one file, a bounded body, and a refusal before the body is read ------------

BOUNDARY = "import-test-boundary"
PAGE = "/contacts/import/"


class _Body:
    """A multipart request body with one file part per given size, made as it is read (no
    test needs the bytes at once), counting how much of it the server read."""

    def __init__(self, *sizes: int) -> None:
        parts = []
        for i, size in enumerate(sizes):
            head = (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="part{i}.csv"\r\nContent-Type: text/csv\r\n\r\nfirst name,email\n'
            ).encode()
            parts += [head, size, b"\r\n"]
        skip = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="on_duplicate"\r\n\r\nskip'
        parts += [f"{skip}\r\n--{BOUNDARY}--\r\n".encode()]
        self.parts: list[bytes | int] = parts  # an int: that many bytes of rows
        self.length = sum(p if isinstance(p, int) else len(p) for p in parts)
        self.read_bytes = 0

    def _bytes(self, start: int, end: int) -> bytes:
        out, offset = bytearray(), 0
        for part in self.parts:
            length = part if isinstance(part, int) else len(part)
            lo, hi = max(start - offset, 0), min(end - offset, length)
            if lo < hi:
                if isinstance(part, int):
                    row = b"Ann,a@x.test\n"
                    out += (row * (hi // len(row) + 1))[lo:hi]
                else:
                    out += part[lo:hi]
            offset += length
        return bytes(out)

    def read(self, size: int | None = -1) -> bytes:
        end = self.length if size is None or size < 0 else min(self.read_bytes + size, self.length)
        out = self._bytes(self.read_bytes, end)
        self.read_bytes = end
        return out

    def readline(self, size: int | None = -1) -> bytes:
        end = self.length if size is None or size < 0 else min(self.read_bytes + size, self.length)
        ahead = self._bytes(self.read_bytes, min(end, self.read_bytes + 64 * 1024))
        line = ahead[: ahead.index(b"\n") + 1] if b"\n" in ahead else ahead
        self.read_bytes += len(line)
        return line

    def environ(self) -> dict[str, Any]:
        return {  # the test client sets none of these for an empty `data`
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
            "wsgi.input": self,
            "CONTENT_LENGTH": str(self.length),
        }


@pytest.fixture
def signed_in(tenant_a: Tenant, member_a: User) -> Client:
    """A browser session that sends its CSRF token, with CSRF checks enforced as in a browser
    (Django's test client otherwise skips them, and with them the read of the body)."""
    client = Client(HTTP_HOST=host_of(tenant_a), enforce_csrf_checks=True)
    client.force_login(member_a)
    page = client.get(PAGE).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    client.defaults["HTTP_X_CSRFTOKEN"] = token.group(1)
    return client


def _refusal(response: Any, where: str) -> str:
    if where == "api":
        assert response["Content-Type"] == "application/problem+json"
        return " ".join(response.json()["errors"]["file"])
    return " ".join(response.context["form"].errors.get("file", [])) or response.context["refusal"]


@pytest.mark.parametrize("where", ["api", "page"])
def test_a_request_with_more_than_one_file_is_refused_and_imports_nothing(
    api: Client, signed_in: Client, tenant_a: Tenant, where: str
) -> None:
    body = _Body(1000, 1000)
    client, url = (api, URL) if where == "api" else (signed_in, PAGE)
    response = client.generic("POST", url, **body.environ())
    assert response.status_code == 400
    assert _refusal(response, where) == "Send one file at a time."
    assert _emails(tenant_a) == []


@pytest.mark.parametrize("where", ["api", "page", "api-session"])
def test_a_body_larger_than_one_file_can_be_is_refused_unread(
    api: Client, signed_in: Client, tenant_a: Tenant, where: str
) -> None:
    """The size is known from Content-Length before the body is parsed: the server reads
    none of it (a body of many file parts could otherwise hold hundreds of MB)."""
    body = _Body(10 * 1024 * 1024)
    client, url = (signed_in, PAGE) if where == "page" else (api, URL)
    if where == "api-session":
        client = signed_in
    response = client.generic("POST", url, **body.environ())
    assert response.status_code == 400
    assert _refusal(response, where.split("-")[0]) == "The file is larger than 5 MB; split it."
    assert body.read_bytes == 0
    assert _emails(tenant_a) == []


@pytest.mark.parametrize("where", ["api-session", "page"])
def test_a_throttled_upload_is_refused_before_its_body_is_read(
    signed_in: Client, where: str
) -> None:
    url = URL if where == "api-session" else PAGE
    # The page's steps (columns, check, import) each count: three times the API's 30.
    for _ in range(30 if where == "api-session" else 90):  # with or without a file
        assert signed_in.post(url, {"dry_run": "true"}).status_code == 400
    body = _Body(1000)
    limited = signed_in.generic("POST", url, **body.environ())
    assert limited.status_code == 429
    assert body.read_bytes == 0
    if where == "page":
        assert b"many files in the last hour" in limited.content
    else:
        assert limited.json()["code"] == "throttled"


@pytest.mark.parametrize("where", ["api-session", "page"])
def test_a_session_upload_without_the_csrf_token_is_refused(
    signed_in: Client, tenant_a: Tenant, where: str
) -> None:
    """The CSRF check comes after the throttle and the size check, but it still comes."""
    del signed_in.defaults["HTTP_X_CSRFTOKEN"]
    upload = SimpleUploadedFile("a.csv", b"first name,email\nAnn,a@x.test\n", "text/csv")
    response = signed_in.post(URL if where == "api-session" else PAGE, {"file": upload})
    assert response.status_code == 403
    assert _emails(tenant_a) == []


def test_a_session_upload_with_the_csrf_token_imports(signed_in: Client, tenant_a: Tenant) -> None:
    upload = SimpleUploadedFile("a.csv", b"first name,email\nAnn,a@x.test\n", "text/csv")
    response = signed_in.post(URL, {"file": upload})
    assert response.status_code == 201, response.content
    assert _emails(tenant_a) == ["a@x.test"]


# The import page: the whole picture after a dry run, and the file kept for the import -----


def test_a_dry_run_with_a_bad_row_shows_what_the_other_rows_would_do_beside_it(
    client_a: Client, tenant_a: Tenant
) -> None:
    with tenant_context(tenant_a):
        services.contact_create(by=None, first_name="Old", email="old@engine.test")
    text = (
        "first name,email\n"
        "Ada,ada@engine.test\n"
        "Ada again,ADA@engine.test\n"
        "Old,old@engine.test\n"
        "Bad,not-an-address\n"
        "Grace,grace@cobol.test\n"
    )
    page = _page_post(client_a, text, step="check")
    assert page.status_code == 400
    assert page.context["row_errors"] == [(5, "E-mail", ["Enter a valid email address."])]
    summary = page.context["summary"]
    assert (summary.contacts_created, summary.rows_skipped) == (2, 2)
    content = page.content.decode()
    assert "Row 5, E-mail" in content
    assert "Same contact as row 2" in content
    assert 'data-count="created">2<' in content
    with tenant_context(tenant_a):
        assert Contact.objects.count() == 1


def test_an_htmx_upload_answers_with_the_outcome_only(client_a: Client, tenant_a: Tenant) -> None:
    """The page posts its form with htmx and swaps in the answer beside the form, which keeps
    the chosen file for the import that follows a dry run."""
    form = client_a.get(PAGE).content.decode()
    assert 'hx-post="/contacts/import/"' in form and 'hx-target="#import-outcome"' in form
    assert re.search(r'<div id="import-outcome"[^>]*></div>', form)  # empty until an upload
    text = b"first name,email\nAda,ada@engine.test\nBad,nope\n"
    answer = _page_post(client_a, text, step="check", HTTP_HX_REQUEST="true")
    assert answer.status_code == 200  # htmx swaps in successful answers only
    content = answer.content.decode()
    assert "<form" not in content and "Row 3, E-mail" in content
    # The mapping step goes back into the form, out of band, for the import that follows.
    assert '<div id="import-mapping" hx-swap-oob="true">' in content
    assert 'name="column-1"' in content
    assert 'data-count="created">1<' in content


def test_the_duplicate_choice_is_a_group_named_by_its_legend(client_a: Client) -> None:
    page = client_a.get(PAGE).content.decode()
    assert 'for=""' not in page
    group = re.search(r"<fieldset[^>]*>\s*<legend[^>]*>\s*When a contact already exists", page)
    assert group is not None
    for value in ("skip", "update"):
        radio = re.search(rf'<input type="radio" name="on_duplicate" value="{value}"[^>]*>', page)
        assert radio is not None
        found = re.search(r'id="([^"]+)"', radio.group(0))
        assert found is not None and f'for="{found.group(1)}"' in page
