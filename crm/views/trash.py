"""The Trash page: what members deleted in the last 30 days, who did and when, how long it
stays. Each member sees the records they may delete, and may restore them or delete them for
good (the decision point decides each record again on use)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.exceptions import ContactEmailTaken, RecordNotInTrash
from crm.selectors.activities import user_names
from crm.selectors.trash import TRASH_TYPES, trash_entries, trash_list, trashed_record
from crm.services.trash import TRASH_DAYS, Trashable, record_purge, record_restore
from iam import authz
from iam.authz.guards import requires

PAGE_SIZE = 25
# The pages of each kind of record, by the trash's type names.
DETAIL_URLS = {
    "contact": "crm:contact_detail",
    "company": "crm:company_detail",
    "lead": "crm:lead_detail",
    "deal": "crm:deal_detail",
}
KIND_LABELS = {"contact": "Contact", "company": "Company", "lead": "Lead", "deal": "Deal"}


def _record(request: HttpRequest, kind: str, pk: int) -> Trashable:
    """The trashed record, if the member may delete it (and so restore or purge it); one
    they may not view is as missing as one not in the trash."""
    principal = authz.principal_for_request(request)
    record = trashed_record(principal=principal, kind=kind, pk=pk)
    if record is None:
        raise Http404("Nothing in the trash has this id.")
    authz.require(principal, "delete", record=record)
    return record


@login_required
@requires("member")
def trash_page(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("type", "")
    if kind not in TRASH_TYPES:
        kind = ""
    listed = trash_list(principal=authz.principal_for_request(request), kind=kind)
    page = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    entries = trash_entries(page.object_list)
    names = user_names(e.deleted_by_id for e in entries)
    rows = [
        {"entry": e, "label": KIND_LABELS[e.type], "by": names.get(e.deleted_by_id or 0, "")}
        for e in entries
    ]
    return render(
        request,
        "crm/trash/list.html",
        {
            "page": page,
            "rows": rows,
            "kind": kind,
            "kinds": [(k, KIND_LABELS[k]) for k in TRASH_TYPES],
            "may_purge": True,  # every record listed is one the member may delete
            "trash_days": TRASH_DAYS,
            "trash_days_text": f"{TRASH_DAYS} days",
        },
    )


def _back(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("type", "")
    url = reverse("crm:trash")
    return redirect(f"{url}?type={kind}" if kind in TRASH_TYPES else url)


@login_required
@requires("member")
@require_POST
def trash_restore(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Restore a trashed record; a contact whose e-mail address was taken meanwhile stays
    in the trash, and the page says why."""
    record = _record(request, kind, pk)
    try:
        record_restore(record=record, by=request.user)
    except ContactEmailTaken as exc:
        messages.error(
            request, f"{record} can't be restored: {exc.detail} Change one address first."
        )
        return _back(request)
    except RecordNotInTrash:
        raise Http404("Nothing in the trash has this id.") from None
    messages.success(request, f"{KIND_LABELS[kind]} {record} restored.")
    return redirect(DETAIL_URLS[kind], pk=record.pk)


@login_required
@requires("member")
@require_POST
def trash_purge_page(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Delete a trashed record for good at once (whoever may delete it)."""
    record = _record(request, kind, pk)
    record_purge(record=record, by=request.user)
    messages.success(request, f"{KIND_LABELS[kind]} {record} deleted for good.")
    return _back(request)
