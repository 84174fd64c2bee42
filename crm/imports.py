"""Reading a CSV file for import: contacts, leads or deals.

Each column of the file fills a field of the record type, a custom field, or nothing: as a
person mapped it (on the import page, or `mapping` in the API), else as remembered for files
with the same headings, else as proposed from the headings (common spellings of each field;
custom fields by key or label). Dates are read in the file's date order, settled by a whole
column or given, never guessed. Rows are numbered as a spreadsheet shows them (the headings
are row 1). Nothing here writes: `crm.services.imports` decides what becomes of the rows.
"""

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from anyascii import anyascii
from django import forms
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db import models
from django.http import HttpRequest

from problems.exceptions import InvalidFields

from .forms import PREFIX, ContactForm
from .models import CustomField, Lead

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
LEAD_HEADINGS: dict[str, tuple[str, ...]] = {
    "first_name": HEADINGS["first_name"],
    "last_name": HEADINGS["last_name"],
    "name": ("full name", "name", "lead name", "lead", "contact name", "display name"),
    "email": HEADINGS["email"],
    "phone": HEADINGS["phone"],
    "company": (*HEADINGS["company_name"], "company name"),
    "title": HEADINGS["title"],
    "source": ("source", "lead source", "origin", "channel"),
    "status": ("status", "lead status", "stage"),
    "disqualified_reason": ("disqualified reason", "disqualification reason", "reason"),
    "owner": ("owner", "lead owner", "owner email", "assigned to", "sales rep"),
    "tags": ("tags", "tag", "labels"),
}
DEAL_HEADINGS: dict[str, tuple[str, ...]] = {
    "name": ("deal name", "name", "deal", "opportunity", "opportunity name", "deal title"),
    "company": HEADINGS["company_name"],
    "amount": ("amount", "deal amount", "value", "deal value", "price"),
    "currency": ("currency", "currency code"),
    "pipeline": ("pipeline", "deal pipeline"),
    "stage": ("stage", "deal stage", "status"),
    "expected_close_on": (
        "expected close date",
        "close date",
        "closing date",
        "expected close",
        "close on",
    ),
    "owner": ("owner", "deal owner", "owner email", "assigned to", "sales rep"),
    "tags": ("tags", "tag", "labels"),
    "lost_reason": ("lost reason", "reason lost", "closed lost reason"),
}
_YES = {"yes", "y", "true", "1", "x", "on"}
_NO = {"no", "n", "false", "0", "off", ""}
# What Outlook writes for a date nobody entered.
_NO_DATE = {"0/0/00", "0/0/0000", "00/00/0000"}
_SEPARATORS = re.compile(r"[\s_\-]+")
SAMPLES = 3  # values shown beside each heading on the mapping step
_SAMPLE_CHARS = 60


def _heading(text: str) -> str:
    """A heading as compared: case, accents, spaces, - and _ aside."""
    return _SEPARATORS.sub(" ", anyascii(text).strip().lower()).strip()


@dataclass(frozen=True)
class Target:
    """What a column can fill: `name` as the mapping and the API name it (a field of the
    record, or `custom.<key>`), `label` as a person reads it."""

    name: str
    label: str
    aliases: tuple[str, ...] = ()
    is_date: bool = False


_CONTACT_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "name": "Full name (first and last)",
    "email": "E-mail",
    "phone": "Phone",
    "title": "Job title",
    "company": "Company (by name)",
    "address": "Address",
    "birthday": "Birthday",
}
_LEAD_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "name": "Full name (first and last)",
    "email": "E-mail",
    "phone": "Phone",
    "company": "Company name",
    "title": "Job title",
    "source": "Source",
    "status": "Status",
    "disqualified_reason": "Disqualified reason",
    "owner": "Owner (a member's e-mail)",
    "tags": "Tags",
}
_DEAL_LABELS = {
    "name": "Deal name",
    "company": "Company (by name)",
    "amount": "Amount",
    "currency": "Currency",
    "pipeline": "Pipeline (by name)",
    "stage": "Stage (by name)",
    "expected_close_on": "Expected close date",
    "owner": "Owner (a member's e-mail)",
    "tags": "Tags",
    "lost_reason": "Lost reason",
}
# The contact's own columns by the names the mapping gives them, and the names of the row
# form's fields they fill.
_CONTACT_FORM_NAMES = {"name": "full_name", "company": "company_name"}
# A column the file needs, one of these, per record type.
_NEEDED = {
    "contact": ("first_name", "last_name", "name", "email", "phone"),
    "lead": ("last_name", "name"),
    "deal": ("name",),
}
_NEEDED_EXAMPLES = {
    "contact": "a name, e-mail or phone column (e.g. “First name”, “Last name”, “Email”, “Phone”)",
    "lead": "a name column (e.g. “Last name” or “Name”)",
    "deal": "a deal name column (e.g. “Deal name”)",
}
_NEEDED_FIELDS = {
    "contact": "the first name, last name, full name, e-mail or phone",
    "lead": "the last name or full name",
    "deal": "the deal name",
}
PLURALS = {"contact": "contacts", "lead": "leads", "deal": "deals"}


def targets(entity: str, definitions: Sequence[CustomField] = ()) -> list[Target]:
    """Everything a column of a file of `entity` records can fill, in the order shown."""
    if entity == "contact":
        own = [
            Target(
                name,
                _CONTACT_LABELS[name],
                HEADINGS[_CONTACT_FORM_NAMES.get(name, name)],
                is_date=name == "birthday",
            )
            for name in _CONTACT_LABELS
        ]
        return own + [
            Target(
                f"custom.{d.key}",
                d.label,
                (d.key, d.label),
                is_date=d.type == CustomField.Type.DATE,
            )
            for d in definitions
        ]
    headings, labels = (
        (LEAD_HEADINGS, _LEAD_LABELS) if entity == "lead" else (DEAL_HEADINGS, _DEAL_LABELS)
    )
    return [
        Target(name, labels[name], headings[name], is_date=name == "expected_close_on")
        for name in labels
    ]


@dataclass
class Table:
    """A file's headings (trimmed) and its rows that hold anything, by row number."""

    headings: list[str]
    rows: list[tuple[int, list[str]]]

    @property
    def digest(self) -> str:
        return headings_digest(self.headings)

    def values(self, index: int) -> list[tuple[int, str]]:
        """(row number, trimmed cell) of a column, for the rows that have that cell."""
        return [(n, _unescaped(c[index].strip())) for n, c in self.rows if index < len(c)]

    def samples(self, index: int) -> list[str]:
        found = []
        for _, value in self.values(index):
            if value:
                found.append(value if len(value) <= _SAMPLE_CHARS else value[:59] + "…")
            if len(found) == SAMPLES:
                break
        return found


def headings_digest(headings: Sequence[str]) -> str:
    """What makes two files "the same headings": their non-empty headings, trimmed, as a
    set (the order of the columns aside)."""
    names = sorted({h.strip() for h in headings if h.strip()})
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()


def table_read(content: bytes, *, entity: str = "contact") -> Table:
    """The file's headings and rows; InvalidFields (`file`) when it can't be read as CSV."""
    text = _decode(content)
    separator, space_after = _separator(text)
    reader = csv.reader(
        io.StringIO(text, newline=""), "excel", delimiter=separator, skipinitialspace=space_after
    )
    rows: list[tuple[int, list[str]]] = []
    try:
        headings = [h.strip() for h in next(reader, [])]
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue  # blank lines, as spreadsheets leave at the end
            if len(rows) >= MAX_ROWS:
                raise InvalidFields(
                    {"file": [f"The file has more than {MAX_ROWS:,} {PLURALS[entity]}; split it."]}
                )
            rows.append((number, cells))
    except csv.Error as exc:
        raise InvalidFields({"file": [f"The file is not valid CSV: {exc}."]}) from None
    return Table(headings=headings, rows=rows)


def mapping_propose(
    entity: str, headings: Sequence[str], definitions: Sequence[CustomField] = ()
) -> dict[str, str]:
    """Heading -> the target its spelling names ("" for none), for each heading of the
    file. Where several headings name one field (Outlook's "Title" and "Job Title", say),
    the one earlier in that field's list of spellings fills it."""
    known: dict[str, tuple[str, int]] = {}
    custom: dict[str, tuple[str, int]] = {}
    for target in targets(entity, definitions):
        for rank, alias in enumerate(target.aliases):
            if target.name.startswith("custom."):  # unless a field of its own has it
                custom.setdefault(_heading(alias), (target.name, 0))
            else:
                known.setdefault(_heading(alias), (target.name, rank))
    for spelling, custom_match in custom.items():
        known.setdefault(spelling, custom_match)
    best: dict[str, tuple[int, int]] = {}  # target -> (rank, column index)
    for i, heading in enumerate(headings):
        match = known.get(_heading(_unescaped(heading)))
        if match is not None and (match[0] not in best or match[1] < best[match[0]][0]):
            best[match[0]] = (match[1], i)
    by_index = {i: name for name, (_, i) in best.items()}
    proposal: dict[str, str] = {}
    for i, heading in enumerate(headings):
        if heading and heading not in proposal:
            proposal[heading] = by_index.get(i, "")
    return proposal


def mapping_usable(
    entity: str,
    headings: Sequence[str],
    mapping: Any,
    definitions: Sequence[CustomField] = (),
) -> dict[str, str]:
    """A remembered mapping as it fits the file and today's fields: headings it doesn't name
    and targets no longer there (a custom field deleted since) are left to the proposal."""
    names = {t.name for t in targets(entity, definitions)}
    proposal = mapping_propose(entity, headings, definitions)
    if not isinstance(mapping, dict):
        return proposal
    kept = {h: t for h, t in mapping.items() if h in proposal and (t == "" or t in names)}
    taken = set(kept.values())
    for heading, target in proposal.items():
        if heading not in kept:
            kept[heading] = target if target not in taken else ""
    return {h: kept[h] for h in proposal}


def mapping_columns(
    entity: str,
    headings: Sequence[str],
    mapping: Any,
    definitions: Sequence[CustomField] = (),
    *,
    field_name: str = "mapping",
) -> dict[int, Target]:
    """Column index -> the target it fills, by `mapping` (heading -> target name, "" or None
    to ignore it; headings it doesn't name are ignored). The first column of a heading that
    appears twice takes its mapping. Raises InvalidFields (`field_name`) for a mapping that
    isn't one of the file, fills a field twice, or leaves the file without a column it needs
    (a name, e-mail or phone for contacts; a name for leads and deals)."""
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in mapping.items()
    ):
        raise InvalidFields({field_name: ["Give an object of target fields by column heading."]})
    by_name = {t.name: t for t in targets(entity, definitions)}
    errors: list[str] = []
    for heading, name in mapping.items():
        if heading not in headings:
            errors.append(f"The file has no column “{heading}”.")
        elif name and name not in by_name:
            choices = ", ".join(by_name)
            errors.append(
                f"“{name}” (for “{heading}”) is not a field of {PLURALS[entity]}; "
                f'choose one of: {choices}, or "" to leave the column out.'
            )
    columns: dict[int, Target] = {}
    seen: dict[str, str] = {}
    for i, heading in enumerate(headings):
        if not heading or headings.index(heading) != i:
            continue  # no heading, or a second column of the same heading
        name = mapping.get(heading) or ""
        if name in by_name:
            if name in seen:
                errors.append(
                    f"“{seen[name]}” and “{heading}” both fill {by_name[name].label}; "
                    "map only one of them."
                )
                continue
            seen[name] = heading
            columns[i] = by_name[name]
    if not errors and not set(seen) & set(_NEEDED[entity]):
        if field_name == "file":
            errors.append(
                "The first row must name the columns; none was recognised as "
                f"{_NEEDED_EXAMPLES[entity]}."
            )
        else:
            errors.append(f"Map a column to {_NEEDED_FIELDS[entity]}.")
    if errors:
        raise InvalidFields({field_name: errors})
    return columns


# Dates ------------------------------------------------------------------------------------

DATE_FORMATS = {"DMY": "DD/MM/YYYY", "MDY": "MM/DD/YYYY", "YMD": "YYYY-MM-DD"}
DATE_ORDERS = tuple(DATE_FORMATS)
_DATE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})")


def _date_or_none(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _date_readings(value: str) -> dict[str, dt.date] | None:
    """The dates `value` can be read as, by order: year first (ISO 8601 and 1990/03/25) in
    every order; day-first and month-first for a year last. None when it isn't three
    numbers with a four-digit year first or last."""
    found = _DATE.fullmatch(value)
    if found is None:
        return None
    first, _, middle, last = found.groups()
    if len(first) == 4 and len(last) <= 2:
        date = _date_or_none(int(first), int(middle), int(last))
        return {order: date for order in DATE_ORDERS} if date else {}
    if len(last) != 4 or len(first) > 2:
        return None
    readings = {
        "DMY": _date_or_none(int(last), int(middle), int(first)),
        "MDY": _date_or_none(int(last), int(first), int(middle)),
    }
    return {order: date for order, date in readings.items() if date is not None}


def date_order_detect(values: Sequence[str]) -> tuple[str | None, str]:
    """The order a column's dates are written in, settled by the whole column: "DMY" or
    "MDY" when a value can only be read one way (25/03/1990) and none only the other, ""
    when no value needs an order (year first, or empty), None when it stays open (every
    value ambiguous, like 03/04/1920, or values of both orders); with a value that shows
    why."""
    only: dict[str, str] = {}
    ambiguous = ""
    for value in values:
        readings = _date_readings(value.strip())
        if not readings or len(set(readings.values())) == 1 and len(readings) > 1:
            continue  # not a date, or the same date whatever the order (05/05/1990)
        if len(readings) == 1:
            only.setdefault(next(iter(readings)), value)
        else:
            ambiguous = ambiguous or value
    if len(only) == 1:
        order, example = next(iter(only.items()))
        return order, example
    if only:
        return None, f"{only['DMY']} and {only['MDY']}"
    return (None, ambiguous) if ambiguous else ("", "")


def date_orders(table: Table, columns: dict[int, Target], date_order: str = "") -> dict[int, str]:
    """The order each date column is read in: `date_order` when given, else the order its
    values settle. Raises InvalidFields (`date_order`) naming a column whose order stays
    open while none is given, or for an order that isn't DMY, MDY or YMD."""
    if date_order and date_order not in DATE_ORDERS:
        raise InvalidFields({"date_order": [f"Choose one of: {', '.join(DATE_ORDERS)}."]})
    orders: dict[int, str] = {}
    for i, target in columns.items():
        if not target.is_date:
            continue
        detected, example = date_order_detect([v for _, v in table.values(i)])
        if date_order:
            orders[i] = date_order
        elif detected is None:
            heading = table.headings[i]
            raise InvalidFields(
                {
                    "date_order": [
                        f"The dates of the column “{heading}” (such as {example}) can be read "
                        "day first or month first: say which order the file writes dates in "
                        f"({', '.join(DATE_ORDERS)})."
                    ]
                }
            )
        else:
            orders[i] = detected
    return orders


def date_read(value: str, order: str) -> dt.date | None:
    """The date `value` is in `order` ("" when the column's dates need none); ValueError
    naming the value and the format expected when it isn't one; None for an empty cell."""
    value = value.strip()
    if not value or value in _NO_DATE:
        return None
    readings = _date_readings(value)
    expected = DATE_FORMATS.get(order, "YYYY-MM-DD")
    if order in ("DMY", "MDY"):
        expected += " or YYYY-MM-DD"
    if readings is None:
        found = _DATE.fullmatch(value)
        if found and len(found.group(4)) == 2 and len(found.group(1)) <= 2:
            raise ValueError(f"“{value}” has a two-digit year; write it as {expected}.")
        raise ValueError(f"“{value}” is not a date; write it as {expected}.")
    if not order and len(set(readings.values())) == 1 and len(readings) > 1:
        return next(iter(readings.values()))  # the same date whatever the order
    date = readings.get(order or "YMD")
    if date is None:
        raise ValueError(f"“{value}” is not a date; write it as {expected}.")
    return date


def _dates_to_iso(
    data: dict[str, str], dates: dict[str, str], errors: dict[str, list[str]]
) -> None:
    """Date cells of `data` (form field -> order) rewritten as ISO dates, or errors."""
    for name, order in dates.items():
        if name not in data:
            continue
        try:
            date = date_read(data[name], order)
        except ValueError as exc:
            errors[name] = [str(exc)]
            del data[name]
        else:
            data[name] = date.isoformat() if date else ""


@dataclass
class ImportRow:
    """A valid row: the record's own values, its custom values by key, and the company it
    names (by name; found or made when imported)."""

    number: int
    values: dict[str, Any]
    custom: dict[str, Any] = field(default_factory=dict)
    company_name: str = ""


@dataclass
class ImportFile:
    rows: list[ImportRow] = field(default_factory=list)
    # heading -> what it fills: a field, "name" (first and last), or custom.<key>
    columns: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    # The rows that break the record's rules: how many, and `rows.<n>.<field>` -> messages
    # for the first of them (at most MAX_ERRORS cells).
    bad_rows: int = 0
    errors: dict[str, list[str]] = field(default_factory=dict)
    date_orders: dict[str, str] = field(default_factory=dict)  # heading -> order used

    def row_failed(self, number: int, errors: dict[str, list[str]]) -> None:
        self.bad_rows += 1
        for name, messages in errors.items():
            if len(self.errors) < MAX_ERRORS:
                self.errors[f"rows.{number}.{name}"] = messages


def _file_report(table: Table, columns: dict[int, Target], orders: dict[int, str]) -> ImportFile:
    report = ImportFile()
    for i, heading in enumerate(table.headings):
        if i in columns:
            report.columns[heading] = columns[i].name
            if orders.get(i):
                report.date_orders[heading] = orders[i]
        elif heading:
            report.ignored_columns.append(heading)
    return report


def _cells(cells: list[str], columns: dict[int, Target]) -> dict[str, str]:
    """Target name -> the row's trimmed cell, for the mapped columns the row has."""
    return {t.name: _unescaped(cells[i].strip()) for i, t in columns.items() if i < len(cells)}


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


def _unescaped(cell: str) -> str:
    """A cell without the apostrophe that keeps spreadsheets from running it as a formula
    (`crm.exports.csv_safe` adds it)."""
    if cell.startswith("'") and cell[1:2] and cell[1] in "=+-@\t\r":
        return cell[1:]
    return cell


def _form_data(
    cells: dict[str, str], definitions: Sequence[CustomField], dates: dict[str, str]
) -> tuple[dict[str, Any], dict[str, list[str]], set[str]]:
    """The row as contact form data: a full name split when first and last are not given,
    yes/no cells read as checkbox values, dates read in their column's order. Returns the
    data, errors found on the way, and the keys of the custom fields the row gives a value
    (an empty cell gives none, not "no")."""
    data: dict[str, Any] = {
        PREFIX + k.removeprefix("custom.") if k.startswith("custom.") else k: v
        for k, v in cells.items()
    }
    data = {_CONTACT_FORM_NAMES.get(k, k): v for k, v in data.items()}
    given = {k.removeprefix(PREFIX) for k, v in data.items() if k.startswith(PREFIX) and v}
    errors: dict[str, list[str]] = {}
    _dates_to_iso(data, dates, errors)
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


def _form_error_name(name: str) -> str:
    if name.startswith(PREFIX):
        return "custom." + name.removeprefix(PREFIX)
    return {"company_name": "company", "__all__": "row"}.get(name, name)


@dataclass
class Reading:
    """A file read for import: its table, the columns as mapped, and each date column's
    order."""

    table: Table
    columns: dict[int, Target]
    orders: dict[int, str]

    def report(self) -> ImportFile:
        return _file_report(self.table, self.columns, self.orders)

    def dates(self, form_names: dict[str, str] | None = None) -> dict[str, str]:
        """Form field -> order, for the date columns."""
        names = form_names or {}
        found = {}
        for i, order in self.orders.items():
            name = self.columns[i].name
            if name.startswith("custom."):
                name = PREFIX + name.removeprefix("custom.")
            found[names.get(name, name)] = order
        return found


def reading_make(
    entity: str,
    table: Table,
    *,
    definitions: Sequence[CustomField] = (),
    mapping: Any = None,
    date_order: str = "",
) -> Reading:
    """The file's table mapped: by `mapping` when given (InvalidFields `mapping` when it
    doesn't fit the file), else as its headings propose (InvalidFields `file` when they name
    no column the records need); dates in `date_order` or as their columns settle."""
    if mapping is None:
        proposal = mapping_propose(entity, table.headings, definitions)
        columns = mapping_columns(entity, table.headings, proposal, definitions, field_name="file")
    else:
        columns = mapping_columns(entity, table.headings, mapping, definitions)
    if not table.rows:
        raise InvalidFields({"file": [f"The file has no {PLURALS[entity]} below its headings."]})
    return Reading(table=table, columns=columns, orders=date_orders(table, columns, date_order))


def contact_rows_read(reading: Reading, *, definitions: Sequence[CustomField]) -> ImportFile:
    """The file's valid contact rows, and its bad cells as `rows.<n>.<field>` errors (custom
    fields as `rows.<n>.custom.<key>`), held to the contact form's rules."""
    report = reading.report()
    dates = reading.dates()
    for number, cells in reading.table.rows:
        data, row_errors, custom_given = _form_data(
            _cells(cells, reading.columns), definitions, dates
        )
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
        found = {_form_error_name(k): [str(m) for m in v] for k, v in form.errors.items()}
        report.row_failed(
            number, {**found, **{_form_error_name(k): v for k, v in row_errors.items()}}
        )
    return report


def contact_import_read(
    content: bytes,
    *,
    definitions: Sequence[CustomField],
    mapping: Any = None,
    date_order: str = "",
) -> ImportFile:
    """The file's valid contact rows and bad cells (see `contact_rows_read`); InvalidFields
    (`file`, `mapping`, `date_order`) when the file as a whole can't be read."""
    table = table_read(content, entity="contact")
    reading = reading_make(
        "contact", table, definitions=definitions, mapping=mapping, date_order=date_order
    )
    return contact_rows_read(reading, definitions=definitions)


def _choice(value: str, choices: type[models.TextChoices]) -> str | None:
    """The choice a cell names, by its value or its label (case aside); None for none."""
    wanted = value.strip().casefold()
    for choice in choices:
        if wanted in (choice.value.casefold(), str(choice.label).casefold()):
            return str(choice.value)
    return None


def tags_split(value: str) -> list[str]:
    """A cell of tags: names separated by commas or semicolons."""
    return [name.strip() for name in re.split(r"[,;]", value) if name.strip()]


def owner_read(value: str, members: dict[str, int], errors: dict[str, list[str]]) -> Any:
    """The member a cell names by e-mail address (case aside): their user id, None for an
    empty cell, or an error."""
    if not value:
        return None
    owner = members.get(value.strip().casefold())
    if owner is None:
        errors["owner"] = [f"“{value}” is not the e-mail address of a member."]
    return owner


def lead_rows_read(reading: Reading, *, members: dict[str, int]) -> ImportFile:
    """The lead rows as the values `lead_create` takes (checked by it when imported), and
    the cells found bad on the way: unknown sources, statuses, owners and bad dates."""
    report = reading.report()
    for number, cells in reading.table.rows:
        given = _cells(cells, reading.columns)
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        for name in ("first_name", "last_name", "email", "phone", "title"):
            if name in given:
                values[name] = given[name]
        values["company_name"] = given.get("company", "")
        full = given.get("name", "")
        if full and not values.get("first_name") and not values.get("last_name"):
            first, _, last = full.partition(" ")
            values["first_name"], values["last_name"] = (
                (first, last.strip()) if last else ("", first)
            )
        for name, choices in (("source", Lead.Source), ("status", Lead.Status)):
            if given.get(name):
                chosen = _choice(given[name], choices)
                if chosen is None:
                    labels = ", ".join(str(c.label) for c in choices)
                    errors[name] = [f"“{given[name]}” is not a {name}; use one of: {labels}."]
                values[name] = chosen or ""
        if given.get("disqualified_reason"):
            values["disqualified_reason"] = given["disqualified_reason"]
        if given.get("owner"):
            values["owner_id"] = owner_read(given["owner"], members, errors)
        if given.get("tags"):
            values["tags"] = tags_split(given["tags"])
        if errors:
            report.row_failed(number, errors)
        else:
            report.rows.append(ImportRow(number=number, values=values))
    return report


def deal_rows_read(reading: Reading, *, members: dict[str, int]) -> ImportFile:
    """The deal rows as values for `deal_create`, with the company, pipeline and stage still
    by name (`company_name`, `pipeline_name`, `stage_name`: found when imported), and the
    cells found bad on the way: unknown owners and bad dates."""
    report = reading.report()
    dates = reading.dates()
    for number, cells in reading.table.rows:
        given = _cells(cells, reading.columns)
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {"name": given.get("name", "")}
        for name in ("amount", "currency", "lost_reason"):
            if given.get(name):
                values[name] = given[name]
        values["pipeline_name"] = given.get("pipeline", "")
        values["stage_name"] = given.get("stage", "")
        if "expected_close_on" in dates and "expected_close_on" in given:
            try:
                values["expected_close_on"] = date_read(
                    given["expected_close_on"], dates["expected_close_on"]
                )
            except ValueError as exc:
                errors["expected_close_on"] = [str(exc)]
        if given.get("owner"):
            values["owner_id"] = owner_read(given["owner"], members, errors)
        if given.get("tags"):
            values["tags"] = tags_split(given["tags"])
        if errors:
            report.row_failed(number, errors)
        else:
            report.rows.append(
                ImportRow(number=number, values=values, company_name=given.get("company", ""))
            )
    return report
