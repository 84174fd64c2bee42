"""The import pages of contacts, leads and deals: upload a CSV file, map its columns, check
it (a dry run), import it.

The file is never kept on the server between these steps: the page posts its form with
htmx and swaps in only the answer, so the file chosen in it stays chosen in the browser and
goes again with each step, read in memory only (`imports.InMemoryImportUpload`) and held
to the same limits each time. The mapping step comes back into the form (an out-of-band
swap), so the next post carries both the file and the mapping chosen for it.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods
from django_ratelimit.decorators import ratelimit

from crm import imports, selectors
from crm.exceptions import ContactImportInvalid, ImportKeyReused
from crm.forms import ContactImportForm, ImportForm
from crm.models import ContactImport, CustomField, ImportMapping
from crm.selectors.imports import import_list, import_mapping_get
from crm.services import imports as import_services
from iam import authz
from iam.authz.guards import requires
from pii.exceptions import KeyServiceUnavailable
from problems.exceptions import InvalidFields

from . import _KEY_SERVICE_DOWN, _TOO_MANY_FILES

# Each import on the page sends its file up to three times (reading the columns, checking,
# importing): three times the API's 30 imports an hour, per user and organization.
STEPS_PER_HOUR = "90/h"


@dataclass(frozen=True)
class ImportPage:
    entity: str
    title: str
    plural: str
    list_url: str
    url: str
    form: type[ImportForm]
    service: Callable[..., ContactImport]
    help: str


def _pages() -> dict[str, ImportPage]:
    return {
        "contact": ImportPage(
            entity="contact",
            title="Import contacts",
            plural="Contacts",
            list_url="crm:contact_list",
            url="crm:contact_import",
            form=ContactImportForm,
            service=import_services.contact_import,
            help=(
                "Rows with the e-mail address of another row or of an existing contact (or, "
                "without an address, the same phone number) are duplicates. A company is "
                "matched by name and added when missing."
            ),
        ),
        "lead": ImportPage(
            entity="lead",
            title="Import leads",
            plural="Leads",
            list_url="crm:lead_list",
            url="crm:lead_import",
            form=ImportForm,
            service=import_services.lead_import,
            help=(
                "A row with the e-mail address of another row or of an existing lead is "
                "skipped. The owner is a member's e-mail address (you when empty); the source "
                "is “Import” unless the file gives one; tags are separated by commas."
            ),
        ),
        "deal": ImportPage(
            entity="deal",
            title="Import deals",
            plural="Deals",
            list_url="crm:deal_list",
            url="crm:deal_import",
            form=ImportForm,
            service=import_services.deal_import,
            help=(
                "Each row is a new deal. Pipelines and stages are found by name (the default "
                "pipeline and its first stage when empty); a company is matched by name and "
                "added when missing; the owner is a member's e-mail address (you when empty)."
            ),
        ),
    }


def _definitions(entity: str) -> list[CustomField]:
    if entity != "contact":
        return []
    return list(selectors.custom_field_list(entity=CustomField.Entity.CONTACT))


def _import_key() -> dict[str, str]:
    """A new form's idempotency key: a resubmitted form (a refresh, a double click) gets the
    first import's result instead of importing twice."""
    return {"idempotency_key": uuid.uuid4().hex}


def import_page(entity: str) -> Callable[[HttpRequest], HttpResponse]:
    """The import page of `entity` records."""

    # The CSRF check reads (parses) the request body, so it comes after the rate limit and
    # the size check: `_import_post` makes it.
    @csrf_exempt
    @login_required
    @requires(f"{entity}.create")
    @require_http_methods(["GET", "POST"])
    @ratelimit(key="user", rate=STEPS_PER_HOUR, method="POST", block=False, group="crm.import")
    def view(request: HttpRequest) -> HttpResponse:
        page = _pages()[entity]
        if request.method == "GET":
            return _render(request, page, page.form(initial=_import_key()))
        if getattr(request, "limited", False):
            form = page.form(initial=_import_key())
            return _render(request, page, form, refusal=_TOO_MANY_FILES, status=429)
        try:
            imports.accept_import_uploads(request)
        except InvalidFields as exc:
            refusal = " ".join(exc.field_errors()["file"])
            return _render(
                request, page, page.form(initial=_import_key()), refusal=refusal, status=400
            )
        return _import_post(request, page)

    view.__name__ = view.__qualname__ = f"{entity}_import"
    view.__doc__ = (
        f"Upload a CSV file of {entity}s, map its columns, check it and import it; show what "
        "was (or would be) imported and skipped, and what must be fixed."
    )
    return view


@dataclass
class MappingStep:
    """The mapping step of the page: each column with a sample of its values and what it
    fills, and the file's date order."""

    digest: str
    columns: list[dict[str, Any]]
    date_order: str
    date_order_asked: str = ""  # why the order must be chosen, when it must
    errors: list[str] | None = None
    date_order_errors: list[str] | None = None
    note: str = ""


def _mapping_posted(request: HttpRequest, table: imports.Table) -> dict[str, str]:
    """The mapping the form sent: `column-<i>` for the columns of the file."""
    mapping = {}
    for i, heading in enumerate(table.headings):
        if heading and heading not in mapping:
            mapping[heading] = request.POST.get(f"column-{i}", "")
    return mapping


def _mapping_step(
    page: ImportPage,
    table: imports.Table,
    definitions: list[CustomField],
    *,
    mapping: dict[str, str] | None,
    date_order: str,
) -> MappingStep:
    """The step as proposed (`mapping` None: remembered for these headings, else matched by
    spelling) or as sent back."""
    remembered: ImportMapping | None = None
    if mapping is None:
        remembered = import_mapping_get(entity=page.entity, headings=table.headings)
        if remembered is not None:
            mapping = imports.mapping_usable(
                page.entity, table.headings, remembered.mapping, definitions
            )
            date_order = date_order or remembered.date_order
        else:
            mapping = imports.mapping_propose(page.entity, table.headings, definitions)
    targets = {t.name: t for t in imports.targets(page.entity, definitions)}
    columns = []
    asked = ""
    for i, heading in enumerate(table.headings):
        if not heading or table.headings.index(heading) != i:
            continue
        chosen = mapping.get(heading, "")
        target = targets.get(chosen)
        order, example = imports.date_order_detect([v for _, v in table.values(i)])
        if order is None and target is not None and target.is_date and not asked:
            asked = (
                f"The dates of the column “{heading}” (such as {example}) can be read day "
                "first or month first: choose the order the file writes them in."
            )
        columns.append(
            {
                "index": i,
                "heading": heading,
                "samples": table.samples(i),
                "chosen": chosen,
                "open_dates": order is None,  # dates that read either way, if it holds dates
            }
        )
    note = (
        "The columns are mapped as last time for a file with these headings." if remembered else ""
    )
    return MappingStep(
        digest=table.digest,
        columns=columns,
        date_order=date_order,
        date_order_asked=asked,
        note=note,
    )


@csrf_protect
def _import_post(request: HttpRequest, page: ImportPage) -> HttpResponse:
    form = page.form(request.POST, request.FILES, initial=_import_key())
    definitions = _definitions(page.entity)
    outcome: dict[str, Any] = {"definitions": definitions}
    status = 400
    is_valid = form.is_valid()
    step = request.POST.get("step", "map")
    if imports.files_sent(request) > 1:
        form.add_error("file", imports.ONE_FILE)
    elif is_valid:
        upload = form.cleaned_data["file"]
        content = upload.read(imports.MAX_BYTES + 1)
        date_order = request.POST.get("date_order", "")
        try:
            table = imports.table_read(content, entity=page.entity)
        except InvalidFields as exc:
            for message in exc.field_errors().get("file", []):
                form.add_error("file", message)
            return _render(request, page, form, status=status, **outcome)
        sent_digest = request.POST.get("headings_digest", "")
        if step not in ("check", "import") or sent_digest != table.digest:
            mapping = _mapping_posted(request, table) if sent_digest == table.digest else None
            mapping_step = _mapping_step(
                page, table, definitions, mapping=mapping, date_order=date_order
            )
            if sent_digest and sent_digest != table.digest:
                mapping_step.note = "This file has other columns: check what each one fills."
            return _render(request, page, form, mapping_step=mapping_step, **outcome)
        mapping = _mapping_posted(request, table)
        mapping_step = _mapping_step(
            page, table, definitions, mapping=mapping, date_order=date_order
        )
        outcome["mapping_step"] = mapping_step
        options = (
            {
                "on_duplicate": form.cleaned_data["on_duplicate"],
                "principal": authz.principal_for_request(request),
            }
            if page.entity == "contact"
            else {}
        )
        try:
            outcome["result"] = page.service(
                by=request.user,
                content=content,
                filename=upload.name or "",
                dry_run=step == "check",
                idempotency_key=form.cleaned_data["idempotency_key"] or None,
                mapping=mapping,
                date_order=date_order,
                **options,
            )
            status = 200
        except ContactImportInvalid as exc:  # bad rows: listed beside what the rest would do
            errors = exc.field_errors()
            for message in errors.get("file", []):
                form.add_error("file", message)
            outcome["row_errors"] = _import_row_errors(errors, page.entity, definitions)
            outcome["summary"] = exc.summary
            outcome["bad_rows"] = exc.bad_rows
        except InvalidFields as exc:
            errors = exc.field_errors()
            mapping_step.errors = errors.get("mapping")
            mapping_step.date_order_errors = errors.get("date_order")
            for name in ("file", "on_duplicate"):
                for message in errors.get(name, []):
                    form.add_error(name if name in form.fields else None, message)
        except KeyServiceUnavailable:
            form.add_error(None, _KEY_SERVICE_DOWN)
            status = 503
        except ImportKeyReused:
            form.add_error(None, "This form was already used for an import; start again.")
            status = 409
    return _render(request, page, form, status=status, **outcome)


def _import_row_errors(
    errors: dict[str, list[str]], entity: str, definitions: list[CustomField]
) -> list[tuple[int, str, list[str]]]:
    """(row, column name, messages) for the `rows.<n>.<field>` errors of an import."""
    labels = {t.name: t.label.split(" (")[0] for t in imports.targets(entity, definitions)}
    labels |= {"row": "Row", "first_name": "First name", "last_name": "Last name"}
    found = []
    for key, notes in errors.items():
        if key.startswith("rows."):
            _, number, column = key.split(".", 2)
            found.append(
                (int(number), labels.get(column, column.replace("_", " ").capitalize()), notes)
            )
    return sorted(found, key=lambda item: item[0])


def _render(
    request: HttpRequest,
    page: ImportPage,
    form: ImportForm,
    *,
    status: int = 200,
    refusal: str = "",
    definitions: list[CustomField] | None = None,
    **outcome: Any,
) -> HttpResponse:
    """The import page, or for htmx (which keeps the form, and the file chosen in it, for the
    next post) only its outcome and, out of band, the mapping step inside the form."""
    if definitions is None:
        definitions = _definitions(page.entity)
    targets = imports.targets(page.entity, definitions)
    context = {
        "page": page,
        "form": form,
        "refusal": refusal,
        "result": None,
        "summary": None,
        "row_errors": [],
        "bad_rows": 0,
        "partial": False,
        "mapping_step": None,
        "own_targets": [t for t in targets if not t.name.startswith("custom.")],
        "custom_targets": [t for t in targets if t.name.startswith("custom.")],
        "date_orders": ImportMapping.DateOrder.choices,
        **outcome,
    }
    if request.headers.get("HX-Request"):
        # htmx swaps in successful answers only (see base.html): the outcome says what failed.
        response = render(request, "crm/_import_outcome.html", {**context, "partial": True})
    else:
        context |= {"definitions": definitions, "recent": import_list(entity=page.entity)[:5]}
        response = render(request, "crm/import.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


contact_import = import_page("contact")
lead_import = import_page("lead")
deal_import = import_page("deal")
