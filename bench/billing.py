"""Billing under load. Each benchmark is a function in BENCHMARKS, run in a child process of
its own (each sets Django up on its own throwaway database) and writing its own section of
docs/benchmarks.md; a new one is a function added to the table.

webhooks: 1,000 Stripe events for 50 organizations (per organization 16 subscription updates
with rising seat counts and 4 paid invoices), shuffled, each delivered twice, 50 deliveries
at a time, to a real server (`gunicorn -k gthread`) with a real Celery worker applying them.
Reported: time to acknowledge (p50/p99) beside `/healthz` under the same load on the same
server; time until every event is applied; and a check that the final state equals in-order
processing with exactly one effect per event.

finance: the Finance page's figures over 24 months of 10,000 organizations' histories, beside
plain statements over the same rows (bench/billing_finance.py says how).

    python bench/billing.py              # every benchmark, rewrites their sections
    python bench/billing.py webhooks     # one of them
    python bench/billing.py --quick      # smoke run, writes nothing unless --write
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import benchdb, report  # noqa: E402
from bench.billing_finance import bench_finance  # noqa: E402

GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
CELERY = ROOT / ".venv" / "bin" / "celery"
WEBHOOK_PATH = "/billing/webhooks/stripe/"
P99_TARGET_MS = 50.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- webhooks ------------------------------------------------------------------------------

WEBHOOKS_DB = "mycrm_bench_billing_webhooks"


def _webhook_events(organizations: list[Any], updates: int, invoices: int) -> list[dict[str, Any]]:
    """Per organization: `updates` subscription updates (seat count k+1 at second k) and
    `invoices` paid invoices, as Stripe would send them."""
    base = int(time.time()) - 3600
    events = []
    for org in organizations:
        sub_id = f"sub_bench_{org.pk}"
        for k in range(updates):
            events.append(
                {
                    "id": f"evt_sub_{org.pk}_{k}",
                    "object": "event",
                    "type": "customer.subscription.updated",
                    "created": base + k * 10,
                    "data": {
                        "object": {
                            "id": sub_id,
                            "object": "subscription",
                            "customer": f"cus_bench_{org.pk}",
                            "status": "active",
                            "metadata": {"organization_id": str(org.pk)},
                            "cancel_at_period_end": False,
                            "items": {
                                "data": [
                                    {
                                        "id": f"si_{org.pk}",
                                        "quantity": k + 1,
                                        "price": {"id": "price_bench_growth_month"},
                                        "current_period_start": base,
                                        "current_period_end": base + 30 * 86400,
                                    }
                                ]
                            },
                        }
                    },
                }
            )
        for n in range(invoices):
            at = base + n * 25 + 5
            events.append(
                {
                    "id": f"evt_inv_{org.pk}_{n}",
                    "object": "event",
                    "type": "invoice.paid",
                    "created": at,
                    "data": {
                        "object": {
                            "id": f"in_bench_{org.pk}_{n}",
                            "object": "invoice",
                            "customer": f"cus_bench_{org.pk}",
                            "status": "paid",
                            "currency": "usd",
                            "subtotal": 3900,
                            "tax": 0,
                            "total": 3900,
                            "amount_paid": 3900,
                            "created": at,
                            "status_transitions": {"finalized_at": at, "paid_at": at},
                            "parent": {
                                "subscription_details": {
                                    "subscription": sub_id,
                                    "metadata": {"organization_id": str(org.pk)},
                                }
                            },
                        }
                    },
                }
            )
    return events


def _webhooks_seed(count: int) -> list[Any]:
    """`count` organizations (rows only: webhooks never enter a schema), each subscribed."""
    from billing.models import Plan, Price, Subscription
    from tenants.models import Tenant

    growth = Plan.objects.get(code="growth")
    price = Price.objects.get(plan=growth, interval="month", currency="USD")
    price.provider_ids = {"stripe": "price_bench_growth_month"}
    price.save(update_fields=["provider_ids"])
    tenants = Tenant.objects.bulk_create(
        Tenant(schema_name=f"bench_{i:03d}", slug=f"bench-{i:03d}", name=f"Bench {i}")
        for i in range(count)
    )
    Subscription.objects.bulk_create(
        Subscription(
            organization=tenant,
            plan=growth,
            price=price,
            provider="stripe",
            status=Subscription.Status.ACTIVE,
            quantity=1,
            currency="USD",
            provider_customer_id=f"cus_bench_{tenant.pk}",
            provider_subscription_id=f"sub_bench_{tenant.pk}",
        )
        for tenant in tenants
    )
    return tenants


def _sign(secret: str, body: bytes) -> str:
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def _fire(
    port: int, requests: list[tuple[str, bytes, dict[str, str]]], concurrency: int
) -> tuple[list[float], list[tuple[int, bytes]]]:
    """Send every (path, body, headers) POST (GET when body is empty), `concurrency` at a
    time on keep-alive connections; return each one's time to answer (ms) and answers."""
    work: queue.Queue[tuple[str, bytes, dict[str, str]]] = queue.Queue()
    for item in requests:
        work.put(item)
    took: list[float] = []
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        got: list[tuple[int, bytes]] = []
        while True:
            try:
                path, body, headers = work.get_nowait()
            except queue.Empty:
                break
            began = time.perf_counter()
            try:
                conn.request("POST" if body else "GET", path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                got.append((0, b""))
                continue
            mine.append((time.perf_counter() - began) * 1000)
            got.append((response.status, data))
        conn.close()
        with lock:
            took.extend(mine)
            answers.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return took, answers


def _one_at_a_time(secret: str, count: int = 300) -> tuple[float, float]:
    """Median time of one delivery (an event not tracked, so stored and acknowledged) and of
    one /healthz, each alone through Django's test client: the work a request costs,
    without the queueing of 50 at once."""
    from django.test import Client

    http = Client(HTTP_HOST="localhost")
    took, baseline = [], []
    for i in range(count):
        body = json.dumps({"id": f"evt_probe_{i}", "type": "customer.created", "created": 1})
        began = time.perf_counter()
        response = http.post(
            WEBHOOK_PATH,
            data=body.encode(),
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=_sign(secret, body.encode()),
        )
        took.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.content
        began = time.perf_counter()
        http.get("/healthz")
        baseline.append((time.perf_counter() - began) * 1000)
    return report.median(took[20:]), report.median(baseline[20:])


def _reading(p99: float, b99: float, alone: float, alone_baseline: float) -> str:
    """One plain sentence on what the acknowledgement times say."""
    if p99 <= P99_TARGET_MS:
        return f"The p99 acknowledgement is within the {P99_TARGET_MS:.0f} ms target."
    if b99 > P99_TARGET_MS:
        return (
            f"Reading: `/healthz`, which does no work at all, already takes {b99:.0f} ms at "
            f"p99 under this load on this machine, so the {P99_TARGET_MS:.0f} ms target is not "
            f"measurable here; alone, a delivery costs {alone:.2f} ms (verify, one INSERT, "
            f"queue the task) against {alone_baseline:.2f} ms for `/healthz`, and the rest of "
            "its time under load is waiting for a CPU."
        )
    return (
        f"Reading: the p99 acknowledgement misses the {P99_TARGET_MS:.0f} ms target while "
        f"`/healthz` meets it; alone, a delivery costs {alone:.2f} ms."
    )


def bench_webhooks(args: argparse.Namespace) -> str:
    """Run the webhook benchmark; return its docs section."""
    started = time.perf_counter()
    organizations = 10 if args.quick else 50
    updates, invoices, concurrency = 16, 4, 50
    server = benchdb.server_url()
    facts = benchdb.server_facts(server)
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET") or "whsec_bench"
    benchdb.django_on_fresh_database(WEBHOOKS_DB)
    from billing.models import Invoice, Subscription, SubscriptionChange, WebhookEvent

    tenants = _webhooks_seed(organizations)
    events = _webhook_events(tenants, updates, invoices)
    deliveries = [event for event in events for _ in range(2)]
    random.Random(16).shuffle(deliveries)
    bodies = [json.dumps(event).encode() for event in deliveries]

    env = dict(os.environ)
    env.update(
        DATABASE_URL=benchdb.with_database(server, WEBHOOKS_DB),
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        BASE_DOMAIN="localhost",
        STRIPE_WEBHOOK_SECRET=secret,
        PYTHONPATH=str(ROOT),
    )
    work = Path(tempfile.mkdtemp(prefix="mycrm-bench-billing-"))
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (work / "gunicorn.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [str(GUNICORN), "config.wsgi", "-k", "gthread", "-w", "2", "--threads", "25"]
                    + ["-b", f"127.0.0.1:{port}"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        with (work / "celery.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [str(CELERY), "-A", "config", "worker", "--pool", "threads"]
                    + ["--concurrency", "4", "--loglevel", "WARNING", "--without-gossip"]
                    + ["--without-mingle", "--without-heartbeat"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz", headers={"Host": "localhost"})
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError(f"gunicorn did not start; see {work / 'gunicorn.log'}")
            time.sleep(0.2)
        host = {"Host": "localhost"}
        # Warm every worker, then the baseline: /healthz, as many requests, as many at once.
        _fire(port, [("/healthz", b"", host)] * 200, concurrency)
        baseline, _ = _fire(port, [("/healthz", b"", host)] * len(bodies), concurrency)

        def signed(body: bytes) -> tuple[str, bytes, dict[str, str]]:
            headers = {"Content-Type": "application/json", "Stripe-Signature": _sign(secret, body)}
            return (WEBHOOK_PATH, body, {**host, **headers})

        # Warm every thread's database connection with events the product does not track.
        warm = [
            json.dumps({"id": f"evt_warm_{i}", "type": "customer.created", "created": 1}).encode()
            for i in range(200)
        ]
        _fire(port, [signed(body) for body in warm], concurrency)
        while WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).exists():
            time.sleep(0.05)
        requests = [signed(body) for body in bodies]
        began = time.perf_counter()
        acked, answers = _fire(port, requests, concurrency)
        delivered_in = time.perf_counter() - began
        pending = WebhookEvent.State.PENDING
        while WebhookEvent.objects.filter(state=pending).exists():
            if time.perf_counter() - began > 300:
                raise RuntimeError("events still pending after 300 s")
            time.sleep(0.05)
        applied_in = time.perf_counter() - began
    finally:
        for proc in procs:
            stop(proc)

    # In-order processing leaves each organization at its last update's seats and time,
    # with every invoice paid; one row per event, each applied once.
    statuses = [status for status, _ in answers]
    duplicates = sum(
        1 for status, body in answers if status == 200 and json.loads(body)["duplicate"]
    )
    rows = WebhookEvent.objects.filter(provider="stripe").exclude(event_id__startswith="evt_warm_")
    checks = {
        "every delivery acknowledged with 200": statuses.count(200) == len(bodies),
        "second delivery of each event seen as a duplicate": duplicates == len(events),
        "one stored row per event": rows.count() == len(events),
        "every event applied": rows.filter(state=WebhookEvent.State.APPLIED).count() == len(events),
        "each applied once (attempts = 1)": not rows.exclude(attempts=1).exists(),
    }
    wrong_state = 0
    for sub in Subscription.objects.filter(organization__in=tenants):
        expected_at = max(
            e["created"]
            for e in events
            if e["type"] == "customer.subscription.updated"
            and e["data"]["object"]["metadata"]["organization_id"] == str(sub.organization_id)
        )
        if sub.quantity != updates or int(sub.provider_updated_at.timestamp()) != expected_at:
            wrong_state += 1
    changes = SubscriptionChange.objects.filter(organization__in=tenants).count()
    checks["final seats and time as in order, every organization"] = wrong_state == 0
    checks["every invoice mirrored once, paid"] = (
        Invoice.objects.filter(status="paid").count() == organizations * invoices
    )
    checks[f"history rows at most one per event ({changes})"] = changes <= len(events)
    failed = [name for name, ok in checks.items() if not ok]
    alone, alone_baseline = _one_at_a_time(secret)

    p50, p99 = report.percentile(acked, 50), report.percentile(acked, 99)
    b50, b99 = report.percentile(baseline, 50), report.percentile(baseline, 99)
    body = "\n".join(
        [
            "## Billing: webhooks under load",
            "",
            f"Run {report.today()} with `{report.command_line()}` "
            f"({time.perf_counter() - started:.0f} s).",
            "",
            f"- {len(events):,} Stripe events for {organizations} organizations ({updates} "
            f"subscription updates and {invoices} paid invoices each), shuffled, each "
            f"delivered twice: {len(bodies):,} signed POSTs, {concurrency} at a time, on "
            "keep-alive connections from one load process",
            "- server: `gunicorn -k gthread -w 2 --threads 25`, `DEBUG=false`; a Celery worker "
            "(`--pool threads --concurrency 4`) applies the events as their storing commits",
            "- baseline: `GET /healthz` on the same server, as many requests, as many at once",
            *report.machine_facts(facts),
            "",
            report.table(
                ["measure", "webhooks", "baseline (/healthz)", "target"],
                [
                    [
                        "one request alone, in process (median)",
                        f"{alone:.2f} ms",
                        f"{alone_baseline:.2f} ms",
                        "",
                    ],
                    [
                        "time to acknowledge, p50",
                        f"{p50:.1f} ms",
                        f"{b50:.1f} ms",
                        "",
                    ],
                    [
                        "time to acknowledge, p99",
                        f"{p99:.1f} ms",
                        f"{b99:.1f} ms",
                        f"≤ {P99_TARGET_MS:.0f} ms {report.verdict(p99 <= P99_TARGET_MS)}",
                    ],
                    ["all delivered", f"{delivered_in:.2f} s", "", ""],
                    ["all applied (from the first delivery)", f"{applied_in:.2f} s", "", ""],
                ],
            ),
            "",
            _reading(p99, b99, alone, alone_baseline),
            "",
            "Final state against in-order processing:",
            "",
            *[f"- {'ok' if ok else 'FAILED'}: {name}" for name, ok in checks.items()],
        ]
    )
    if not args.keep_db:
        from django.db import connections

        connections.close_all()
        benchdb.drop(server, WEBHOOKS_DB)
    shutil.rmtree(work, ignore_errors=True)
    if failed:
        print(body)
        raise SystemExit(f"webhooks: final state differs from in-order processing: {failed}")
    return body


# --- driver ---------------------------------------------------------------------------------

BENCHMARKS: dict[str, Callable[[argparse.Namespace], str]] = {
    "webhooks": bench_webhooks,
    "finance": bench_finance,
}
SECTIONS = {"webhooks": "billing-webhooks", "finance": "billing-finance"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = report.quick_or_full_arguments(__doc__)
    parser.add_argument("names", nargs="*", choices=[[], *BENCHMARKS], help="which to run")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench databases")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args(sys.argv[1:])
    names = args.names or list(BENCHMARKS)
    for name in names:
        flags = [flag for flag in sys.argv[1:] if flag.startswith("--")]
        subprocess.run([sys.executable, __file__, "_run", name, *flags], check=True, cwd=ROOT)


def run_one(name: str, argv: list[str]) -> None:
    sys.argv = [sys.argv[0], name, *argv]  # the command the docs show
    args = parse_args(argv)
    body = BENCHMARKS[name](args)
    print()
    print(body)
    if not args.quick or args.write:
        report.write_section(SECTIONS.get(name, f"billing-{name}"), body)
        print(f"\nwrote {report.DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_run":
        run_one(sys.argv[2], sys.argv[3:])
    else:
        main()
