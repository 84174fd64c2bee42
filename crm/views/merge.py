"""Merge pages of contacts and companies: from a record's page, pick the duplicate (search
box), then compare the two side by side and choose, field by field, which value the record
that stays keeps (`crm.services.merge`)."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from crm import selectors
from crm.access import merge_require
from crm.models import Company, Contact, CustomField
from crm.selectors.activities import user_names
from crm.services import merge as services
from iam import authz
from iam.authz.guards import requires
from problems.exceptions import DomainError, InvalidFields

CANDIDATES = 10
_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "E-mail",
    "phone": "Phone",
    "title": "Title",
    "company": "Company",
    "address": "Postal address",
    "birthday": "Birthday",
    "owner_id": "Owner",
    "name": "Name",
    "domain": "Domain",
}
_KINDS: dict[str, dict[str, Any]] = {
    "contact": {
        "model": Contact,
        "entity": CustomField.Entity.CONTACT,
        "plural": "Contacts",
        "list": "crm:contact_list",
        "detail": "crm:contact_detail",
        "merge": services.contact_merge,
    },
    "company": {
        "model": Company,
        "entity": CustomField.Entity.COMPANY,
        "plural": "Companies",
        "list": "crm:company_list",
        "detail": "crm:company_detail",
        "merge": services.company_merge,
    },
}


def _name(record: Contact | Company) -> str:
    return record.full_name if isinstance(record, Contact) else record.name


def _shown(record: Contact | Company, name: str, owners: dict[int, str]) -> str:
    value = getattr(record, name)
    if name == "owner_id":
        return owners.get(value, "") if value else ""
    if name == "company":
        return value.name if value else ""
    if name == "birthday":
        return value.isoformat() if value else ""
    return "" if value is None else str(value)


def _rows(a: Contact | Company, b: Contact | Company, kind: str) -> list[dict[str, Any]]:
    """One row per field: both values and which one is chosen by default (the first
    record's, unless it has none and the other has one)."""
    model = _KINDS[kind]["model"]
    owners = user_names([a.owner_id, b.owner_id])
    rows: list[dict[str, Any]] = []
    for name in services.merge_fields(model):
        rows.append(
            {
                "name": name,
                "label": _LABELS[name],
                "a": _shown(a, name, owners),
                "b": _shown(b, name, owners),
            }
        )
    definitions = selectors.custom_field_definitions(_KINDS[kind]["entity"])
    values_a = selectors.custom_values_of(a, definitions)
    values_b = selectors.custom_values_of(b, definitions)
    for definition in definitions:
        va, vb = values_a.get(definition.key), values_b.get(definition.key)
        rows.append(
            {
                "name": f"custom.{definition.key}",
                "label": definition.label,
                "a": "" if va is None else str(va),
                "b": "" if vb is None else str(vb),
            }
        )
    for row in rows:
        row["same"] = row["a"] == row["b"]
        row["pick_b"] = not row["a"] and bool(row["b"])
    return rows


def _record(request: HttpRequest, kind: str, pk: int) -> Contact | Company:
    """The record, if the member may view it; else 404, as for one that doesn't exist."""
    if kind not in _KINDS:
        raise Http404
    model = _KINDS[kind]["model"]
    records = model.objects.select_related("company") if model is Contact else model.objects
    principal = authz.principal_for_request(request)
    return get_object_or_404(authz.visible(records.all(), principal, kind), pk=pk)


@login_required
@requires("member")  # the records' own decisions are taken below, once they are loaded
def merge_pick(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Step one: find the duplicate of this record by typing part of its name."""
    record = _record(request, kind, pk)
    principal = authz.principal_for_request(request)
    authz.require(principal, "edit", record=record)
    q = request.GET.get("q", "").replace("\x00", "").strip()[:200]
    found: list[Contact | Company] = []
    if q:
        listed = (
            selectors.contact_list(principal=principal, search=q)
            if kind == "contact"
            else selectors.company_list(principal=principal, search=q)
        )
        found = list(listed.exclude(pk=record.pk)[:CANDIDATES])
    return render(
        request,
        "crm/merge/pick.html",
        {
            "record": record,
            "name": _name(record),
            "kind": kind,
            "q": q,
            "found": found,
            **_KINDS[kind],
        },
    )


@login_required
@requires("member")  # the records' own decisions are taken below, once they are loaded
@require_http_methods(["GET", "POST"])
def merge_compare(request: HttpRequest, kind: str, pk: int, other_pk: int) -> HttpResponse:
    """Step two: the two side by side, a choice per field; merging keeps the chosen record
    with the chosen values and puts the other in the trash."""
    record, other = _record(request, kind, pk), _record(request, kind, other_pk)
    principal = authz.principal_for_request(request)
    authz.require(principal, "edit", record=record)
    if record.pk == other.pk:
        raise Http404("A record is not merged with itself.")
    rows = _rows(record, other, kind)
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        ids = {str(record.pk): record, str(other.pk): other}
        survivor = ids.get(request.POST.get("survivor", ""))
        if survivor is None:
            errors.append("Choose the record that stays.")
        else:
            loser = other if survivor is record else record
            fields: dict[str, int] = {}
            for row in rows:
                picked = ids.get(request.POST.get(row["name"], ""))
                if picked is not None and picked is not survivor:
                    fields[row["name"]] = picked.pk
            merge_require(principal, survivor=survivor, others=[loser], fields=fields)
            try:
                kept = _KINDS[kind]["merge"](
                    survivor=survivor, others=[loser], fields=fields, by=request.user
                )
            except InvalidFields as exc:
                errors += [f"{key}: {' '.join(notes)}" for key, notes in exc.errors.items()]
            except DomainError as exc:
                errors.append(exc.detail)
            else:
                messages.success(
                    request,
                    f"Merged: {_name(kept)} stays; {_name(loser)} is in the trash for 30 days.",
                )
                return redirect(_KINDS[kind]["detail"], pk=kept.pk)
        status = 400
    return render(
        request,
        "crm/merge/compare.html",
        {
            "record": record,
            "other": other,
            "name": _name(record),
            "other_name": _name(other),
            "kind": kind,
            "rows": rows,
            "errors": errors,
            **_KINDS[kind],
        },
        status=status,
    )
