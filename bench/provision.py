"""Provisioning time of a new organization: warm pool vs snapshot replay vs django-tenants'
clone vs migrations.

Runs Django in-process against its own throwaway database (`mycrm_bench_provision` on the
server DATABASE_URL points at). At each level of existing tenants (filler organizations made
by the snapshot replay, so they are real schemas) it provisions organizations by the four
methods in a shuffled, interleaved order, deleting each one right after it is measured so the
tenant count stays at the level. Every method is a full `provision_tenant` (rows, domain, owner
membership, default pipeline); only the schema step differs:

- fast path: `provision_tenant(method="snapshot")` with a warm pool, renaming a spare schema
  (one spare is made before each sample, not timed, as the deletion after it is not);
- snapshot replay: the same call with the pool empty (TENANT_SPARE_SCHEMAS=0), replaying the
  DDL snapshot;
- clone: the replay call with `tenants.snapshot.create_schema_from_snapshot` swapped for
  `django_tenants.clone.CloneSchema().clone_schema()` from a migrated base schema;
- migrations: `provision_tenant(method="migrations")`.

    python bench/provision.py            # full run, rewrites its section of docs/benchmarks.md
    python bench/provision.py --quick    # smoke run, writes nothing unless --write
"""

import argparse
import contextlib
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import benchdb, report  # noqa: E402

DATABASE = "mycrm_bench_provision"
CLONE_BASE = "_bench_clone_base"
METHODS = ("pool", "snapshot", "clone", "migrations")
LABELS = {
    "pool": "fast path (warm pool: rename a spare)",
    "snapshot": "snapshot replay (pool empty)",
    "clone": "django-tenants clone_schema",
    "migrations": "migrations",
}
TARGET_P99_MS = 150.0
TARGET_FLAT = 1.2
TARGET_VS_MIGRATIONS = 100.0
TARGET_VS_CLONE = 10.0


@dataclass
class Samples:
    """Wall-clock seconds of whole provisionings and of their schema step alone."""

    total: list[float] = field(default_factory=list)
    schema: list[float] = field(default_factory=list)


@dataclass
class Level:
    tenants: int
    samples: dict[str, Samples]
    filler_seconds: float
    relations: int
    db_mb: float


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts; writes nothing")
    parser.add_argument("--write", action="store_true", help="with --quick: write the doc too")
    parser.add_argument("--levels", type=str, default=None, help="e.g. 0,1000,5000")
    parser.add_argument("--fast-samples", type=int, default=None)
    parser.add_argument("--replay-samples", type=int, default=None)
    parser.add_argument("--clone-samples", type=int, default=None)
    parser.add_argument("--migrations-samples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--fill-workers", type=int, default=os.cpu_count() or 2, help="processes adding filler"
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    args = parser.parse_args()
    quick = args.quick
    args.levels = [int(x) for x in (args.levels or ("0,50" if quick else "0,1000,5000")).split(",")]
    args.fast_samples = args.fast_samples or (10 if quick else 200)
    args.replay_samples = args.replay_samples or (10 if quick else 200)
    args.clone_samples = args.clone_samples or (3 if quick else 20)
    args.migrations_samples = args.migrations_samples or (3 if quick else 20)
    args.write_doc = args.write or not quick
    return args


def setup_django(url: str) -> None:
    """Point Django at the bench database and start it in this process."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "false"  # no connection.queries bookkeeping
    os.environ["LOG_LEVEL"] = "WARNING"  # no per-provisioning log line
    # The pool is turned on only around fast-path samples (`pool_size`); filler and the other
    # methods never claim a spare.
    os.environ["TENANT_SPARE_SCHEMAS"] = "0"
    import django

    django.setup()


def prepare() -> Any:
    """Migrate public, build the snapshot and the clone base schema; return the owner user."""
    from django.core.management import call_command

    from iam.models import User
    from tenants import snapshot

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    snapshot.build_snapshot()
    snapshot.snapshot_ddl()
    snapshot.create_schema_by_migrations(CLONE_BASE)
    return User.objects.create_user(email="owner@bench.test", password=None)


def clone_from_base(schema: str) -> None:
    """Stand-in for create_schema_from_snapshot: clone the migrated base, same transaction."""
    from django_tenants.clone import CloneSchema

    CloneSchema().clone_schema(CLONE_BASE, schema, set_connection=False)


@contextlib.contextmanager
def pool_size(size: int) -> Iterator[None]:
    """Turn the warm pool on with `size` spares for the duration, then off again."""
    from django.conf import settings

    settings.TENANT_SPARE_SCHEMAS = size
    try:
        yield
    finally:
        settings.TENANT_SPARE_SCHEMAS = 0


@contextlib.contextmanager
def schema_step(method: str, clock: dict[str, float]) -> Iterator[None]:
    """Swap in the schema step for `method`, timing it into clock["schema"]."""
    from tenants import pool, snapshot

    if method == "pool":
        claim = pool.spare_schema_claim

        def timed_claim(schema: str) -> bool:
            started = time.perf_counter()
            claimed = claim(schema)
            clock["schema"] = time.perf_counter() - started
            if not claimed:
                raise RuntimeError("fast-path sample found no spare schema to claim")
            return claimed

        pool.spare_schema_claim = timed_claim  # type: ignore[assignment]
        try:
            yield
        finally:
            pool.spare_schema_claim = claim  # type: ignore[assignment]
        return

    def timed(fn: Callable[[str], None]) -> Callable[[str], None]:
        def run(schema: str) -> None:
            started = time.perf_counter()
            fn(schema)
            clock["schema"] = time.perf_counter() - started

        return run

    name = (
        "create_schema_by_migrations" if method == "migrations" else "create_schema_from_snapshot"
    )
    original = getattr(snapshot, name)
    setattr(snapshot, name, timed(clone_from_base if method == "clone" else original))
    try:
        yield
    finally:
        setattr(snapshot, name, original)


def provision(method: str, slug: str, owner: Any) -> tuple[Any, float, float]:
    """Provision one organization by `method`; return (tenant, total s, schema-step s).

    For the fast path one spare is made first (not timed); the sample fails if it was not
    the spare that became the schema.
    """
    from tenants.pool import spare_schemas_ready, spare_schemas_refill
    from tenants.services import provision_tenant

    clock = {"schema": float("nan")}
    size = 1 if method == "pool" else 0
    if size:
        spare_schemas_refill(size=size)
    with pool_size(size), schema_step(method, clock):
        started = time.perf_counter()
        tenant = provision_tenant(
            slug=slug,
            name=f"Bench {slug}",
            owner=owner,
            method="migrations" if method == "migrations" else "snapshot",
        )
        total = time.perf_counter() - started
    assert not size or spare_schemas_ready() == 0, "the spare was not claimed"
    return tenant, total, clock["schema"]


def schema_signature(schema: str) -> set[tuple[Any, ...]]:
    """Relations, column counts, constraints and starter-row counts of `schema`."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT 'relation', c.relkind::text || ' ' || c.relname,
                   (SELECT count(*) FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s
            UNION ALL
            SELECT 'constraint', co.contype::text || ' ' || co.conname, 0 FROM pg_constraint co
            JOIN pg_namespace n ON n.oid = co.connamespace WHERE n.nspname = %s
            """,
            [schema, schema],
        )
        items = set(cur.fetchall())
        for table in ("django_migrations", "django_content_type", "crm_pipeline", "crm_stage"):
            cur.execute(f'SELECT count(*) FROM "{schema}"."{table}"')  # noqa: S608
            items.add(("rows", table, cur.fetchone()[0]))
    return items


def check_equivalence(owner: Any) -> dict[str, str]:
    """Provision once by each method; describe how each schema differs from the migrated one."""
    from tenants.services import tenant_delete

    signatures = {}
    for method in METHODS:
        tenant, _, _ = provision(method, f"check-{method}", owner)
        signatures[method] = schema_signature(tenant.schema_name)
        tenant_delete(tenant=tenant)
    reference = signatures["migrations"]
    verdicts = {}
    for method in ("pool", "snapshot", "clone"):
        missing = sorted({str(x[1]).split(" ", 1)[-1] for x in reference - signatures[method]})
        extra = sorted({str(x[1]).split(" ", 1)[-1] for x in signatures[method] - reference})
        verdicts[method] = (
            "identical"
            if not missing and not extra
            else f"differs: no {', '.join(missing) or '-'}; instead {', '.join(extra) or '-'}"
        )
    return verdicts


def _fill_worker(job: tuple[list[int], int]) -> int:
    """In a forked child: provision the filler organizations numbered in `job`."""
    from django.db import connections

    from iam.models import User
    from tenants.services import provision_tenant

    numbers, owner_pk = job
    owner = User.objects.get(pk=owner_pk)
    for i in numbers:
        provision_tenant(slug=f"fill-{i:05d}", name=f"Filler {i}", owner=owner)
    connections.close_all()
    return len(numbers)


def fill_to(level: int, existing: int, owner: Any, workers: int) -> float:
    """Add filler organizations through the fast path until there are `level`; return seconds.

    Filler is not measured, so it is spread over `workers` forked processes.
    """
    from django.db import connections

    started = time.perf_counter()
    numbers = list(range(existing, level))
    if not numbers:
        return 0.0
    connections.close_all()  # children must not share the parent's socket
    chunks = [(numbers[i : i + 100], owner.pk) for i in range(0, len(numbers), 100)]
    done = 0
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for count in pool.imap_unordered(_fill_worker, chunks):
            done += count
            if done % 1000 == 0 or done == len(numbers):
                rate = done / (time.perf_counter() - started)
                print(f"  filler: {existing + done:,}/{level:,} ({rate:.0f}/s)", flush=True)
    return time.perf_counter() - started


def settle() -> None:
    """VACUUM ANALYZE the system catalogs and public tables, as autovacuum would eventually.

    Adding thousands of schemas in a burst leaves the catalogs unvacuumed and unanalyzed; a
    database that grew to this size over months would not be, whichever method it then uses.
    """
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname IN ('pg_catalog', 'public')
            """
        )
        tables = [row[0] for row in cur.fetchall()]
        cur.execute("VACUUM (ANALYZE) " + ", ".join(tables))


def catalog_size() -> tuple[int, float]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class")
        relations = cur.fetchone()[0]
        cur.execute("SELECT pg_database_size(current_database())")
        size = cur.fetchone()[0] / 1024 / 1024
    return relations, size


def measure_level(level: int, owner: Any, counts: dict[str, int], rng: random.Random) -> Level:
    """Provision and delete organizations by every method, interleaved, at `level` tenants."""
    from tenants.models import Tenant
    from tenants.services import tenant_delete

    assert Tenant.objects.count() == level
    for method in METHODS:  # warm-up: first-call costs (clone function, caches) not measured
        tenant, _, _ = provision(method, f"warm-{level}-{method}", owner)
        tenant_delete(tenant=tenant)
    plan = [m for m in METHODS for _ in range(counts[m])]
    rng.shuffle(plan)
    samples = {m: Samples() for m in METHODS}
    for seq, method in enumerate(plan):
        tenant, total, schema = provision(method, f"m{level}-{seq:04d}", owner)
        samples[method].total.append(total)
        samples[method].schema.append(schema)
        tenant_delete(tenant=tenant)
    assert Tenant.objects.count() == level
    relations, size = catalog_size()
    return Level(level, samples, 0.0, relations, size)


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def results_table(levels: list[Level]) -> str:
    rows = []
    for lvl in levels:
        fast_p50 = report.median(lvl.samples["pool"].total)
        for method in METHODS:
            s = lvl.samples[method]
            p50 = report.median(s.total)
            rows.append(
                [
                    f"{lvl.tenants:,}",
                    LABELS[method],
                    len(s.total),
                    ms(p50),
                    ms(report.percentile(s.total, 95)),
                    ms(report.percentile(s.total, 99)),
                    ms(report.median(s.schema)),
                    "1×" if method == "pool" else f"{p50 / fast_p50:,.1f}×",
                ]
            )
    headers = [
        "existing tenants",
        "method",
        "n",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "schema step p50 ms",
        "p50 vs fast path",
    ]
    return report.table(headers, rows)


def targets(levels: list[Level]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the top level against the zero level."""
    top, bottom = levels[-1], levels[0]
    fast = top.samples["pool"].total
    p99 = report.percentile(fast, 99) * 1000
    flat = report.median(fast) / report.median(bottom.samples["pool"].total)
    vs_mig = report.median(top.samples["migrations"].total) / report.median(fast)
    vs_clone = report.median(top.samples["clone"].total) / report.median(fast)
    n = f"{top.tenants:,}"
    return [
        (f"fast path p99 ≤ {TARGET_P99_MS:.0f} ms at {n} tenants", f"{p99:.1f} ms", p99 <= 150),
        (
            f"flat: fast path p50 at {n} ≤ {TARGET_FLAT}× p50 at {bottom.tenants:,}",
            f"{flat:.2f}×",
            flat <= TARGET_FLAT,
        ),
        (
            f"≥ {TARGET_VS_MIGRATIONS:.0f}× faster than migrations at {n} (p50s)",
            f"{vs_mig:,.1f}×",
            vs_mig >= TARGET_VS_MIGRATIONS,
        ),
        (
            f"≥ {TARGET_VS_CLONE:.0f}× faster than clone at {n} (p50s)",
            f"{vs_clone:,.1f}×",
            vs_clone >= TARGET_VS_CLONE,
        ),
    ]


def render(
    args: argparse.Namespace,
    levels: list[Level],
    facts: dict[str, str],
    same: dict[str, str],
    seconds: float,
) -> str:
    target_rows = [[t, m, report.verdict(ok)] for t, m, ok in targets(levels)]
    level_rows = [
        [
            f"{lvl.tenants:,}",
            f"{lvl.filler_seconds:.0f} s",
            f"{lvl.relations:,}",
            f"{lvl.db_mb:,.0f} MB",
        ]
        for lvl in levels
    ]
    quick = " (quick smoke run: small counts, not the target levels)" if args.quick else ""
    return "\n".join(
        [
            "## Provisioning a new organization",
            "",
            f"- command: `{report.command_line()}` (`make bench` runs it inside the devstack)"
            + quick,
            f"- date: {report.today()}; wall time {seconds / 60:.1f} min",
            *report.machine_facts(facts),
            f"- samples per level: fast path {args.fast_samples}, snapshot replay "
            f"{args.replay_samples}, clone {args.clone_samples}, migrations "
            f"{args.migrations_samples}; methods interleaved in a shuffled order, "
            "each organization deleted right after it is measured so the count stays at the "
            "level; one unmeasured warm-up per method and level",
            "- every method is a full `provision_tenant` (tenant row, domain, schema, owner "
            "membership, default pipeline) in one transaction; only the schema step differs. "
            "Fast path = the warm pool: a spare schema (made by the snapshot replay just before "
            "the sample, with the default pipeline the pool puts into every spare, not timed) is "
            "claimed with `FOR UPDATE SKIP LOCKED` and renamed, and the refill task is queued to "
            "Redis on commit (timed). Snapshot replay = the same call with the pool empty (it "
            "creates the pipeline itself, timed). "
            "Clone = `django_tenants.clone.CloneSchema().clone_schema()` from a migrated base "
            "schema, swapped in for `create_schema_from_snapshot`. Existing tenants are real "
            f"schemas made by the snapshot replay ({args.fill_workers} processes, not measured); "
            "after adding them the system catalogs and public tables are `VACUUM ANALYZE`d "
            "and the connection reopened, so every level is measured settled, as autovacuum "
            "would leave it.",
            "- schema made by each method compared with the one migrations make (relations, "
            f"column counts, constraint names, starter rows): fast path {same['pool']}; "
            f"snapshot replay {same['snapshot']}; clone {same['clone']}",
            "- percentiles interpolate linearly between samples: with fewer than 100 samples "
            "p99 lies between the two slowest, i.e. it is close to the maximum",
            "",
            report.table(["target", "measured", "result"], target_rows),
            "",
            results_table(levels),
            "",
            "`schema step` is the schema-creating call alone (`spare_schema_claim`, "
            "`create_schema_from_snapshot`, the clone, or `create_schema_by_migrations`); the "
            "rest of each provisioning is the rows, the domain, the membership, the default "
            "pipeline (not for the warm pool: its spares hold it already) and the commit.",
            "",
            report.table(
                ["existing tenants", "time to add filler tenants", "pg_class rows", "database"],
                level_rows,
            ),
        ]
    )


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    server = benchdb.server_url()
    facts = benchdb.server_facts(server)
    url = benchdb.recreate(server, DATABASE)
    try:
        setup_django(url)
        from django.db import connections

        owner = prepare()
        same = check_equivalence(owner)
        for method, verdict in same.items():
            print(f"{method} schema vs migrated schema: {verdict}", flush=True)
        counts = {
            "pool": args.fast_samples,
            "snapshot": args.replay_samples,
            "clone": args.clone_samples,
            "migrations": args.migrations_samples,
        }
        rng = random.Random(args.seed)
        levels: list[Level] = []
        existing = 0
        for level in args.levels:
            filler = fill_to(level, existing, owner, args.fill_workers)
            existing = level
            settle()
            connections.close_all()  # every level starts on a fresh connection
            print(f"level {level:,}: filler took {filler:.0f} s, measuring…", flush=True)
            lvl = measure_level(level, owner, counts, rng)
            lvl.filler_seconds = filler
            levels.append(lvl)
            print(results_table([lvl]), flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            benchdb.drop(server, DATABASE)
    body = render(args, levels, facts, same, time.perf_counter() - started)
    print()
    print(body)
    if args.write_doc:
        report.write_section("provision", body)
        print(f"\nwrote {report.DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
