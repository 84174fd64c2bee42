"""Reads of the Finance page: monthly revenue figures, and the subscription and invoice lists.

Every figure is computed from `SubscriptionChange` rows only. Each row carries the
organization's monthly recurring revenue (MRR) after the change, in minor units, and its
currency, so a month's figures never move when a price is edited later.

Definitions (months are calendar months in UTC; a month's end is the first instant of the
next month, and a change at that instant belongs to the next month):

- MRR of an organization at a month's end: the `mrr` of its last change before that instant,
  in that change's currency. MRR is reported per currency and never summed across currencies.
  ARR is MRR x 12.
- Movements compare each organization's MRR at the month's start with its MRR at the end:
  new: 0 at the start, more than 0 at the end (a first payment, or a return after churn);
  expansion / contraction: more than 0 at both ends, higher / lower at the end;
  churn: more than 0 at the start, 0 at the end.
  An organization that moves to another currency churns in the old one and is new in the new
  one. Net new MRR = new + expansion - contraction - churn.
- Logo churn: paying organizations lost in the month / paying organizations at its start.
- Revenue churn: (churn + contraction) / MRR at the month's start, per currency.
- ARPA: MRR / paying organizations at the month's end, per currency.
- Trial conversion: a trial (a `trial_started` change) ends at the organization's first later
  change that is no longer a trial; it converted when that change pays (MRR above 0). Of the
  trials that ended in the month, the share that converted.
- Failed payments recovered: a failed payment (a `payment_failed` change) is outstanding until
  the organization's first later `payment_recovered` change (recovered) or canceled change
  (lost). Of the failed payments outstanding in the month (failed before the month and still
  outstanding at its start, or failed in it), the share recovered in the month.

By plan: MRR and paying organizations at each month's end by the plan of the last change;
new, expansion and contraction count for the plan at the month's end, churn for the plan at
its start.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from billing.models import Invoice, Plan, Subscription, SubscriptionChange

# The longest range the page computes at once.
MAX_MONTHS = 36


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_add(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_instant(day: dt.date) -> dt.datetime:
    """The first instant of the month of `day`, in UTC."""
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)


def default_months(*, now: dt.datetime | None = None, count: int = 12) -> tuple[dt.date, dt.date]:
    """The last `count` months, the current (UTC) month included: (first, last)."""
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    last = month_start(today)
    return month_add(last, -(count - 1)), last


def _ratio(part: int, whole: int) -> Decimal | None:
    """`part / whole` as a percentage with one decimal; None when there is no whole."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


@dataclass(kw_only=True)
class _Revenue:
    """MRR at a month's end, the paying organizations behind it and the month's movements
    (amounts in minor units)."""

    month: dt.date
    currency: str
    mrr: int = 0
    paying: int = 0
    new: int = 0
    expansion: int = 0
    contraction: int = 0
    churn: int = 0

    @property
    def arr(self) -> int:
        return self.mrr * 12

    @property
    def net_new(self) -> int:
        return self.new + self.expansion - self.contraction - self.churn

    @property
    def arpa(self) -> int | None:
        """MRR per paying organization, rounded to the minor unit."""
        return round(self.mrr / self.paying) if self.paying else None


@dataclass(kw_only=True)
class CurrencyMonth(_Revenue):
    """One month's revenue figures in one currency."""

    mrr_at_start: int = 0
    paying_at_start: int = 0

    @property
    def revenue_churn(self) -> Decimal | None:
        return _ratio(self.churn + self.contraction, self.mrr_at_start)


@dataclass(kw_only=True)
class PlanMonth(_Revenue):
    """One plan's figures in one currency at one month's end."""

    plan_id: int


@dataclass
class Month:
    """What does not depend on a currency: organizations, trials and failed payments."""

    month: dt.date
    paying: int = 0
    paying_at_start: int = 0
    churned_organizations: int = 0
    trials_ended: int = 0
    trials_converted: int = 0
    payments_failed: int = 0
    payments_outstanding: int = 0
    payments_recovered: int = 0

    @property
    def logo_churn(self) -> Decimal | None:
        return _ratio(self.churned_organizations, self.paying_at_start)

    @property
    def trial_conversion(self) -> Decimal | None:
        return _ratio(self.trials_converted, self.trials_ended)

    @property
    def recovery_rate(self) -> Decimal | None:
        return _ratio(self.payments_recovered, self.payments_outstanding)


@dataclass
class FinanceFigures:
    """The Finance page's figures over a range of months."""

    months: list[dt.date]
    currencies: list[str]
    # {currency: [CurrencyMonth for each month]}
    by_currency: dict[str, list[CurrencyMonth]] = field(default_factory=dict)
    # {currency: {plan: [PlanMonth for each month]}}
    by_plan: dict[str, dict[Plan, list[PlanMonth]]] = field(default_factory=dict)
    overall: list[Month] = field(default_factory=list)


# Each organization's state at the end of each month it changed in; its state at the start of
# that month is its end state of the previous month it changed in. Movements happen only in
# those months, so the work grows with the changes, not with organizations x months. Each
# movement becomes an "out" leg (what the organization paid at the start, taken away from its
# start currency and plan) and an "in" leg (what it pays at the end, added to its end currency
# and plan); MRR at a month's end is the running sum of the legs up to it.
_MOVEMENTS_SQL = """
WITH ends AS (
    SELECT DISTINCT ON (organization_id, month)
        organization_id,
        date_trunc('month', effective_at AT TIME ZONE 'UTC')::date AS month,
        mrr, currency, plan_id
    FROM billing_subscriptionchange
    WHERE effective_at < %(until)s
    ORDER BY organization_id, month, effective_at DESC, id DESC
),
moves AS (
    SELECT month, mrr AS e, currency AS e_cur, plan_id AS e_plan,
        coalesce(lag(mrr) OVER w, 0) AS s,
        lag(currency) OVER w AS s_cur,
        lag(plan_id) OVER w AS s_plan
    FROM ends
    WINDOW w AS (PARTITION BY organization_id ORDER BY month)
),
legs AS (
    SELECT month, s_cur AS currency, s_plan AS plan_id,
        -s AS mrr, -1 AS paying,
        CASE WHEN e = 0 OR e_cur <> s_cur THEN s ELSE 0 END AS churn,
        CASE WHEN e = 0 THEN 1 ELSE 0 END AS lost,
        0 AS new, 0 AS gained, 0 AS expansion, 0 AS contraction
    FROM moves WHERE s > 0
    UNION ALL
    SELECT month, e_cur, e_plan,
        e, 1,
        0, 0,
        CASE WHEN s = 0 OR e_cur <> s_cur THEN e ELSE 0 END,
        CASE WHEN s = 0 THEN 1 ELSE 0 END,
        CASE WHEN s > 0 AND e_cur = s_cur AND e > s THEN e - s ELSE 0 END,
        CASE WHEN s > 0 AND e_cur = s_cur AND e < s THEN s - e ELSE 0 END
    FROM moves WHERE e > 0
)
SELECT month, currency, plan_id,
    sum(mrr), sum(paying), sum(new), sum(expansion), sum(contraction), sum(churn),
    sum(gained), sum(lost)
FROM legs
GROUP BY month, currency, plan_id
ORDER BY month
"""

# A trial ends at the organization's first later change that is not a trial.
_TRIALS_SQL = """
SELECT date_trunc('month', ended.effective_at AT TIME ZONE 'UTC')::date, count(*),
    count(*) FILTER (WHERE ended.mrr > 0)
FROM billing_subscriptionchange started
CROSS JOIN LATERAL (
    SELECT effective_at, mrr FROM billing_subscriptionchange later
    WHERE later.organization_id = started.organization_id
      AND (later.effective_at, later.id) > (started.effective_at, started.id)
      AND later.status <> 'trialing'
    ORDER BY later.effective_at, later.id
    LIMIT 1
) ended
WHERE started.kind = 'trial_started'
  AND ended.effective_at >= %(since)s AND ended.effective_at < %(until)s
GROUP BY 1
"""

# A failed payment is outstanding until the first later recovery or cancellation (a recovery
# at the same instant as a cancellation counts as recovered). Only the rows of failures,
# recoveries and cancellations are read, each organization's in time order.
_FAILED_SQL = """
WITH marks AS (
    SELECT kind, effective_at,
        min(effective_at) FILTER (WHERE kind = 'payment_recovered') OVER later AS recovered_at,
        min(effective_at) FILTER (WHERE status = 'canceled') OVER later AS canceled_at
    FROM billing_subscriptionchange
    WHERE (kind IN ('payment_failed', 'payment_recovered') OR status = 'canceled')
      AND effective_at < %(until)s
    WINDOW later AS (
        PARTITION BY organization_id ORDER BY effective_at, id
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
    )
),
episodes AS (
    SELECT effective_at AS failed_at,
        least(recovered_at, canceled_at) AS ended_at,
        recovered_at IS NOT NULL AND (canceled_at IS NULL OR recovered_at <= canceled_at)
            AS recovered
    FROM marks
    WHERE kind = 'payment_failed'
)
SELECT (m.starts_at AT TIME ZONE 'UTC')::date,
    count(*) FILTER (WHERE e.failed_at >= m.starts_at),
    count(*),
    count(*) FILTER (WHERE e.recovered AND e.ended_at < m.starts_at + interval '1 month')
FROM generate_series(%(since)s::timestamptz, %(last)s::timestamptz, interval '1 month')
    AS m(starts_at)
JOIN episodes e
  ON e.failed_at < m.starts_at + interval '1 month'
 AND (e.ended_at IS NULL OR e.ended_at >= m.starts_at)
GROUP BY 1
"""


def finance_figures(*, first: dt.date, last: dt.date) -> FinanceFigures:
    """The revenue figures of each month from `first` to `last` (both months included)."""
    first, last = month_start(first), month_start(last)
    months: list[dt.date] = []
    cursor_month = first
    while cursor_month <= last:
        months.append(cursor_month)
        cursor_month = month_add(cursor_month, 1)
    index = {month: i for i, month in enumerate(months)}
    since, until = month_instant(first), month_instant(month_add(last, 1))
    params = {"since": since, "until": until, "last": month_instant(last)}

    with connection.cursor() as cursor:
        cursor.execute(_MOVEMENTS_SQL, params)
        movements = cursor.fetchall()
        cursor.execute(_TRIALS_SQL, params)
        trials = cursor.fetchall()
        cursor.execute(_FAILED_SQL, params)
        failed = cursor.fetchall()

    overall = [Month(month=month) for month in months]
    by_currency: dict[str, list[CurrencyMonth]] = {}
    by_plan_id: dict[str, dict[int, list[PlanMonth]]] = defaultdict(dict)
    # Running totals: MRR and paying organizations per currency and per (currency, plan), and
    # paying organizations over all currencies.
    running: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    running_plan: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    paying_total = 0

    def currency_months(currency: str) -> list[CurrencyMonth]:
        if currency not in by_currency:
            by_currency[currency] = [CurrencyMonth(month=m, currency=currency) for m in months]
        return by_currency[currency]

    def plan_months(currency: str, plan_id: int) -> list[PlanMonth]:
        plans = by_plan_id[currency]
        if plan_id not in plans:
            plans[plan_id] = [
                PlanMonth(month=m, currency=currency, plan_id=plan_id) for m in months
            ]
        return plans[plan_id]

    of_month: dict[dt.date, list[tuple[Any, ...]]] = defaultdict(list)
    for month, *rest in movements:
        of_month[max(month, first - dt.timedelta(days=1))].append(tuple(rest))
    # Movements before the range only set where its first month starts from.
    for currency, plan_id, mrr, paying, *_, gained, lost in of_month.pop(
        first - dt.timedelta(days=1), []
    ):
        running[currency][0] += mrr
        running[currency][1] += paying
        running_plan[currency, plan_id][0] += mrr
        running_plan[currency, plan_id][1] += paying
        paying_total += gained - lost
    for i, month in enumerate(months):
        for currency, (mrr, paying) in running.items():
            row = currency_months(currency)[i]
            row.mrr_at_start, row.paying_at_start = mrr, paying
        overall[i].paying_at_start = paying_total
        for (
            currency,
            plan_id,
            mrr,
            paying,
            new,
            expansion,
            contraction,
            churn,
            gained,
            lost,
        ) in of_month.get(month, []):
            running[currency][0] += mrr
            running[currency][1] += paying
            running_plan[currency, plan_id][0] += mrr
            running_plan[currency, plan_id][1] += paying
            paying_total += gained - lost
            row = currency_months(currency)[i]
            row.new += new
            row.expansion += expansion
            row.contraction += contraction
            row.churn += churn
            plan_row = plan_months(currency, plan_id)[i]
            plan_row.new += new
            plan_row.expansion += expansion
            plan_row.contraction += contraction
            plan_row.churn += churn
            overall[i].churned_organizations += lost
        for currency, (mrr, paying) in running.items():
            row = currency_months(currency)[i]
            row.mrr, row.paying = mrr, paying
        for (currency, plan_id), (mrr, paying) in running_plan.items():
            plan_row = plan_months(currency, plan_id)[i]
            plan_row.mrr, plan_row.paying = mrr, paying
        overall[i].paying = paying_total

    for month, ended, converted in trials:
        overall[index[month]].trials_ended = ended
        overall[index[month]].trials_converted = converted
    for month, failed_now, outstanding, recovered in failed:
        row_overall = overall[index[month]]
        row_overall.payments_failed = failed_now
        row_overall.payments_outstanding = outstanding
        row_overall.payments_recovered = recovered

    # A currency or plan that paid nothing over the whole range is left out.
    currencies = sorted(
        currency
        for currency, rows in by_currency.items()
        if any(row.mrr or row.mrr_at_start or row.churn for row in rows)
    )
    plans = Plan.objects.in_bulk({plan_id for plans in by_plan_id.values() for plan_id in plans})
    by_plan: dict[str, dict[Plan, list[PlanMonth]]] = {}
    for currency in currencies:
        rows_of_plan = {
            plans[plan_id]: rows
            for plan_id, rows in by_plan_id[currency].items()
            if any(row.mrr or row.churn for row in rows)
        }
        by_plan[currency] = dict(
            sorted(rows_of_plan.items(), key=lambda item: (item[0].rank, item[0].code))
        )
    return FinanceFigures(
        months=months,
        currencies=currencies,
        by_currency={currency: by_currency[currency] for currency in currencies},
        by_plan=by_plan,
        overall=overall,
    )


# Lists ------------------------------------------------------------------------------------


def finance_subscription_list(*, filters: dict[str, Any]) -> QuerySet[Subscription]:
    """Every organization's subscription, newest first, narrowed by the list's filters
    (plan, status, provider, currency, and the day it started: `created_from`/`created_to`)."""
    rows = Subscription.objects.select_related("organization", "plan", "price")
    if filters.get("plan"):
        rows = rows.filter(plan=filters["plan"])
    for name in ("status", "provider", "currency"):
        if filters.get(name):
            rows = rows.filter(**{name: filters[name]})
    if filters.get("created_from"):
        rows = rows.filter(created_at__gte=_day_start(filters["created_from"]))
    if filters.get("created_to"):
        rows = rows.filter(created_at__lt=_day_start(filters["created_to"], after=True))
    return rows.order_by("-created_at", "-id")


def finance_invoice_list(*, filters: dict[str, Any]) -> QuerySet[Invoice]:
    """Every invoice, newest first, narrowed by the list's filters (plan of the organization's
    subscription, status, provider, currency, and the day it was issued: `issued_from`/`_to`)."""
    rows = Invoice.objects.select_related("organization")
    if filters.get("plan"):
        rows = rows.filter(organization__subscription__plan=filters["plan"])
    for name in ("status", "provider", "currency"):
        if filters.get(name):
            rows = rows.filter(**{name: filters[name]})
    if filters.get("issued_from"):
        rows = rows.filter(issued_at__gte=_day_start(filters["issued_from"]))
    if filters.get("issued_to"):
        rows = rows.filter(issued_at__lt=_day_start(filters["issued_to"], after=True))
    return rows.order_by("-issued_at", "-id")


def finance_currencies() -> list[str]:
    """The currencies subscriptions, their history or invoices were ever in (for filters)."""
    # order_by(): the models' default ordering would otherwise join the DISTINCT.
    found = set(SubscriptionChange.objects.order_by().values_list("currency", flat=True).distinct())
    found |= set(Invoice.objects.order_by().values_list("currency", flat=True).distinct())
    return sorted(found)


def _day_start(day: dt.date, *, after: bool = False) -> dt.datetime:
    """The first instant of `day` (or of the day after it) in UTC, the page's time zone."""
    if after:
        day += dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
