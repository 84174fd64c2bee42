"""What the contact, company, lead and deal lists share: the columns a member shows, saved
views (named filters, sort and columns; a member's own or shared), owner filters, sortable
column heads, and bulk actions on the rows ticked (give to an owner, add a tag, delete)."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from crm.models import SavedView
from crm.selectors.saved_views import (
    LIST_COLUMNS,
    LIST_PARAMETERS,
    list_columns_of,
    saved_view_get,
    saved_view_list,
)
from crm.services.bulk import records_bulk_get, records_delete, records_owner_set, records_tag_add
from crm.services.saved_views import (
    list_columns_remember,
    saved_view_create,
    saved_view_delete,
)
from iam import authz
from iam.authz.guards import requires
from iam.selectors import member_list
from problems.exceptions import DomainError, InvalidFields

LIST_URLS = {
    SavedView.Records.CONTACTS: "crm:contact_list",
    SavedView.Records.COMPANIES: "crm:company_list",
    SavedView.Records.LEADS: "crm:lead_list",
    SavedView.Records.DEALS: "crm:deal_list",
}
NOUNS = {
    SavedView.Records.CONTACTS: ("contact", "contacts"),
    SavedView.Records.COMPANIES: ("company", "companies"),
    SavedView.Records.LEADS: ("lead", "leads"),
    SavedView.Records.DEALS: ("deal", "deals"),
}
BULK_MAX = 100  # the rows of a page, and then some


def member_names(request: HttpRequest) -> dict[int, str]:
    """The organization's members by user id, by name (their e-mail address without one)."""
    tenant = request.tenant  # type: ignore[attr-defined]
    return {m.user_id: m.user.get_full_name() for m in member_list(tenant=tenant)}


@dataclass
class ListChrome:
    """What the shared parts of a list page show: the column picker, the saved views menu
    and the bulk bar."""

    records: str
    list_url: str
    columns: list[str]
    column_choices: list[tuple[str, str, bool]]
    views: list[tuple[SavedView, str]]  # each with its link
    view: SavedView | None
    members: dict[int, str]
    query: str  # the list's filters and sort as now, without page or view
    user_id: int
    singular: str = ""
    plural: str = ""
    shown: dict[str, bool] = field(default_factory=dict)

    @property
    def page_query(self) -> str:
        """The filters, sort and view of the list as now, for links to its other pages."""
        view = f"view={self.view.pk}" if self.view else ""
        return "&".join(part for part in (self.query, view) if part)

    @property
    def next_url(self) -> str:
        query = self.page_query
        return f"{self.list_url}?{query}" if query else self.list_url


def list_chrome(request: HttpRequest, records: str, members: dict[int, str]) -> ListChrome:
    """The list's columns (a saved view's when one is picked, else the member's choice),
    views, and its current filters, from the request."""
    user_id: int = request.user.pk  # type: ignore[assignment]
    view = None
    raw_view = request.GET.get("view", "")
    if raw_view.isdigit():
        view = saved_view_get(user_id=user_id, pk=int(raw_view))
        if view is not None and view.records != records:
            view = None
    known = [key for key, _ in LIST_COLUMNS[records]]
    columns = (
        [c for c in known if c in view.columns]
        if view is not None
        else list_columns_of(user_id=user_id, records=records)
    )
    allowed = LIST_PARAMETERS[records]
    query = QueryDict(mutable=True)
    for key in sorted(allowed):
        value = request.GET.get(key, "").strip()
        if value:
            query[key] = value
    singular, plural = NOUNS[records]  # type: ignore[index]
    return ListChrome(
        records=records,
        list_url=reverse(LIST_URLS[records]),  # type: ignore[index]
        columns=columns,
        column_choices=[(key, label, key in columns) for key, label in LIST_COLUMNS[records]],
        views=[
            (v, f"{reverse(LIST_URLS[records])}?{urlencode({**v.query, 'view': v.pk})}")  # type: ignore[index]
            for v in saved_view_list(user_id=user_id, records=records)
        ],
        view=view,
        members=members,
        query=query.urlencode(),
        user_id=user_id,
        singular=singular,
        plural=plural,
        shown={key: key in columns for key in known},
    )


def owner_filtered(qs: QuerySet[Any], request: HttpRequest) -> QuerySet[Any]:
    """The records of the owner the list asks for (`owner`, a user id), or the member's own
    (`mine`). Anything else in `owner` filters nothing."""
    if request.GET.get("mine"):
        return qs.filter(owner_id=request.user.pk)
    owner = request.GET.get("owner", "")
    if owner.isdigit() and len(owner) < 19:
        return qs.filter(owner_id=int(owner))
    return qs


def ordered(
    qs: QuerySet[Any], orderings: Mapping[str, tuple[str, ...]], ordering: str
) -> tuple[QuerySet[Any], str]:
    """The records sorted by a key of `orderings` (`-key` reversed), and the key used ("" when
    none or unknown: the list's own order). Empty values sort last either way."""
    key = ordering.removeprefix("-")
    if key not in orderings:
        return qs, ""
    descending = ordering.startswith("-")
    fields = [
        F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True)
        for name in orderings[key]
    ]
    return qs.order_by(*fields, "-id" if descending else "id"), ordering


@dataclass(frozen=True)
class SortHead:
    """A sortable column head: where it links, and how the list is sorted by it now."""

    link: str
    aria: str  # aria-sort: ascending, descending or none
    arrow: str


def sort_heads(
    request: HttpRequest, keys: Any, current: str, *, largest_first: Any = ()
) -> dict[str, SortHead]:
    """For each sortable column, the list's URL sorted by it (reversed when it already is),
    filters kept. Columns in `largest_first` (a score) sort from the top on the first click."""
    heads = {}
    for key in keys:
        query = request.GET.copy()
        query.pop("page", None)
        if key in largest_first:
            query["ordering"] = key if current == f"-{key}" else f"-{key}"
        else:
            query["ordering"] = f"-{key}" if current == key else key
        aria, arrow = (
            ("ascending", " ↑")
            if current == key
            else ("descending", " ↓")
            if current == f"-{key}"
            else ("none", "")
        )
        heads[key] = SortHead(link=f"?{query.urlencode()}", aria=aria, arrow=arrow)
    return heads


def _records_of(records: str) -> str:
    if records not in LIST_URLS:
        raise Http404("No such list.")
    return records


def _back(request: HttpRequest, records: str, *, leave_view: bool = False) -> HttpResponse:
    """To the list the form was sent from (its filters kept), else the list itself; without
    the saved view picked when `leave_view` (the member's own columns then show)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        if leave_view:
            path, _, query = target.partition("?")
            kept = QueryDict(query, mutable=True)
            kept.pop("view", None)
            target = f"{path}?{kept.urlencode()}" if kept else path
        return redirect(target)
    return redirect(LIST_URLS[records])  # type: ignore[index]


def _flash_errors(request: HttpRequest, exc: DomainError) -> None:
    notes = [n for notes in exc.field_errors().values() for n in notes] or [exc.detail]
    messages.error(request, " ".join(dict.fromkeys(notes)))


@login_required
@requires("member")  # a member's own columns
@require_POST
def list_columns(request: HttpRequest, records: str) -> HttpResponse:
    """Remember the columns the member ticked for the list."""
    records = _records_of(records)
    list_columns_remember(by=request.user, records=records, columns=request.POST.getlist("columns"))
    return _back(request, records, leave_view=True)


@login_required
@requires("member")  # a member's own views; the lists narrow what each shows
@require_POST
def list_view_save(request: HttpRequest, records: str) -> HttpResponse:
    """Save the list's current filters, sort and columns as a named view."""
    records = _records_of(records)
    query = QueryDict(request.POST.get("query", ""))
    try:
        view = saved_view_create(
            by=request.user,
            records=records,
            name=request.POST.get("name", ""),
            query={k: query.get(k, "") for k in query if k in LIST_PARAMETERS[records]},
            columns=request.POST.getlist("columns") if "columns" in request.POST else None,
            is_shared=bool(request.POST.get("is_shared")),
        )
    except DomainError as exc:
        _flash_errors(request, exc)
        return _back(request, records)
    messages.success(request, f"View “{view.name}” saved.")
    target = urlencode({**view.query, "view": view.pk})
    return redirect(f"{reverse(LIST_URLS[records])}?{target}")  # type: ignore[index]


@login_required
@requires("member")  # only the member's own views are found
@require_POST
def list_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of the member's views."""
    view = saved_view_get(user_id=request.user.pk, pk=pk)  # type: ignore[arg-type]
    if view is None:
        raise Http404("No such view.")
    try:
        saved_view_delete(view=view, by=request.user)
    except DomainError as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, f"View “{view.name}” deleted.")
    return redirect(LIST_URLS[view.records])  # type: ignore[index]


@login_required
@requires("member")
@require_POST
def list_bulk(request: HttpRequest, records: str) -> HttpResponse:
    """Apply one action to the rows ticked: give them to an owner, add a tag, or delete
    them (all or nothing). Each row is decided for the member first (`crm.services.bulk`):
    one they may not change refuses the whole action, with the reason."""
    records = _records_of(records)
    singular, plural = NOUNS[records]  # type: ignore[index]
    principal = authz.principal_for_request(request)
    raw = [v for v in request.POST.getlist("ids") if v.isdigit() and len(v) < 19][:BULK_MAX]
    found = records_bulk_get(records=records, ids=[int(v) for v in raw], principal=principal)
    items = [found[int(v)] for v in dict.fromkeys(raw) if int(v) in found]
    if not items:
        messages.error(request, f"Tick the {plural} to change first.")
        return _back(request, records)
    action = request.POST.get("action", "")
    count = f"{len(items)} {singular if len(items) == 1 else plural}"
    try:
        if action == "owner":
            owner = request.POST.get("owner_id", "")
            owner_id = int(owner) if owner.isdigit() and len(owner) < 19 else None
            if owner and owner_id is None:
                raise InvalidFields({"owner_id": ["Choose a member of the organization."]})
            records_owner_set(
                records=records,
                items=items,
                owner_id=owner_id,
                by=request.user,
                principal=principal,
            )
            who = member_names(request).get(owner_id or 0, "nobody")
            messages.success(request, f"{count} given to {who}.")
        elif action == "tag":
            tag = request.POST.get("tag", "")
            added = records_tag_add(
                records=records, items=items, name=tag, by=request.user, principal=principal
            )
            messages.success(request, f"Tag “{' '.join(tag.split())}” added to {added} of {count}.")
        elif action == "delete":
            records_delete(records=records, items=items, by=request.user, principal=principal)
            messages.success(request, f"{count} deleted.")
        else:
            messages.error(request, "Choose what to do with the ticked rows.")
    except DomainError as exc:
        _flash_errors(request, exc)
    return _back(request, records)
