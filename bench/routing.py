"""Contact list API throughput with schema-per-tenant routing vs the same view on one schema.

Two gunicorn servers (`-w 1`, sync worker) run side by side on throwaway databases of the
server DATABASE_URL points at:

- tenancy: the project as configured (`config.settings`, database `mycrm_bench_tenancy`),
  50 organizations provisioned through the fast path, each with its own contacts and Bearer
  token; every request goes to a random organization's host (`<slug>.localhost`);
- plain: `bench.plain_settings` (database `mycrm_bench_plain`): the plain PostgreSQL engine,
  no tenant middleware, CRM tables in `public`, the same `ContactViewSet` behind
  `bench.plain_urls`; the same users and tokens, one organization's contacts.

A load generator in a separate process keeps a fixed number of keep-alive connections busy
on `GET /api/v1/contacts/` (25 rows a page) for a bounded time, alternating between the two
sides round by round; medians of the rounds are reported.

    python bench/routing.py            # full run, rewrites its section of docs/benchmarks.md
    python bench/routing.py --quick    # smoke run, writes nothing unless --write
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import benchdb, report  # noqa: E402

SIDES = {
    "tenancy": ("mycrm_bench_tenancy", "config.settings"),
    "plain": ("mycrm_bench_plain", "bench.plain_settings"),
}
PATH = "/api/v1/contacts/"
PAGE = 25
TARGET_RATIO = 0.97
WARM_UP = 1.5  # seconds of unmeasured load on each fresh server before a round
SLICES = 4  # turns each side takes in a round, alternating with the other
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


# --- data set-up, run in a child process per side with that side's settings ---------------


def _contacts(company_ids: list[int], owner_id: int) -> list[Any]:
    from crm.models import Contact

    return [
        Contact(
            first_name=f"First{i}",
            last_name=f"Last{i}",
            email=f"person{i}@example.test",
            phone=f"+1 555 01{i:02d}",
            title="Buyer" if i % 2 else "Engineer",
            company_id=company_ids[i % len(company_ids)] if i % 4 else None,
            owner_id=owner_id,
        )
        for i in range(30)
    ]


def _companies() -> list[Any]:
    from crm.models import Company

    return [Company(name=f"Company {i}", domain=f"c{i}.example.test") for i in range(3)]


def _statements(host: str, token: str, before: tuple[str, str] | None = None) -> list[str]:
    """The SQL one warm request runs (Django test client, so no per-request health check),
    right after a request to `before` (another organization, as under the bench's load)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=host, HTTP_AUTHORIZATION=f"Bearer {token}")
    for _ in range(2):  # warm: host cache, token last_used_at
        assert client.get(PATH).status_code == 200
    if before is not None:
        other = Client(HTTP_HOST=before[0], HTTP_AUTHORIZATION=f"Bearer {before[1]}")
        for _ in range(2):
            assert other.get(PATH).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(PATH)
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == PAGE, response.content[:400]
    return [q["sql"] for q in ctx.captured_queries]


def _python_lines(targets: list[tuple[str, str]], requests: int = 20) -> float:
    """Python lines one warm request executes (Django test client, random organizations),
    counted with a tracer: unlike a timing, the same on a busy machine as on a quiet one."""
    from django.test import Client

    clients = [Client(HTTP_HOST=h, HTTP_AUTHORIZATION=f"Bearer {t}") for h, t in targets]
    for client in clients:  # warm: host cache, keys, token last_used_at
        assert client.get(PATH).status_code == 200
    picks = random.Random(3)
    chosen = [picks.choice(clients) for _ in range(requests)]
    lines = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
        return trace

    sys.settrace(trace)
    try:
        for client in chosen:
            client.get(PATH)
    finally:
        sys.settrace(None)
    return lines / requests


def _paired(with_it: Any, without: Any, repeat: int) -> tuple[float, float, float]:
    """Each call of `with_it` right beside one of `without`, alternating which goes first:
    their medians in µs and the median of the pairs' differences (steady under the
    machine's drift, which a difference of two separate medians is not)."""
    for _ in range(50):
        with_it()
        without()
    a, b, diffs = [], [], []
    for i in range(repeat):
        order = (with_it, without) if i % 2 == 0 else (without, with_it)
        took = {}
        for work in order:
            began = time.perf_counter()
            work()
            took[work] = time.perf_counter() - began
        a.append(took[with_it])
        b.append(took[without])
        diffs.append(took[with_it] - took[without])
    return report.median(a) * 1e6, report.median(b) * 1e6, report.median(diffs) * 1e6


def _tenancy_costs(targets: list[tuple[str, str]], repeat: int = 2000) -> list[list[str]]:
    """What tenancy adds to one request, part by part, each beside its own baseline.

    The statements run on the raw psycopg connection (no Django in the way), each pair
    alternated in blocks so that both see the same machine; the Python parts run as the
    middleware calls them.
    """
    from django.db import connection
    from django.utils import timezone

    from iam.tokens import _CREDENTIALS_SQL
    from iam.tokens import digest as _digest
    from tenants import routing
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug="org000")
    host, token = targets[0]
    digest = _digest(token)
    statements = _statements(host, token)
    page_sql = statements[1].split("; ", 1)[-1]
    set_sql = f'SET search_path = "{tenant.schema_name}","public"'

    connection.ensure_connection()
    raw = connection.connection
    raw.execute(f"{set_sql};")

    def run(sql: str, params: list[Any] | None = None, sets: bool = False) -> Any:
        def work() -> None:
            with raw.cursor() as cur:
                cur.execute(sql, params)
                if sets:
                    cur.nextset()
                cur.fetchall()

        return work

    def pair(tenancy: Any, baseline: Any) -> tuple[float, float, float]:
        return _paired(tenancy, baseline, repeat)

    def miss() -> None:
        routing.forget_all_hosts()
        routing.resolve_host(host)

    def switch() -> None:
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        connection.set_tenant(tenant)  # type: ignore[attr-defined]
        connection.set_schema_to_public()  # type: ignore[attr-defined]

    rows: list[tuple[str, float, float, float]] = []
    now = timezone.now()
    a, b, d = pair(
        run(_CREDENTIALS_SQL, [digest, tenant.pk, now]),
        run(_CREDENTIALS_SQL.replace(" AND t.tenant_id = %s", ""), [digest, now]),
    )
    rows.append(("token statement: the tenant filter", a, b, d))
    a, b, d = pair(run(f"{set_sql}; {page_sql}", sets=True), run(page_sql))
    rows.append(
        ("a statement's `SET search_path` prefix (the first statement of a request)", a, b, d)
    )
    schemas = list(Tenant.objects.values_list("schema_name", flat=True))
    picks = random.Random(1)

    def another_schema_each_time() -> None:
        schema = picks.choice(schemas)
        with raw.cursor() as cur:
            cur.execute(f'SET search_path = "{schema}","public"; {page_sql}')
            cur.nextset()
            cur.fetchall()

    a, b, d = pair(another_schema_each_time, run(f"{set_sql}; {page_sql}", sets=True))
    rows.append(
        (
            f"a statement on another organization's tables each time (random of "
            f"{len(schemas)}) instead of the same ones (each statement on its tables)",
            a,
            b,
            d,
        )
    )
    routing.resolve_host(host)
    a, b, d = pair(miss, lambda: routing.resolve_host(host))
    rows.append(("host → organization: a cache miss instead of a hit", a, b, d))
    a, b, d = pair(switch, lambda: None)
    rows.append(("the middleware's schema switches (public, tenant, public)", a, b, d))
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return [[name, f"{x:.1f}", f"{y:.1f}", f"{d:+.1f}"] for name, x, y, d in rows]


def setup_tenancy(tenants: int) -> dict[str, Any]:
    """Migrate, then provision organizations with an owner, a token, companies and contacts."""
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from crm.models import Company, Contact
    from iam.models import User
    from iam.services import api_token_create
    from tenants.routing import tenant_host
    from tenants.services import provision_tenant
    from tenants.snapshot import build_snapshot

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    build_snapshot()
    targets = []
    for i in range(tenants):
        user = User.objects.create_user(email=f"user{i}@bench.test", password=None)
        tenant = provision_tenant(slug=f"org{i:03d}", name=f"Org {i}", owner=user)
        _, raw = api_token_create(user=user, tenant=tenant, name="bench")
        with tenant_context(tenant):
            companies = Company.objects.bulk_create(_companies())
            Contact.objects.bulk_create(_contacts([c.pk for c in companies], user.pk))
        targets.append((tenant_host(tenant.slug), raw))
    connection.set_schema_to_public()
    statements = _statements(*targets[0], before=targets[1])
    return {
        "targets": targets,
        "statements": statements,
        "costs": _tenancy_costs(targets),
        "python_lines": _python_lines(targets),
    }


def setup_plain(tenants: int) -> dict[str, Any]:
    """Migrate one schema; the same users and tokens, one organization's contacts in public."""
    from django.core.management import call_command
    from django.db import connection

    from crm.models import Company, Contact
    from iam.models import ApiToken, Membership, Role, User
    from iam.services import TOKEN_PREFIX, _digest
    from iam.token_scopes import FULL_SCOPES
    from tenants.models import Tenant

    call_command("migrate", interactive=False, verbosity=0)
    targets = []
    users = []
    for i in range(tenants):
        user = User.objects.create_user(email=f"user{i}@bench.test", password=None)
        # Tokens and memberships still name an organization row (a foreign key); the plain
        # side never looks at it.
        org = Tenant.objects.create(schema_name=f"t_org{i:03d}", slug=f"org{i:03d}", name="Org")
        Membership.objects.create(user=user, tenant=org, role=Role.OWNER)
        raw = f"{TOKEN_PREFIX}bench-plain-{i:03d}-{os.urandom(16).hex()}"
        ApiToken.objects.create(
            user=user,
            tenant=org,
            name="bench",
            prefix=raw[:11],
            digest=_digest(raw),
            scopes=list(FULL_SCOPES),  # as `api_token_create` gives on the tenancy side
        )
        targets.append(("localhost", raw))
        users.append(user)
    # The plain side decides access at its one organization, as a single-schema app would:
    # every user is a member there too.
    first = Tenant.objects.get(slug="org000")
    Membership.objects.bulk_create(
        Membership(user=user, tenant=first, role=Role.OWNER) for user in users[1:]
    )
    # Contacts are encrypted with the first organization's keys, as on the tenancy side; the
    # plain server decrypts them under that organization too (`bench.plain_urls`).
    connection.tenant = Tenant.objects.get(slug="org000")  # type: ignore[attr-defined]
    companies = Company.objects.bulk_create(_companies())
    Contact.objects.bulk_create(_contacts([c.pk for c in companies], users[0].pk))
    return {
        "targets": targets,
        "statements": _statements(*targets[0]),
        "python_lines": _python_lines(targets),
    }


def run_setup(side: str, tenants: int, out: str) -> None:
    import django

    django.setup()
    data = setup_tenancy(tenants) if side == "tenancy" else setup_plain(tenants)
    Path(out).write_text(json.dumps(data))


# --- load generator, run in a child process -----------------------------------------------


def run_load(port: int, targets_file: str, seconds: float, connections: int, seed: int) -> None:
    """Keep `connections` keep-alive clients busy for `seconds`; print counts and latencies."""
    targets = [tuple(t) for t in json.loads(Path(targets_file).read_text())]
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    start = threading.Barrier(connections + 1)

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        start.wait()
        while time.perf_counter() < deadline:
            host, token = rng.choice(targets)
            began = time.perf_counter()
            try:
                conn.request(
                    "GET",
                    PATH,
                    headers={
                        "Host": host,
                        "Authorization": f"Bearer {token}",
                        "Accept": "application/json",
                    },
                )
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            if ok:
                latencies[n].append(time.perf_counter() - began)
            else:
                errors[n] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    print(json.dumps({"elapsed": elapsed, "latencies": flat, "errors": sum(errors)}))


# --- orchestration --------------------------------------------------------------------------


@dataclass
class Round:
    side: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free right now: all are held open until each is chosen, or
    the kernel may hand the same one out twice before a server has bound it."""
    held = [socket.socket() for _ in range(count)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


def side_env(side: str, server: str) -> dict[str, str]:
    database, settings_module = SIDES[side]
    env = dict(os.environ)
    env.update(
        DATABASE_URL=benchdb.with_database(server, database),
        DJANGO_SETTINGS_MODULE=settings_module,
        DEBUG="false",
        LOG_LEVEL="WARNING",
        BASE_DOMAIN="localhost",
        PYTHONPATH=str(ROOT),
    )
    return env


def get_page(conn: http.client.HTTPConnection, host: str, token: str) -> tuple[int, bytes]:
    """One contact page for `host` with `token`: status and body. A connection the server
    closes after a response is opened again by the next request."""
    conn.request("GET", PATH, headers={"Host": host, "Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    return response.status, response.read()


def wait_ready(port: int, host: str, token: str, proc: subprocess.Popen[bytes]) -> list[str]:
    """Wait for a full first page; return the field names of its first row."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn on port {port} exited with {proc.returncode}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            status, body = get_page(conn, host, token)
        except (ConnectionError, TimeoutError):
            # Not listening yet, or a first request still loading what the app imports
            # lazily while the other side starts too: ask again until the deadline.
            time.sleep(0.2)
            continue
        finally:
            conn.close()
        if status == 200:
            results = json.loads(body)["results"]
            assert len(results) == PAGE, body[:200]
            return sorted(results[0])
        raise RuntimeError(f"port {port}: HTTP {status}: {body[:300]!r}")
    raise RuntimeError(f"gunicorn on port {port} did not become ready")


def warm(port: int, targets: list[list[str]]) -> None:
    """One request for every organization (host cache, keys), before any measuring."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for host, token in targets:
            status, _ = get_page(conn, host, token)
            assert status == 200, (host, status)
    finally:
        conn.close()


def load(port: int, targets_file: str, seconds: float, connections: int, seed: int) -> Any:
    """One run of the load generator against one server: its elapsed time, the latencies
    of the requests that succeeded and the number that didn't."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "_load",
            str(port),
            targets_file,
            str(seconds),
            str(connections),
            str(seed),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def as_round(side: str, slices: list[Any]) -> Round:
    """A side's share of one round, from its slices."""
    lat = [x for piece in slices for x in piece["latencies"]]
    return Round(
        side=side,
        rps=len(lat) / sum(piece["elapsed"] for piece in slices),
        p50_ms=report.percentile(lat, 50) * 1000,
        p99_ms=report.percentile(lat, 99) * 1000,
        errors=sum(piece["errors"] for piece in slices),
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short rounds; writes nothing")
    parser.add_argument("--write", action="store_true", help="with --quick: write the doc too")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per side")
    parser.add_argument("--seconds", type=float, default=None, help="length of a round")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench databases")
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 30)
    args.seconds = args.seconds or (2.0 if args.quick else 2.0)
    args.write_doc = args.write or not args.quick
    return args


def summarize(rounds: list[Round], side: str) -> dict[str, float]:
    mine = [r for r in rounds if r.side == side]
    return {
        "rps": report.median([r.rps for r in mine]),
        "p50": report.median([r.p50_ms for r in mine]),
        "p99": report.median([r.p99_ms for r in mine]),
        "errors": sum(r.errors for r in mine),
    }


def render(
    args: argparse.Namespace,
    rounds: list[Round],
    statements: dict[str, list[str]],
    costs: list[list[str]],
    python_lines: dict[str, float],
    facts: dict[str, str],
    seconds: float,
) -> str:
    t, p = summarize(rounds, "tenancy"), summarize(rounds, "plain")
    # Each round's two sides run back to back, so their ratio is little touched by the
    # machine's speed drifting between rounds; the headline is the median of those ratios.
    pairs = zip(
        [r for r in rounds if r.side == "tenancy"],
        [r for r in rounds if r.side == "plain"],
        strict=True,
    )
    ratios = [a.rps / b.rps for a, b in pairs]
    ratio = report.median(ratios)
    quartiles = f"{report.percentile(ratios, 25):.3f}–{report.percentile(ratios, 75):.3f}"
    rows = [
        [
            name,
            f"{s['rps']:,.0f}",
            f"{s['p50']:.2f}",
            f"{s['p99']:.2f}",
            int(s["errors"]),
            len(statements[name]),
        ]
        for name, s in (("tenancy", t), ("plain", p))
    ]
    per_round = [
        [i + 1, f"{a.rps:,.0f}", f"{b.rps:,.0f}", f"{a.rps / b.rps:.3f}"]
        for i, (a, b) in enumerate(
            zip(
                [r for r in rounds if r.side == "tenancy"],
                [r for r in rounds if r.side == "plain"],
                strict=True,
            )
        )
    ]
    quick = " (quick smoke run: short rounds)" if args.quick else ""
    # Statements on the organization's own tables (the rest read `public`'s).
    own_tables = sum(1 for sql in statements["tenancy"] if "iam_apitoken" not in sql)
    cost_lines = costs_table(
        costs,
        python_lines,
        own_tables=own_tables,
        tenants=args.tenants,
        plain_rps=p["rps"],
        tenancy_rps=t["rps"],
    )
    sql_lines = []
    for name in ("tenancy", "plain"):
        sql_lines.append(f"- {name}: {len(statements[name])} statements")
        sql_lines += [f"  - `{' '.join(s.split())[:110]}`" for s in statements[name]]
    return "\n".join(
        [
            "## Request routing: contact list API with and without tenancy",
            "",
            f"- command: `{report.command_line()}` (`make bench` runs it inside the devstack)"
            + quick,
            f"- date: {report.today()}; wall time {seconds / 60:.1f} min",
            *report.machine_facts(facts),
            f"- `GET {PATH}` ({PAGE} rows a page, cursor pagination) against "
            f"`gunicorn -w 1` (sync worker) per side, `DEBUG=false`; the load generator is a "
            f"separate Python process with {args.connections} threads, each on its own "
            "`http.client` connection (kept alive where the server allows it; the sync worker "
            "closes after each response, on both sides alike)",
            f"- tenancy: `config.settings`, {args.tenants} organizations provisioned by the fast "
            "path, each with 30 contacts, 3 companies and its own Bearer token; every request "
            "goes to a random organization's host `<slug>.localhost`",
            "- plain: `bench/plain_settings.py` + `bench/plain_urls.py`: plain PostgreSQL "
            "engine, no tenant middleware, CRM tables in `public`; the project's "
            "`ContactViewSet` with only the tenant-schema guard skipped, the token looked up "
            "without the tenant filter and `IsAuthenticated` in place of the membership "
            f"permission; the same {args.tenants} users and tokens (random per request), 30 "
            "contacts and 3 companies",
            "- on both sides a contact's e-mail, phone, address and birthday are stored "
            "encrypted and decrypted on every page (the plain side under its one organization's "
            "cached key, through `bench.plain_urls.EncryptionTenantMiddleware`), so the ratio "
            "isolates tenancy, not encryption",
            f"- {args.rounds} rounds of {args.seconds:.0f} s per side; within a round the two "
            f"sides take turns in {SLICES} slices of {args.seconds / SLICES:g} s each (ABBA "
            "order), so both see the machine as it is in the same few seconds; every round "
            "starts both servers afresh (how fast one process happens to be, by "
            "its memory layout and hash seed, differs by a few per cent between identical "
            "processes, so one pair of processes for the whole run would tilt it) and, "
            "unmeasured, sends each of them one request per organization and "
            f"{WARM_UP:g} s of load first; the ratio is the median of the "
            "rounds' ratios (their middle half "
            f"spans {quartiles}), the other figures medians over rounds",
            "",
            report.table(
                ["target", "measured", "result"],
                [
                    [
                        f"throughput tenancy/plain ≥ {TARGET_RATIO}",
                        f"{ratio:.3f}",
                        report.verdict(ratio >= TARGET_RATIO),
                    ]
                ],
            ),
            "",
            report.table(
                ["side", "requests/s", "p50 ms", "p99 ms", "errors", "SQL statements/request"],
                rows,
            ),
            "",
            report.table(["round", "tenancy req/s", "plain req/s", "ratio"], per_round),
            "",
            *cost_lines,
            "",
            "SQL a warm request runs (captured with the Django test client; under gunicorn "
            "both sides also run the connection health check, `SELECT 1`, once per request):",
            "",
            *sql_lines,
        ]
    )


def costs_table(
    costs: list[list[str]],
    python_lines: dict[str, float],
    *,
    own_tables: int,
    tenants: int,
    plain_rps: float,
    tenancy_rps: float,
) -> list[str]:
    """The parts of a request tenancy adds, measured one by one in this run, and their sum."""
    # The servers listen on Redis for suspensions, so they keep answers this long.
    ttl = float(os.environ.get("TENANT_HOST_CACHE_SUBSCRIBED_SECONDS", "300"))
    miss_share = min(1.0, tenants / ttl / tenancy_rps)
    # Per request: the token's tenant filter, one SET (a request mostly follows another
    # organization's), the statements on the organization's own tables, host-cache misses on
    # a share of requests, the middleware's switches.
    times = [1, 1, own_tables, miss_share, 1]
    added = sum(float(row[3]) * n for row, n in zip(costs, times, strict=True))
    plain_us = 1e6 / plain_rps
    tenancy_lines, plain_lines = python_lines["tenancy"], python_lines["plain"]
    more = tenancy_lines / plain_lines - 1
    rows = [[*row, f"{n:g}" if n >= 1 else f"{n:.3f}"] for row, n in zip(costs, times, strict=True)]
    return [
        "Where the difference goes: each part tenancy adds to a request, timed on its own in "
        "the same run beside its baseline (statements on the raw database connection; 2,000 "
        "pairs, each call right beside its baseline; added = the median of the pairs' "
        "differences). A host-cache miss happens on about "
        f"{tenants} hosts / {ttl:g} s cache lifetime / {tenancy_rps:.0f} requests/s = "
        f"{miss_share:.1%} of requests here.",
        "",
        report.table(["part", "with it µs", "without µs", "added µs", "per request"], rows),
        "",
        f"Together these add about {added:.0f} µs to a request; a plain request takes "
        f"{plain_us:,.0f} µs of the single worker here (1 / {plain_rps:.0f} requests/s), so "
        f"they account for a ratio of about {plain_us / (plain_us + added):.3f}. Besides "
        f"them the worker runs {more:.1%} more Python per request ({tenancy_lines:,.0f} "
        f"lines against {plain_lines:,.0f}, counted with a tracer over 20 requests to "
        "random organizations in each side's set-up process: the routing and membership "
        "middleware, the SET bookkeeping), spread thinly over the request. The parts above "
        "are timed one at a time; under load, with the worker, the database and the load "
        "generator sharing two cores, the same work can cost more.",
    ]


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    server = benchdb.server_url()
    facts = benchdb.server_facts(server)
    procs: list[subprocess.Popen[bytes]] = []
    work = Path(tempfile.mkdtemp(prefix="mycrm-bench-routing-"))
    try:
        setups: dict[str, dict[str, Any]] = {}
        for side, (database, _) in SIDES.items():
            benchdb.recreate(server, database)
            out = work / f"{side}.json"
            subprocess.run(
                [sys.executable, __file__, "_setup", side, str(args.tenants), str(out)],
                check=True,
                env=side_env(side, server),
                cwd=ROOT,
            )
            setups[side] = json.loads(out.read_text())
            (work / f"{side}-targets.json").write_text(json.dumps(setups[side]["targets"]))
            print(f"{side}: set up, {len(setups[side]['statements'])} SQL statements/request")

        def start_servers() -> dict[str, int]:
            """A fresh gunicorn per side: each round gets new processes, so the speed a
            process happens to have (its memory layout, its hash seed) evens out over the
            rounds instead of tilting the whole run one way."""
            for proc in procs:
                stop(proc)
            procs.clear()
            ports = dict(zip(SIDES, free_ports(len(SIDES)), strict=True))
            for side in SIDES:
                log = (work / f"{side}-gunicorn.log").open("ab")
                procs.append(
                    subprocess.Popen(
                        [str(GUNICORN), "config.wsgi", "-w", "1", "-b", f"127.0.0.1:{ports[side]}"],
                        env=side_env(side, server),
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            seen = [
                wait_ready(ports[side], *setups[side]["targets"][0], proc)
                for proc, side in zip(procs, SIDES, strict=True)
            ]
            assert seen[0] == seen[1], f"the two sides serialize differently: {seen}"
            return ports

        rounds: list[Round] = []
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}")
            ports = start_servers()
            order = ["tenancy", "plain"] if i % 2 == 0 else ["plain", "tenancy"]
            targets = {side: str(work / f"{side}-targets.json") for side in SIDES}
            for side in order:  # not measured: every host and key once, then some load
                warm(ports[side], setups[side]["targets"])
                load(ports[side], targets[side], WARM_UP, args.connections, 0)
            # The sides take turns in short slices (ABBA), so that both see the machine
            # as it is in the same few seconds.
            slices: dict[str, list[Any]] = {side: [] for side in SIDES}
            for k in range(SLICES):
                for side in order if k % 2 == 0 else order[::-1]:
                    seed = (i + 1) * 100 + k
                    piece = load(
                        ports[side], targets[side], args.seconds / SLICES, args.connections, seed
                    )
                    slices[side].append(piece)
            for side in order:
                r = as_round(side, slices[side])
                rounds.append(r)
                print(
                    f"  {side:8} {r.rps:8,.0f} req/s  p50 {r.p50_ms:6.2f} ms  "
                    f"p99 {r.p99_ms:6.2f} ms  errors {r.errors}",
                    flush=True,
                )
    finally:
        for proc in procs:
            stop(proc)
        if not args.keep_db:
            for database, _ in SIDES.values():
                benchdb.drop(server, database)
            shutil.rmtree(work, ignore_errors=True)
    statements = {side: setups[side]["statements"] for side in SIDES}
    costs = setups["tenancy"]["costs"]
    lines = {side: setups[side]["python_lines"] for side in SIDES}
    body = render(args, rounds, statements, costs, lines, facts, time.perf_counter() - started)
    print()
    print(body)
    if args.write_doc:
        report.write_section("routing", body)
        print(f"\nwrote {report.DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_setup":
        run_setup(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        run_load(
            int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        )
    else:
        main()
