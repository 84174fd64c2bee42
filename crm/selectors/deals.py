"""Reads of pipelines, stages and deals: lists with their filters, and the pipeline board."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from crm.models import Company, Deal, DealContact, DealStageChange, Pipeline, Stage
from crm.selectors.search import search_filter
from iam import authz

DEAL_ORDERINGS = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "amount": ("amount", "id"),
    "-amount": ("-amount", "-id"),
    "expected_close_on": ("expected_close_on", "id"),
    "-expected_close_on": ("-expected_close_on", "-id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
}


@dataclass(frozen=True)
class DealFilters:
    """What a deal list may be narrowed by; every field optional."""

    pipeline: int | None = None
    stage: int | None = None
    owner: int | None = None
    tag: str = ""
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    close_from: dt.date | None = None
    close_to: dt.date | None = None
    company: int | None = None
    contact: int | None = None
    search: str = ""
    outcome: str = ""  # "won", "lost" or "open": the kind of stage the deal is in
    closed_from: dt.date | None = None  # when it reached a won or lost stage
    closed_to: dt.date | None = None


def pipeline_list(*, include_archived: bool = False) -> QuerySet[Pipeline]:
    """Pipelines, the default first, each with its stages (archived ones too) in order."""
    qs = Pipeline.objects.prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("position", "id"))
    )
    if not include_archived:
        qs = qs.filter(is_archived=False)
    return qs.order_by("-is_default", "name", "id")


def stage_list(*, pipeline: int | None = None) -> QuerySet[Stage]:
    qs = Stage.objects.all()
    if pipeline is not None:
        qs = qs.filter(pipeline_id=pipeline)
    return qs.order_by("pipeline_id", "position", "id")


def deal_list(
    *,
    filters: DealFilters | None = None,
    ordering: str = "",
    principal: authz.Principal | None = None,
    action: str = "view",
) -> QuerySet[Deal]:
    """Deals matching `filters`, newest first unless `ordering` (a key of DEAL_ORDERINGS)
    says otherwise; with their stage, pipeline, contacts and tags read in a fixed number of
    statements. Callers that show the company add `select_related("company")`.

    With a `principal`, only the deals they may take `action` on (their roles' scope,
    teams, shares), in the query itself; without, every deal (the caller decided already)."""
    f = filters or DealFilters()
    qs = (
        _visible(Deal.objects.all(), principal, action)
        .select_related("stage", "pipeline")
        .prefetch_related(
            Prefetch(
                "deal_contacts",
                # A trashed contact is off its deals until it is restored.
                queryset=DealContact.objects.filter(contact__deleted_at__isnull=True)
                .select_related("contact")
                .order_by("-is_primary", "contact__first_name", "contact__last_name", "id"),
            ),
            "tags",
        )
    )
    if f.pipeline is not None:
        qs = qs.filter(pipeline_id=f.pipeline)
    if f.stage is not None:
        qs = qs.filter(stage_id=f.stage)
    if f.owner is not None:
        qs = qs.filter(owner_id=f.owner)
    if f.tag:
        qs = qs.filter(tags__name__iexact=f.tag)
    if f.amount_min is not None:
        qs = qs.filter(amount__gte=f.amount_min)
    if f.amount_max is not None:
        qs = qs.filter(amount__lte=f.amount_max)
    if f.close_from is not None:
        qs = qs.filter(expected_close_on__gte=f.close_from)
    if f.close_to is not None:
        qs = qs.filter(expected_close_on__lte=f.close_to)
    if f.company is not None:
        qs = qs.filter(company_id=f.company)
    if f.contact is not None:
        qs = qs.filter(deal_contacts__contact_id=f.contact)
    if f.outcome == "won":
        qs = qs.filter(stage__is_won=True)
    elif f.outcome == "lost":
        qs = qs.filter(stage__is_lost=True)
    elif f.outcome == "open":
        qs = qs.filter(stage__is_won=False, stage__is_lost=False)
    if f.closed_from is not None:
        qs = qs.filter(closed_at__date__gte=f.closed_from)
    if f.closed_to is not None:
        qs = qs.filter(closed_at__date__lte=f.closed_to)
    if f.search:
        # As the search box finds deals and companies (crm.selectors.search).
        named = search_filter(Deal.objects.all(), f.search).values("pk")
        companies = search_filter(Company.objects.all(), f.search).values("pk")
        qs = qs.filter(Q(pk__in=named) | Q(company_id__in=companies))
    return qs.order_by(*DEAL_ORDERINGS.get(ordering, DEAL_ORDERINGS["-created_at"]))


def deal_get(pk: int, *, principal: authz.Principal | None = None) -> Deal | None:
    """One deal as its page shows it; None when missing or, with a `principal`, when they
    may not view it."""
    return deal_list(principal=principal).select_related("company").filter(pk=pk).first()


def _visible(
    qs: QuerySet[Deal], principal: authz.Principal | None, action: str = "view"
) -> QuerySet[Deal]:
    return qs if principal is None else authz.visible(qs, principal, "deal", action)


def deal_stage_changes(deal: Deal) -> QuerySet[DealStageChange]:
    """A deal's moves between stages, the latest first."""
    return DealStageChange.objects.filter(deal=deal).order_by("-changed_at", "-id")


@dataclass
class BoardColumn:
    stage: Stage
    deals: list[Deal] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.deals)

    @property
    def totals_shown(self) -> list[tuple[str, Decimal]]:
        return sorted(self.totals.items())


def board_columns(
    *,
    pipeline: Pipeline,
    owner: int | None = None,
    close_from: dt.date | None = None,
    close_to: dt.date | None = None,
    tag: str = "",
    principal: authz.Principal | None = None,
) -> list[BoardColumn]:
    """The pipeline's open stages in order, each with its deals (in card order) and their
    count and total value per currency. One statement for the stages and one for every card
    with its company, whatever the number of deals. With a `principal`, only the deals they
    may view are on the board and in its totals."""
    columns = {
        stage.pk: BoardColumn(stage=stage)
        for stage in Stage.objects.filter(pipeline=pipeline, is_archived=False).order_by(
            "position", "id"
        )
    }
    deals = _visible(Deal.objects.all(), principal).filter(
        pipeline=pipeline, stage_id__in=list(columns)
    )
    deals = deals.select_related("company")
    if owner is not None:
        deals = deals.filter(owner_id=owner)
    if close_from is not None:
        deals = deals.filter(expected_close_on__gte=close_from)
    if close_to is not None:
        deals = deals.filter(expected_close_on__lte=close_to)
    if tag:
        deals = deals.filter(tags__name__iexact=tag)
    for deal in deals.order_by("stage_id", "position", "id"):
        column = columns[deal.stage_id]
        column.deals.append(deal)
        column.totals[deal.currency] = column.totals.get(deal.currency, Decimal(0)) + deal.amount
    return list(columns.values())
