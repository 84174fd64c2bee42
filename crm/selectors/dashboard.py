"""Reads of the dashboard: what a sales manager looks at, each figure aggregated in the
database, in a fixed number of statements whatever the organization holds."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.db.models import Count, F, Model, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Least
from django.utils import timezone

from crm.models import Activity, Company, Contact, Deal, Lead, Pipeline, Stage
from crm.selectors.activities import ON_LIVE_RECORD, day_bounds, user_names
from iam import authz

# Lead scores are shown in five bands of 20 points (the last one 80-100).
SCORE_BAND = 20
SCORE_BANDS = 5
NEW_LEADS_DAYS = 30
RECENT_ACTIVITIES = 8

_R = TypeVar("_R", bound=Model)
_RECORD_TYPES: dict[type[Model], str] = {
    Contact: "contact",
    Company: "company",
    Deal: "deal",
    Lead: "lead",
    Activity: "activity",
}


@dataclass(frozen=True)
class StageValue:
    """One open stage of the pipeline: its deals' count and value, per currency."""

    stage: Stage
    count: int
    totals: dict[str, Decimal]

    def total_in(self, currency: str) -> Decimal:
        return self.totals.get(currency, Decimal(0))


@dataclass(frozen=True)
class MonthWon:
    """Deals won in one calendar month: how many and their value per currency."""

    starts_on: dt.date
    ends_on: dt.date  # the month's last day
    count: int
    totals: dict[str, Decimal]

    def total_in(self, currency: str) -> Decimal:
        return self.totals.get(currency, Decimal(0))


@dataclass(frozen=True)
class SourceCount:
    source: str  # "" when the lead's source is not known
    label: str
    count: int


@dataclass(frozen=True)
class ScoreBand:
    low: int
    high: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.low}–{self.high}"


@dataclass(frozen=True)
class Dashboard:
    counts: dict[str, int]
    currency: str  # the currency most of the organization's deals use
    other_currencies: list[str]
    pipeline: Pipeline | None
    stages: list[StageValue]
    last_month: MonthWon
    this_month: MonthWon
    overdue_tasks: int
    tasks_due_today: int
    leads_by_source: list[SourceCount]
    score_bands: list[ScoreBand]
    recent: list[Activity]
    names: dict[int, str] = field(default_factory=dict)

    @property
    def has_deals(self) -> bool:
        return self.counts["deals"] > 0


def _of(model: type[_R], principal: authz.Principal | None) -> QuerySet[_R]:
    """The records of `model` the figures count: with a `principal`, only those they may
    view (roles, ownership, teams, shares), in the query; without, every one."""
    records = model._default_manager.all()
    if principal is None:
        return records
    return authz.visible(records, principal, _RECORD_TYPES[model])


def dashboard_counts(*, principal: authz.Principal | None = None) -> dict[str, int]:
    """How many contacts, companies, deals and leads the organization has (with a
    `principal`, of those they may view)."""
    return {
        "contacts": _of(Contact, principal).count(),
        "companies": _of(Company, principal).count(),
        "deals": _of(Deal, principal).count(),
        "leads": _of(Lead, principal).count(),
    }


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _months(now: dt.datetime, tz: dt.tzinfo) -> tuple[dt.date, dt.date, dt.date]:
    """The first days of last month, this month and next month, in `tz`."""
    this = _month_start(now.astimezone(tz).date())
    last = _month_start(this - dt.timedelta(days=1))
    following = _month_start(this + dt.timedelta(days=32))
    return last, this, following


def _at_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def _won(
    now: dt.datetime, tz: dt.tzinfo, principal: authz.Principal | None
) -> tuple[MonthWon, MonthWon]:
    """Deals won last month and this month (by when they reached a won stage)."""
    last, this, following = _months(now, tz)
    this_from = _at_midnight(this, tz)
    rows = (
        _of(Deal, principal)
        .filter(
            stage__is_won=True,
            closed_at__gte=_at_midnight(last, tz),
            closed_at__lt=_at_midnight(following, tz),
        )
        .annotate(is_this_month=Q(closed_at__gte=this_from))
        .values("is_this_month", "currency")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    )
    counts = {False: 0, True: 0}
    totals: dict[bool, dict[str, Decimal]] = {False: {}, True: {}}
    for row in rows:
        counts[row["is_this_month"]] += row["n"]
        totals[row["is_this_month"]][row["currency"]] = row["total"]
    day = dt.timedelta(days=1)
    return (
        MonthWon(last, this - day, counts[False], totals[False]),
        MonthWon(this, following - day, counts[True], totals[True]),
    )


def _pipeline_stages(
    pipeline: Pipeline | None, principal: authz.Principal | None
) -> list[StageValue]:
    """The pipeline's open stages in order, each with its deals' count and value per currency
    (the stages come prefetched with the pipeline; one statement for the sums)."""
    if pipeline is None:
        return []
    stages = [s for s in pipeline.stages.all() if not (s.is_won or s.is_lost or s.is_archived)]
    counts: dict[int, int] = defaultdict(int)
    totals: dict[int, dict[str, Decimal]] = defaultdict(dict)
    rows = (
        _of(Deal, principal)
        .filter(stage_id__in=[s.pk for s in stages])
        .values("stage_id", "currency")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    )
    for row in rows:
        counts[row["stage_id"]] += row["n"]
        totals[row["stage_id"]][row["currency"]] = row["total"]
    return [StageValue(stage=s, count=counts[s.pk], totals=totals[s.pk]) for s in stages]


def _leads_by_source(now: dt.datetime, principal: authz.Principal | None) -> list[SourceCount]:
    """Leads created in the last 30 days, by source, the most frequent first."""
    labels = dict(Lead.Source.choices)
    rows = (
        _of(Lead, principal)
        .filter(created_at__gte=now - dt.timedelta(days=NEW_LEADS_DAYS))
        .values("source")
        .annotate(n=Count("id"))
        .order_by("-n", "source")
    )
    return [
        SourceCount(
            source=row["source"], label=labels.get(row["source"], "Not known"), count=row["n"]
        )
        for row in rows
    ]


def _score_bands(principal: authz.Principal | None) -> list[ScoreBand]:
    """Open leads (neither converted nor disqualified) by score, in bands of 20 points."""
    rows = (
        _of(Lead, principal)
        .filter(converted_at__isnull=True)
        .exclude(status=Lead.Status.DISQUALIFIED)
        .annotate(band=Least(F("score") / SCORE_BAND, SCORE_BANDS - 1))
        .values("band")
        .annotate(n=Count("id"))
        .order_by()
    )
    found = {row["band"]: row["n"] for row in rows}
    return [
        ScoreBand(
            low=band * SCORE_BAND,
            high=100 if band == SCORE_BANDS - 1 else (band + 1) * SCORE_BAND - 1,
            count=found.get(band, 0),
        )
        for band in range(SCORE_BANDS)
    ]


def _currencies(principal: authz.Principal | None) -> list[str]:
    """The currencies of the organization's deals, the most used first."""
    rows = (
        _of(Deal, principal).values("currency").annotate(n=Count("id")).order_by("-n", "currency")
    )
    return [row["currency"] for row in rows]


def dashboard(
    *,
    user: Any,
    now: dt.datetime | None = None,
    tz: dt.tzinfo | None = None,
    principal: authz.Principal | None = None,
) -> Dashboard:
    """Everything the dashboard shows for `user`, in a fixed number of statements. Amounts are
    never added across currencies: charts show the organization's most used currency and the
    others are listed beside them. Months and days are those of `tz` (by default the active
    time zone). With a `principal`, every figure counts only the records they may view, each
    narrowed in its own statement."""
    now = now or timezone.now()
    tz = tz or timezone.get_current_timezone()
    counts = dashboard_counts(principal=principal)
    currencies = _currencies(principal)
    pipeline = (
        Pipeline.objects.filter(is_archived=False)
        .prefetch_related(Prefetch("stages", queryset=Stage.objects.order_by("position", "id")))
        .order_by("-is_default", "name", "id")
        .first()
    )
    last_month, this_month = _won(now, tz, principal)
    _, day_ends = day_bounds(now, tz)
    # Activities of records in the trash wait with them, out of sight.
    tasks = (
        _of(Activity, principal)
        .filter(ON_LIVE_RECORD, kind=Activity.Kind.TASK, assignee_id=user.pk, is_done=False)
        .aggregate(
            overdue=Count("id", filter=Q(due_at__lt=now)),
            today=Count("id", filter=Q(due_at__gte=now, due_at__lt=day_ends)),
        )
    )
    recent = list(
        _of(Activity, principal)
        .filter(ON_LIVE_RECORD)
        .select_related("contact", "company", "lead", "deal")
        .order_by("-created_at", "-id")[:RECENT_ACTIVITIES]
    )
    return Dashboard(
        counts=counts,
        currency=currencies[0] if currencies else "",
        other_currencies=currencies[1:],
        pipeline=pipeline,
        stages=_pipeline_stages(pipeline, principal),
        last_month=last_month,
        this_month=this_month,
        overdue_tasks=tasks["overdue"],
        tasks_due_today=tasks["today"],
        leads_by_source=_leads_by_source(now, principal),
        score_bands=_score_bands(principal),
        recent=recent,
        names=user_names(a.created_by_id for a in recent),
    )
