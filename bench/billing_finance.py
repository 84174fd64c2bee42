"""Finance figures: MRR over 24 months for 10,000 organizations with their subscription
histories, beside plain statements over the same rows, in the same run.

The fleet is generated with a fixed seed and written with COPY: each organization starts a
trial, most subscribe (Starter or Growth, monthly or yearly, USD or EUR, 1-20 seats), then
month by month may change seats or plan, fail a payment and recover it, churn, or come back.
Rows carry the MRR each change left, as the product's services write them.

Series, interleaved sample by sample:
- figures: `billing.selectors.finance.finance_figures()` over 24 months (MRR, ARR, movements,
  by plan, organizations, trials and failed payments: every query the page runs),
- mrr: its MRR statement alone (the window-function query over the changes),
- page: `GET /billing/finance/` for the same 24 months through the Django test client,
- count: `SELECT count(*), sum(mrr)` over the same rows (the baseline: one pass, no logic),
- per-boundary: the obvious query, the last change of every organization at each of the 25
  month boundaries (`DISTINCT ON` under a `LATERAL` per boundary), fewer samples.
The figures' MRR is checked against the per-boundary query's before anything is timed.

    python bench/billing_finance.py            # 10,000 organizations; rewrites its section
    python bench/billing_finance.py --quick    # 1,000 organizations, writes nothing unless --write

`bench_finance(args)` is also the `finance` benchmark of bench/billing.py.
"""

import datetime as dt
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import benchdb, report  # noqa: E402

DATABASE = "mycrm_bench_finance"
MONTHS = 24
TARGET_MS = 300.0

PER_BOUNDARY = """
SELECT b.at, c.currency, sum(c.mrr)
FROM generate_series(%(since)s::timestamptz, %(until)s::timestamptz, interval '1 month') AS b(at)
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (organization_id) mrr, currency
    FROM billing_subscriptionchange
    WHERE effective_at < b.at
    ORDER BY organization_id, effective_at DESC, id DESC
) c
GROUP BY 1, 2
"""


def parse_args() -> Any:
    parser = report.quick_or_full_arguments(__doc__)
    parser.add_argument("--organizations", type=int, help="default 10,000 (1,000 with --quick)")
    parser.add_argument("--samples", type=int, default=40, help="samples per series")
    return parser.parse_args()


def _month(day: dt.datetime, months: int) -> dt.datetime:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1, day=1)


def generate(organizations: int, now: dt.datetime) -> dict[str, int]:
    """Write the fleet and its histories; return counts."""
    from django.db import connection

    from billing.models import Plan, Price
    from tenants.models import Tenant

    rng = random.Random(16)
    Tenant.objects.bulk_create(
        [
            Tenant(slug=f"org{n}", name=f"Organization {n}", schema_name=f"org{n}")
            for n in range(organizations)
        ],
        batch_size=2000,
    )
    org_ids = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    plans = {plan.code: plan.pk for plan in Plan.objects.all()}
    prices = {
        (price.plan.code, price.currency, price.interval): price.monthly_amount
        for price in Price.objects.select_related("plan")
    }
    start = _month(now, -(MONTHS + 6))
    span = (now - start).total_seconds()
    rows: list[tuple[Any, ...]] = []

    def add(
        org: int, kind: str, at: dt.datetime, plan: str, status: str, seats: int, cur: str, mrr: int
    ) -> None:
        rows.append((org, kind, at, plans[plan], status, seats, cur, mrr, "", None))

    for org in org_ids:
        at = start + dt.timedelta(seconds=rng.random() * span)
        cur = "EUR" if rng.random() < 0.3 else "USD"
        add(org, "trial_started", at, "growth", "trialing", 1, "USD", 0)
        at += dt.timedelta(days=rng.randint(3, 14))
        if rng.random() < 0.4:
            add(org, "trial_ended", at, "free", "free", 1, "USD", 0)
            if rng.random() < 0.7:
                continue
            at += dt.timedelta(days=rng.randint(5, 90))
        plan = rng.choice(("starter", "growth"))
        interval = "year" if rng.random() < 0.25 else "month"
        seats = rng.randint(1, 20)
        paying = True
        add(org, "subscribed", at, plan, "active", seats, cur, prices[plan, cur, interval] * seats)
        while True:
            at += dt.timedelta(days=rng.randint(10, 60))
            if at >= now:
                break
            roll = rng.random()
            if paying and roll < 0.35:
                seats = max(1, seats + rng.choice((-2, -1, 1, 1, 2, 3)))
                kind = "seats_changed"
            elif paying and roll < 0.45:
                plan = "growth" if plan == "starter" else "starter"
                kind = "plan_changed"
            elif paying and roll < 0.52:
                add(
                    org,
                    "payment_failed",
                    at,
                    plan,
                    "past_due",
                    seats,
                    cur,
                    prices[plan, cur, interval] * seats,
                )
                at += dt.timedelta(days=rng.randint(1, 20))
                if rng.random() < 0.7:
                    kind = "payment_recovered"
                else:
                    paying = False
                    add(org, "canceled", at, "free", "canceled", seats, cur, 0)
                    continue
            elif paying and roll < 0.57:
                paying = False
                add(org, "canceled", at, "free", "canceled", seats, cur, 0)
                continue
            elif not paying and roll < 0.1:
                paying = True
                kind = "subscribed"
            else:
                continue
            add(org, kind, at, plan, "active", seats, cur, prices[plan, cur, interval] * seats)

    with connection.cursor() as cursor:
        copy_sql = (
            "COPY billing_subscriptionchange (organization_id, kind, effective_at, plan_id, "
            "status, quantity, currency, mrr, note, actor_id) FROM STDIN"
        )
        with cursor.cursor.copy(copy_sql) as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
        cursor.execute("VACUUM ANALYZE billing_subscriptionchange")
        cursor.execute("VACUUM ANALYZE tenants_tenant")
    return {"organizations": organizations, "changes": len(rows)}


def bench_finance(args: Any) -> str:
    """Run the benchmark on a throwaway database; return its section of docs/benchmarks.md."""
    organizations = getattr(args, "organizations", None) or (1000 if args.quick else 10_000)
    samples = 10 if args.quick else getattr(args, "samples", 40)
    wall = time.perf_counter()
    benchdb.django_on_fresh_database(DATABASE)

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from billing.selectors import finance
    from iam.models import User

    setup_test_environment()  # the test client's context capture, as in the suite
    now = dt.datetime.now(dt.UTC)
    counts = generate(organizations, now)
    last = finance.month_start(now.date())
    first = finance.month_add(last, -(MONTHS - 1))
    since, until = finance.month_instant(first), finance.month_instant(finance.month_add(last, 1))
    params = {"since": since, "until": until, "last": finance.month_instant(last)}

    # The figures' MRR must equal the obvious computation before either is timed.
    figures = finance.finance_figures(first=first, last=last)
    with connection.cursor() as cursor:
        cursor.execute(
            PER_BOUNDARY,
            {"since": finance.month_instant(finance.month_add(first, 1)), "until": until},
        )
        expected: dict[tuple[dt.date, str], int] = {}
        for at, currency, mrr in cursor.fetchall():
            month = finance.month_add(at.astimezone(dt.UTC).date(), -1)
            expected[month, currency] = int(mrr)
    for currency, rows in figures.by_currency.items():
        for row in rows:
            assert row.mrr == expected.get((row.month, currency), 0), (row, expected)
    checked = sum(len(rows) for rows in figures.by_currency.values())

    user = User.objects.create_superuser(email="finance@bench.test", password="x" * 20)
    client = Client(HTTP_HOST=settings.BASE_DOMAIN)
    client.force_login(user)
    query = {"first": first.strftime("%Y-%m"), "last": last.strftime("%Y-%m")}
    assert client.get("/billing/finance/", query).status_code == 200

    def run_figures() -> None:
        finance.finance_figures(first=first, last=last)

    def run_mrr() -> None:
        with connection.cursor() as cursor:
            cursor.execute(finance._MOVEMENTS_SQL, params)
            cursor.fetchall()

    def run_page() -> None:
        assert client.get("/billing/finance/", query).status_code == 200

    def run_count() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), sum(mrr) FROM billing_subscriptionchange WHERE effective_at < %s",
                [until],
            )
            cursor.fetchall()

    def run_per_boundary() -> None:
        with connection.cursor() as cursor:
            cursor.execute(PER_BOUNDARY, {"since": since, "until": until})
            cursor.fetchall()

    series = {
        "figures": run_figures,
        "mrr": run_mrr,
        "page": run_page,
        "count": run_count,
        "per-boundary": run_per_boundary,
    }
    timings: dict[str, list[float]] = {name: [] for name in series}
    for run in series.values():  # warm-up
        run()
    for n in range(samples):
        for name, run in series.items():
            if name == "per-boundary" and n % 4:
                continue
            began = time.perf_counter()
            run()
            timings[name].append((time.perf_counter() - began) * 1000)

    def cell(name: str, pct: float) -> str:
        return f"{report.percentile(timings[name], pct):,.1f}"

    p50 = report.median(timings["figures"])
    p95 = report.percentile(timings["figures"], 95)
    count_p50 = report.median(timings["count"])
    labels = {
        "figures": "`finance_figures()`: every figure of the page (3 statements)",
        "mrr": "its MRR and movements statement alone",
        "page": "`GET /billing/finance/` (figures, charts' data, rendering)",
        "count": "baseline: `count(*), sum(mrr)` over the same rows",
        "per-boundary": "baseline: last change per organization at each boundary (LATERAL)",
    }
    body = "\n".join(
        [
            "## Finance figures: MRR over 24 months",
            "",
            f"- command: `{report.command_line()}` (`make bench` runs it inside the devstack)",
            f"- date: {report.today()}; wall time {(time.perf_counter() - wall) / 60:.1f} min",
            *report.machine_facts(benchdb.server_facts(os.environ["DATABASE_URL"])),
            f"- data: {counts['organizations']:,} organizations, {counts['changes']:,} "
            "subscription changes over 30 months (trials, subscriptions in USD and EUR, seat "
            "and plan changes, failed and recovered payments, churn, returns), written with "
            "COPY and `VACUUM ANALYZE`d; fixed seed",
            f"- every sample computes the {MONTHS} months {first:%b %Y} to {last:%b %Y}; "
            f"{samples} samples a series (per-boundary: a quarter), interleaved, after one "
            "warm-up each",
            f"- checked first: the figures' MRR equals the per-boundary query's for all "
            f"{checked} month and currency pairs",
            "",
            report.table(
                ["target", "measured", "result"],
                [
                    [
                        f"all figures, {MONTHS} months, {organizations:,} organizations: "
                        f"{label} ≤ {TARGET_MS:.0f} ms",
                        f"{value:,.1f} ms",
                        report.verdict(value <= TARGET_MS),
                    ]
                    for label, value in (("p50", p50), ("p95", p95))
                ],
            ),
            "",
            report.table(
                ["series", "n", "p50 ms", "p95 ms", "max ms", "p50 vs count"],
                [
                    [
                        labels[name],
                        len(timings[name]),
                        cell(name, 50),
                        cell(name, 95),
                        cell(name, 100),
                        f"{report.median(timings[name]) / count_p50:,.1f}×",
                    ]
                    for name in series
                ],
            ),
        ]
    )
    connection.close()
    benchdb.drop(os.environ["DATABASE_URL"], DATABASE)
    return body


def main() -> None:
    args = parse_args()
    body = bench_finance(args)
    print(body)
    if not args.quick or args.write:
        report.write_section("billing-finance", body)


if __name__ == "__main__":
    main()
