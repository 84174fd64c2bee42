"""Reads of leads, from the current tenant's schema."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from crm.models import Lead
from crm.selectors.search import search_filter
from iam import authz

# ?ordering= values and the columns they sort by; a leading "-" reverses.
LEAD_ORDERINGS: dict[str, tuple[str, ...]] = {
    "created": ("created_at", "id"),
    "name": ("last_name", "first_name", "id"),
    "status": ("status", "created_at", "id"),
    "score": ("score", "created_at", "id"),
}
LEAD_ORDERING_DEFAULT = "-created"


@dataclass(frozen=True)
class LeadFilters:
    """What a list of leads is narrowed to; empty values don't narrow it."""

    status: str = ""
    source: str = ""
    owner_id: int | None = None
    mine_of: int | None = None  # the user whose leads "mine" means
    tag: str = ""
    created_after: dt.date | None = None
    created_before: dt.date | None = None
    q: str = ""


def lead_ordering(value: str) -> tuple[str, ...]:
    """The columns of an ordering (`name`, `-created`, ...); ValueError for an unknown one."""
    key = value.removeprefix("-")
    if key not in LEAD_ORDERINGS:
        raise ValueError(value)
    columns = LEAD_ORDERINGS[key]
    return tuple(f"-{c}" for c in columns) if value.startswith("-") else columns


def lead_list(
    *,
    filters: LeadFilters | None = None,
    ordering: str = "",
    principal: authz.Principal | None = None,
) -> QuerySet[Lead]:
    """Leads matching `filters`, in `ordering` (newest first by default). `q` finds names and
    company names by substring and, since e-mail addresses and phone numbers are encrypted,
    those only exactly (through blind indexes). With a `principal`, only the leads they may
    view, in the query; without, every lead (the caller decided already)."""
    f = filters or LeadFilters()
    qs = Lead.objects.all()
    if principal is not None:
        qs = authz.visible(qs, principal, "lead")
    if f.status:
        qs = qs.filter(status=f.status)
    if f.source:
        qs = qs.filter(source=f.source)
    if f.owner_id is not None:
        qs = qs.filter(owner_id=f.owner_id)
    if f.mine_of is not None:
        qs = qs.filter(owner_id=f.mine_of)
    if f.tag:
        qs = qs.filter(tags__name__iexact=f.tag)
    if f.created_after is not None:
        qs = qs.filter(created_at__date__gte=f.created_after)
    if f.created_before is not None:
        qs = qs.filter(created_at__date__lte=f.created_before)
    if f.q:
        # As the search box finds leads (crm.selectors.search).
        qs = search_filter(qs, f.q)
    return qs.order_by(*lead_ordering(ordering or LEAD_ORDERING_DEFAULT))


def lead_get(*, pk: int, principal: authz.Principal | None = None) -> Lead:
    """One lead with what it was converted into (Lead.DoesNotExist when there is none, or,
    with a `principal`, when they may not view it)."""
    qs = Lead.objects.select_related("converted_contact", "converted_company", "converted_deal")
    if principal is not None:
        qs = authz.visible(qs, principal, "lead")
    return qs.get(pk=pk)
