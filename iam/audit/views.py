"""The audit log page of an organization's settings, its CSV export and its retention."""

import csv
import io
import json
from collections.abc import Iterator
from typing import cast

import structlog
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_tenants.utils import tenant_context

from iam.authz.guards import requires
from iam.org.models import AuditEvent
from problems.exceptions import InvalidFields
from problems.forms import add_field_errors
from tenants.models import Tenant

from .forms import AuditRetentionForm, AuditSearchForm
from .selectors import audit_actions_known, audit_event_list
from .services import audit_retention_set, retention_days

log = structlog.get_logger(__name__)

PAGE_SIZE = 50
CSV_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor",
    "via",
    "action",
    "target_type",
    "target_id",
    "target",
    "changes",
    "ip",
    "user_agent",
    "request_id",
    "hash",
)


def _events(request: HttpRequest) -> tuple[AuditSearchForm, QuerySet[AuditEvent]]:
    form = AuditSearchForm(request.GET or None)
    tenant = request.tenant  # type: ignore[attr-defined]
    return form, audit_event_list(filters=form.filters(time_zone=tenant.time_zone))


@requires("admin.audit")
@require_http_methods(["GET", "POST"])
def audit_log(request: HttpRequest) -> HttpResponse:
    """Search the organization's audit log; POST changes how long it is kept."""
    tenant = request.tenant  # type: ignore[attr-defined]
    retention = AuditRetentionForm(
        request.POST if request.method == "POST" else None,
        initial={"audit_retention_days": retention_days(tenant=tenant)},
    )
    status = 200
    if request.method == "POST":
        if retention.is_valid():
            try:
                audit_retention_set(
                    tenant=tenant,
                    by=request.user,
                    days=retention.cleaned_data["audit_retention_days"],
                )
            except InvalidFields as exc:
                add_field_errors(retention, exc)
            else:
                messages.success(request, "The audit log's retention was saved.")
                return redirect("iam_audit:audit_log")
        status = 400
    form, events = _events(request)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "actions": audit_actions_known(),
        "retention_form": retention,
    }
    return render(request, "iam/audit.html", context, status=status)


def _csv_safe(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(events: QuerySet[AuditEvent], tenant: Tenant) -> Iterator[bytes]:
    """The rows as CSV, read as the response streams: by then the request is over and the
    connection back on `public`, so the organization is entered again here."""
    with tenant_context(tenant):
        yield from _csv_chunks(events)


def _csv_chunks(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=1000):
        writer.writerow(
            [
                event.seq,
                event.occurred_at.isoformat(),
                "" if event.actor_id is None else event.actor_id,
                _csv_safe(event.actor_label),
                event.via,
                event.action,
                event.target_type,
                _csv_safe(event.target_id),
                _csv_safe(event.target_label),
                _csv_safe(json.dumps(event.changes, ensure_ascii=False, sort_keys=True)),
                event.ip,
                _csv_safe(event.user_agent),
                event.request_id,
                event.hash,
            ]
        )
        if buffer.tell() >= 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


@requires("admin.audit")
@require_GET
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered log as a CSV file, streamed row by row."""
    form, events = _events(request)
    if request.GET and not form.is_valid():
        return redirect(f"{request.path.removesuffix('export/')}?{request.GET.urlencode()}")
    tenant = request.tenant  # type: ignore[attr-defined]
    response = StreamingHttpResponse(
        _csv_rows(events, tenant), content_type="text/csv; charset=utf-8"
    )
    name = f"audit-{tenant.slug}-{timezone.now():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    log.info("audit.exported", tenant=tenant.slug, by=request.user.pk)
    return cast(HttpResponse, response)  # streamed; the route guard types views as HttpResponse
