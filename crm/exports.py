"""Contacts as a CSV file, in the columns `crm.imports` reads back.

Exporting decrypts personal data, so only roles with the export right may (the routes ask
the decision point), only the contacts the exporter may view are in the file (in the query),
and each export is logged with its size and who ran it.
"""

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import structlog
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_tenants.utils import tenant_context

from iam import authz
from iam.audit import audit_record
from tenants.models import Tenant

from . import selectors
from .models import Contact, CustomField

log = structlog.get_logger(__name__)

HEADINGS = ("First name", "Last name", "Email", "Phone", "Title", "Company", "Address", "Birthday")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_LIKE = re.compile(r"[+\-][0-9 ()./-]*")
_CHUNK = 64 * 1024


def csv_safe(text: str) -> str:
    """A cell a spreadsheet won't run as a formula: text that starts like one gets a leading
    apostrophe (OWASP's advice against CSV injection), unless it is only a number such as a
    phone number ("+1 555 0100"), which can't call anything. `crm.imports` takes the
    apostrophe off again."""
    if text.startswith(FORMULA_START) and not _NUMBER_LIKE.fullmatch(text):
        return "'" + text
    return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        return str(value)
    return csv_safe(str(value))


def contact_rows(
    contacts: Iterable[Contact], definitions: Sequence[CustomField]
) -> Iterator[list[str]]:
    """The headings, then a row per contact: its own fields decrypted, its company's name,
    and its custom values (sensitive ones decrypted) under their fields' labels. A label is
    text an admin typed, so the heading row is defused like any cell."""
    yield [csv_safe(heading) for heading in (*HEADINGS, *(d.label for d in definitions))]
    for contact in contacts:
        custom = selectors.custom_values_of(contact, definitions)
        own = (
            contact.first_name,
            contact.last_name,
            contact.email,
            contact.phone,
            contact.title,
            contact.company.name if contact.company else "",
            contact.address,
            contact.birthday,
        )
        yield [_cell(v) for v in (*own, *(custom[d.key] for d in definitions))]


def contact_export_stream(
    *,
    tenant: Tenant,
    by: Any,
    principal: authz.Principal | None,
    search: str = "",
    email: str = "",
    phone: str = "",
) -> Iterator[bytes]:
    """The contacts `principal` may view (filtered as the list is) as UTF-8 CSV with a
    byte-order mark (so spreadsheets read it as UTF-8), in chunks, produced while the
    response is sent.

    The rows are read inside `tenant` explicitly: by the time a streamed response is sent,
    the routing middleware has put the connection back on `public`.
    """
    with tenant_context(tenant):
        definitions = list(selectors.custom_field_list(entity=CustomField.Entity.CONTACT))
        contacts = (
            selectors.contact_list(principal=principal, search=search, email=email, phone=phone)
            .select_related("company")
            .iterator(chunk_size=500)
        )
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer)
        count = -1  # the headings are not a contact
        for row in contact_rows(contacts, definitions):
            writer.writerow(row)
            count += 1
            if buffer.tell() >= _CHUNK:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
    log.info("contact.exported", tenant=tenant.slug, contacts=count, by=getattr(by, "pk", None))


def contact_export_response(request: Any, params: Any) -> StreamingHttpResponse:
    """The contacts export as a streamed file download, for the API and the page alike."""
    tenant = request.tenant
    filters = {key: str(params.get(key, "")) for key in ("search", "email", "phone")}
    # Logged before the first row goes out: a download cut short was still an export.
    audit_record(
        action="contact.exported",
        target=("contact", "", "Contacts export"),
        # Which filters, not their values: an e-mail or phone searched for is personal data.
        changes={"filters": [None, sorted(key for key, value in filters.items() if value)]},
    )
    stream = contact_export_stream(
        tenant=tenant,
        by=request.user,
        principal=authz.principal_for_request(request),
        search=params.get("search", ""),
        email=params.get("email", ""),
        phone=params.get("phone", ""),
    )
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    name = f"contacts-{tenant.slug}-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
