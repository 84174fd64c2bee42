"""Reading a CSV file of contacts for import.

Columns are recognised by their headings (common spellings of the contact's own fields, and
custom fields by key or label); every row is checked by the rules of the contact form; rows
are numbered as a spreadsheet shows them (the headings are row 1). Nothing here writes:
`services.contact_import` decides what becomes of the rows.
"""

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

from problems.exceptions import InvalidFields

from .forms import PREFIX, ContactForm
from .models import CustomField

MAX_BYTES = 5 * 1024 * 1024
# A request's whole body: the file, the form's few short fields and the multipart framing.
MAX_REQUEST_BYTES = MAX_BYTES + 64 * 1024
TOO_LARGE = f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."
ONE_FILE = "Send one file at a time."
MAX_ROWS = 5_000
MAX_ERRORS = 100  # listed; a file with more is reported as having more
SEPARATORS = (",", ";", "\t")  # in order of preference

# Headings of the contact's own columns, compared after `_heading` (case, spaces, - and _),
# in order of preference: where a file has several columns for one field (Outlook's "Title"
# and "Job Title", say), the one with the earlier heading here fills it. They cover the
# exports of the common address books and CRMs (Google, Outlook, HubSpot and the like).
HEADINGS: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "given name", "forename"),
    "last_name": ("last name", "lastname", "surname", "family name"),
    "full_name": ("full name", "name", "contact name", "display name", "contact"),
    "email": (
        "email",
        "email address",
        "e mail",
        "e mail address",
        "primary email",
        "work email",
        "e mail 1 value",
        "email 1 value",
        "mail",
    ),
    "phone": (
        "phone",
        "phone number",
        "mobile",
        "mobile phone",
        "mobile number",
        "cell",
        "cell phone",
        "business phone",
        "work phone",
        "primary phone",
        "phone 1 value",
        "telephone",
        "tel",
        "home phone",
    ),
    "title": (
        "job title",
        "title",
        "position",
        "organization title",
        "organization 1 title",
        "role",
    ),
    "company_name": (
        "company",
        "company name",
        "organization",
        "organisation",
        "organization name",
        "organization 1 name",
        "account",
        "account name",
    ),
    "address": (
        "address",
        "postal address",
        "mailing address",
        "street address",
        "business address",
        "home address",
        "address 1 formatted",
    ),
    "birthday": ("birthday", "date of birth", "birth date", "dob"),
}
_YES = {"yes", "y", "true", "1", "x", "on"}
_NO = {"no", "n", "false", "0", "off", ""}
# What Outlook writes for a birthday nobody entered.
_NO_DATE = {"0/0/00", "0/0/0000", "00/00/0000"}
_SEPARATORS = re.compile(r"[\s_\-]+")
# How the answer names what a column fills (the API's field names).
_COLUMN_NAMES = {"company_name": "company", "full_name": "name"}


def _heading(text: str) -> str:
    return _SEPARATORS.sub(" ", text.strip().lower()).strip()


@dataclass
class ImportRow:
    """A valid row: the contact's own values, its custom values by key, and the company it
    names (by name; found or made when imported)."""

    number: int
    values: dict[str, Any]
    custom: dict[str, Any]
    company_name: str


@dataclass
class ImportFile:
    rows: list[ImportRow] = field(default_factory=list)
    # heading -> what it fills: a contact field, "name" (first and last), or custom.<key>
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    # The rows that break the contact form's rules: how many, and `rows.<n>.<field>` ->
    # messages for the first of them (at most MAX_ERRORS cells).
    bad_rows: int = 0
    errors: dict[str, list[str]] = field(default_factory=dict)


class ContactImportRowForm(ContactForm):
    """A row of the file is held to the contact form's rules; the company is given by name."""

    company_name = forms.CharField(max_length=200, required=False)

    class Meta(ContactForm.Meta):
        fields = tuple(f for f in ContactForm.Meta.fields if f != "company")


class InMemoryImportUpload(FileUploadHandler):
    """Keeps the one uploaded import file in memory only, at most MAX_BYTES + 1 bytes of it.

    A file of personal data never lands in a temporary file on the server's disk (Django's
    default for uploads over 2.5 MB). A larger upload is read to its end, so the client gets
    an answer, but not kept; its full size is reported, and the import refuses it as too
    large. Further file parts are read past, not kept, and counted (`files_sent`), so a
    request never holds more than one file. Install it before the request body is read (see
    `accept_import_uploads`).
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.files = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.files += 1
        if self.files > 1:
            raise SkipFile
        self.buffer = io.BytesIO()
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        room = MAX_BYTES + 1 - self.buffer.tell()
        if room > 0:
            self.buffer.write(raw_data[:room])

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=self.received,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def accept_import_uploads(request: HttpRequest) -> None:
    """Make the request's file uploads go to `InMemoryImportUpload` only; or refuse the request
    (InvalidFields, `file`) when its Content-Length is more than one file of MAX_BYTES and the
    form's fields can take, before anything reads its body."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0  # Django reads no body then
    if length > MAX_REQUEST_BYTES:
        raise InvalidFields({"file": [TOO_LARGE]})
    request.upload_handlers = [InMemoryImportUpload(request)]


def files_sent(request: HttpRequest) -> int:
    """How many files the request's body held (read by `InMemoryImportUpload`)."""
    return sum(h.files for h in request.upload_handlers if isinstance(h, InMemoryImportUpload))


def _decode(content: bytes) -> str:
    if not content.strip():
        raise InvalidFields({"file": ["The file is empty."]})
    if len(content) > MAX_BYTES:
        raise InvalidFields({"file": [TOO_LARGE]})
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidFields(
            {"file": ["The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."]}
        ) from None
    if "\x00" in text:
        raise InvalidFields({"file": ["The file is not a CSV text file."]})
    return text


def _separator(text: str) -> tuple[str, bool]:
    """The file's separator: whichever of comma, semicolon and tab separates the headings
    most often (outside quotes; a comma when none does), and whether one space follows it
    every time (then spaces after separators are not part of a cell).

    Counted in one pass over the first line: `csv.Sniffer`, which also guesses quoting, takes
    time quadratic in the line's length on lines built for it, and misreads headings that
    hold doubled quotes."""
    first_line = text.split("\n", 1)[0]
    outside = first_line.split('"')[::2]  # the text between quoted parts
    counts = {sep: sum(part.count(sep) for part in outside) for sep in SEPARATORS}
    separator = max(SEPARATORS, key=counts.__getitem__)  # the first of a tie
    if not counts[separator]:
        return ",", False
    spaced = sum(part.count(separator + " ") for part in outside)
    return separator, spaced == counts[separator]


def _map_columns(
    headings: list[str], definitions: Sequence[CustomField]
) -> tuple[dict[int, str], ImportFile]:
    """Column index -> form field name, and the file's column report."""
    known = {
        _heading(alias): (name, rank)
        for name, aliases in HEADINGS.items()
        for rank, alias in enumerate(aliases)
    }
    for d in definitions:  # a custom field's own key or label, unless a contact field has it
        known.setdefault(_heading(d.key), (PREFIX + d.key, 0))
        known.setdefault(_heading(d.label), (PREFIX + d.key, 0))
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, column index)
    for i, heading in enumerate(headings):
        match = known.get(_heading(_unescaped(heading.strip())))
        if match is not None and (match[0] not in best or match[1] < best[match[0]][0]):
            best[match[0]] = (match[1], i)
    by_index = {i: name for name, (_, i) in best.items()}
    report = ImportFile()
    for i, heading in enumerate(headings):
        if i in by_index:
            name = by_index[i]
            shown = _COLUMN_NAMES.get(name) or name.replace(PREFIX, "custom.", 1)
            report.columns[heading.strip()] = shown
        elif heading.strip():
            report.ignored_columns.append(heading.strip())
    taken = set(best)
    if not taken & {"first_name", "last_name", "full_name", "email", "phone"}:
        raise InvalidFields(
            {
                "file": [
                    "The first row must name the columns; none was recognised as a name, "
                    "e-mail or phone column (e.g. “First name”, “Last name”, “Email”, “Phone”)."
                ]
            }
        )
    return by_index, report


def _unescaped(cell: str) -> str:
    """A cell without the apostrophe that keeps spreadsheets from running it as a formula
    (`crm.exports.csv_safe` adds it)."""
    if cell.startswith("'") and cell[1:2] and cell[1] in "=+-@\t\r":
        return cell[1:]
    return cell


def _form_data(
    cells: dict[str, str], definitions: Sequence[CustomField]
) -> tuple[dict[str, Any], dict[str, list[str]], set[str]]:
    """The row as form data: a full name split when first and last are not given, yes/no
    cells read as checkbox values. Returns the data, errors found on the way, and the keys
    of the custom fields the row gives a value (an empty cell gives none, not "no")."""
    data: dict[str, Any] = {k: _unescaped(v.strip()) for k, v in cells.items()}
    given = {k.removeprefix(PREFIX) for k, v in data.items() if k.startswith(PREFIX) and v}
    errors: dict[str, list[str]] = {}
    if data.get("birthday") in _NO_DATE:
        data["birthday"] = ""
    full = data.pop("full_name", "")
    if full and not data.get("first_name") and not data.get("last_name"):
        first, _, last = full.partition(" ")
        data["first_name"], data["last_name"] = first, last.strip()
    for d in definitions:
        name = PREFIX + d.key
        if d.type == CustomField.Type.BOOLEAN and name in data:
            answer = data[name].lower()
            if answer in _YES:
                data[name] = "on"
            elif answer in _NO:
                del data[name]
            else:
                errors[name] = ["Write yes or no."]
                del data[name]
    return data, errors, given


def contact_import_read(content: bytes, *, definitions: Sequence[CustomField]) -> ImportFile:
    """The file's valid rows, and its bad cells as `rows.<n>.<field>` errors (custom fields as
    `rows.<n>.custom.<key>`); InvalidFields (`file`) when the file as a whole can't be read."""
    text = _decode(content)
    separator, space_after = _separator(text)
    reader = csv.reader(
        io.StringIO(text, newline=""), "excel", delimiter=separator, skipinitialspace=space_after
    )
    try:
        headings = next(reader)
        by_index, report = _map_columns(headings, definitions)
        errors = report.errors
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # blank lines, as spreadsheets leave at the end
            if len(report.rows) + report.bad_rows >= MAX_ROWS:
                raise InvalidFields(
                    {"file": [f"The file has more than {MAX_ROWS:,} contacts; split it."]}
                )
            given = {name: cells[i] for i, name in by_index.items() if i < len(cells)}
            data, row_errors, custom_given = _form_data(given, definitions)
            form = ContactImportRowForm(data, custom_fields=definitions)
            if form.is_valid() and not row_errors:
                cleaned = form.cleaned_data
                report.rows.append(
                    ImportRow(
                        number=number,
                        values={k: cleaned[k] for k in ContactImportRowForm.Meta.fields},
                        custom={k: v for k, v in cleaned["custom"].items() if k in custom_given},
                        company_name=cleaned["company_name"].strip(),
                    )
                )
                continue
            report.bad_rows += 1
            found: dict[str, list[str]] = {k: [str(m) for m in v] for k, v in form.errors.items()}
            for name, messages in {**found, **row_errors}.items():
                if len(errors) < MAX_ERRORS:
                    where = name
                    if name.startswith(PREFIX):
                        where = "custom." + name.removeprefix(PREFIX)
                    elif name == "company_name":
                        where = "company"
                    elif name == "__all__":
                        where = "row"
                    errors[f"rows.{number}.{where}"] = messages
    except csv.Error as exc:
        raise InvalidFields({"file": [f"The file is not valid CSV: {exc}."]}) from None
    return report
