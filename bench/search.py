"""Search speed: `GET /api/v1/search/` in one organization of 100,000 and 1,000,000 contacts
(with companies, leads and deals in proportion: a tenth, a fifth, a fifth), beside a plain
`ILIKE '%text%'` scan of the same tables for the same texts, in the same run.

Rows are generated in SQL (`generate_series`, one INSERT a table) from pools of first and
last names with accents, so 1,000,000 contacts take a minute or two rather than hours; the
search indexes are dropped for the load and built after it. E-mail addresses are encrypted
for a sample only (`--emails`, default 2,000 contacts, written through the ORM so that their
ciphertext, blind index and word digests are the real ones); every other generated row has
no e-mail address.

Three series per size, each over the same texts (whole names, prefixes, names with a typo,
parts of an e-mail address, words that find nothing), interleaved request by request:
- api: the whole request through the Django test client (Bearer token, tenant host),
- search: `crm.selectors.search.search()` alone (the statement and building the hits),
- ilike: one UNION ALL statement of the four tables with `ILIKE '%text%'` on the same
  columns, five rows a type, as a search without these indexes would run.

    python bench/search.py                 # 100,000 and 1,000,000 contacts; rewrites its section
    python bench/search.py --sizes 100000  # one size (still rewrites the section)
    python bench/search.py --quick         # 5,000 contacts, writes nothing unless --write
"""

import argparse
import os
import random
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import benchdb, report  # noqa: E402

DATABASE = "mycrm_bench_search"
FIRST = (
    "Zoë Anna Łucja Jürgen Ana José Søren Élodie Björn Chloé Mikołaj Renée Ádám Íñigo Noémie "
    "Peter Mary John Linda James Sarah Michael Emma David Olivia Daniel Sophie Thomas Laura "
    "Lukas Marta Paweł Agnieszka Hans Greta Luca Giulia Marco Francesca Pierre Camille Louis "
    "Inès Hugo Léa Jan Eva Karel Tereza Oliver Amelia Jack Isla Noah Mia Liam Ava Ethan Ella"
).split()
STEMS = (
    "Müll Schmid Schneid Fisch Web Mey Wagn Beck Schulz Hoff Kowal Nowak Wiśniew Wójcik "
    "Kamiń Lewand Zieliń Szymań Dąbrow Kozł Jankow Mazur Kwiat Krawczyk Piotrow Grab Nowick "
    "Pawłow Michal Adam Dudek Zając Wieczor Jabł Król Majew Olszew Stęp Jaworsk Malinow "
    "Gonzál Rodrígu Fernánd López Martín Sánch Pérez Gómez Jiménez Ruiz Hernánd Díaz Moren "
    "Álvar Muñoz Romer Alons Gutiérr Navarr Torr Domíngu Vázqu Ramos Gil Ramír Serran Blanc"
).split()
ENDINGS = "er ski son sen ez ová ić berg mann ini eau".split()
COMPANY_WORDS = (
    "Nordwind Łódź Société Müller Acme Initech Globex Umbrella Stark Wayne Hooli Vandelay "
    "Soylent Tyrell Cyberdyne Oceanic Aperture Gringotts Monarch Wonka Prestige Dunder"
).split()
KINDS = "Logistik Consulting Holdings Labs Systems Partners Foods Energy Media Bank".split()


def parse_args() -> argparse.Namespace:
    parser = report.quick_or_full_arguments(__doc__)
    parser.add_argument("--sizes", default="100000,1000000", help="contact counts, comma-separated")
    parser.add_argument("--emails", type=int, default=2000, help="contacts with an e-mail")
    parser.add_argument("--requests", type=int, default=400, help="requests per series and size")
    return parser.parse_args()


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _last_names() -> list[str]:
    return [stem + ending for stem in STEMS for ending in ENDINGS]


def _fill(cur: Any, table: str, count: int, given: dict[str, str]) -> None:
    """INSERT `count` rows into `table` from generate_series (`i`): the `given` column
    expressions, and a neutral value for every other column that needs one (so that columns
    added later need no change here)."""
    cur.execute(
        "SELECT column_name, data_type, is_nullable, column_default, is_identity "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s ORDER BY ordinal_position",
        [table],
    )
    neutral = {
        "text": "''",
        "character varying": "''",
        "integer": "0",
        "bigint": "0",
        "smallint": "0",
        "numeric": "0",
        "boolean": "false",
        "jsonb": "'{}'",
        "uuid": "gen_random_uuid()",
        "timestamp with time zone": "now()",
        "date": "current_date",
        "ARRAY": "'{}'",
    }
    columns, values = [], []
    for name, kind, nullable, default, identity in cur.fetchall():
        if name in given:
            columns.append(f'"{name}"')
            values.append(given[name])
        elif nullable == "NO" and default is None and identity != "YES":
            columns.append(f'"{name}"')
            values.append(neutral[kind])
    cur.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM generate_series(1, {int(count)}) AS i"
    )


def load(tenant: Any, contacts: int, emails: int, owner_id: int) -> dict[str, int]:
    """Fill the organization: `contacts` contacts, a tenth as many companies, a fifth as many
    leads and deals; `emails` of the contacts with an encrypted e-mail address."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from crm.models import Contact, Pipeline

    last = _last_names()
    counts = {
        "crm_contact": contacts - emails,
        "crm_company": contacts // 10,
        "crm_lead": contacts // 5,
        "crm_deal": contacts // 5,
    }
    with tenant_context(tenant), connection.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND (indexname LIKE '%%search%%' OR indexname LIKE '%%email_tokens')"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("SET maintenance_work_mem = '256MB'")
        first_arr = "ARRAY[" + ",".join(f"'{n}'" for n in FIRST) + "]"
        last_arr = "ARRAY[" + ",".join(f"'{n}'" for n in last) + "]"
        words = "ARRAY[" + ",".join(f"'{n}'" for n in COMPANY_WORDS) + "]"
        kinds = "ARRAY[" + ",".join(f"'{n}'" for n in KINDS) + "]"
        pick_first = f"({first_arr})[1 + (i::bigint * 7919) % {len(FIRST)}]"
        pick_last = f"({last_arr})[1 + (i::bigint * 104729) % {len(last)}]"
        company = (
            f"({words})[1 + (i::bigint * 31) % {len(COMPANY_WORDS)}] || ' ' || "
            f"({kinds})[1 + (i::bigint * 17) % {len(KINDS)}] || ' ' || i"
        )
        _fill(
            cur,
            "crm_contact",
            counts["crm_contact"],
            {"first_name": pick_first, "last_name": pick_last, "owner_id": str(owner_id)},
        )
        _fill(
            cur,
            "crm_company",
            counts["crm_company"],
            {"name": company, "domain": "'c' || i || '.example'", "owner_id": str(owner_id)},
        )
        _fill(
            cur,
            "crm_lead",
            counts["crm_lead"],
            {
                "first_name": pick_first,
                "last_name": pick_last,
                "company_name": company,
                "status": "'new'",
                "owner_id": str(owner_id),
            },
        )
        pipeline = Pipeline.objects.get(is_default=True)
        stage = pipeline.stages.order_by("position").first()
        assert stage is not None
        _fill(
            cur,
            "crm_deal",
            counts["crm_deal"],
            {
                "name": f"{company} renewal",
                "currency": "'EUR'",
                "pipeline_id": str(pipeline.pk),
                "stage_id": str(stage.pk),
                "position": "i",
                "owner_id": str(owner_id),
            },
        )
        rng = random.Random(7)
        Contact.objects.bulk_create(
            [
                Contact(
                    first_name=(f := rng.choice(FIRST)),
                    last_name=(ln := rng.choice(last)),
                    email=f"{_plain(f).lower()}.{_plain(ln).lower()}.{n}@mail{n % 50}.example.com",
                    owner_id=owner_id,
                )
                for n in range(emails)
            ],
            batch_size=1000,
        )
        began = time.perf_counter()
        for _, definition in indexes:
            cur.execute(definition)
        cur.execute("ANALYZE")
        counts["index build seconds"] = round(time.perf_counter() - began)
    counts["crm_contact"] += emails
    return counts


def texts(rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) pairs as people type them."""
    last = _last_names()
    found: list[tuple[str, str]] = []
    for _ in range(10):
        found.append(("whole name", f"{rng.choice(FIRST)} {rng.choice(last)}"))
        found.append(("name, no accents", _plain(rng.choice(last)).lower()))
        found.append(("prefix", rng.choice(last)[:3].lower()))
        name = _plain(rng.choice(last)).lower()
        cut = rng.randrange(1, len(name) - 1)
        found.append(("typo", name[:cut] + name[cut + 1 :]))
        first = _plain(rng.choice(FIRST)).lower()
        found.append(("e-mail words", f"{first}.{_plain(rng.choice(last)).lower()}"))
        found.append(("e-mail domain", f"mail{rng.randrange(50)}.example.com"))
        found.append(("company", rng.choice(COMPANY_WORDS)))
        found.append(("nothing", f"qx{rng.randrange(10**6)}zv"))
    rng.shuffle(found)
    return found


ILIKE = """
(SELECT 'contacts', id FROM crm_contact WHERE first_name || ' ' || last_name ILIKE %(t)s
 ORDER BY id DESC LIMIT 5)
UNION ALL (SELECT 'companies', id FROM crm_company WHERE name || ' ' || domain ILIKE %(t)s
 ORDER BY id DESC LIMIT 5)
UNION ALL (SELECT 'leads', id FROM crm_lead
 WHERE first_name || ' ' || last_name || ' ' || company_name ILIKE %(t)s ORDER BY id DESC LIMIT 5)
UNION ALL (SELECT 'deals', id FROM crm_deal WHERE name ILIKE %(t)s ORDER BY id DESC LIMIT 5)
"""


def measure(tenant: Any, token: str, requests: int) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import tenant_context

    from crm.selectors.search import search
    from tenants.routing import tenant_host

    client = Client(HTTP_HOST=tenant_host(tenant.slug), HTTP_AUTHORIZATION=f"Bearer {token}")
    pairs = texts(random.Random(11))
    series: dict[str, list[float]] = {"api": [], "search": [], "ilike": []}
    by_kind: dict[str, list[float]] = {}
    hits: dict[str, int] = {}
    for _, text in pairs[:20]:  # warm caches: host, keys, plans
        assert client.get("/api/v1/search/", {"q": text}).status_code == 200
    for n in range(requests):
        kind, text = pairs[n % len(pairs)]
        began = time.perf_counter()
        response = client.get("/api/v1/search/", {"q": text})
        series["api"].append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.content
        with tenant_context(tenant):
            began = time.perf_counter()
            found = search(text=text)
            took = (time.perf_counter() - began) * 1000
            series["search"].append(took)
            by_kind.setdefault(kind, []).append(took)
            hits[kind] = hits.get(kind, 0) + sum(len(h) for h in found.values())
            with connection.cursor() as cur:
                began = time.perf_counter()
                cur.execute(ILIKE, {"t": f"%{text}%"})
                cur.fetchall()
                series["ilike"].append((time.perf_counter() - began) * 1000)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return {"series": series, "by_kind": by_kind, "hits": hits, "texts": len(pairs)}


def main() -> None:
    args = parse_args()
    sizes = [5000] if args.quick else [int(s) for s in args.sizes.split(",")]
    emails = min(args.emails, 500) if args.quick else args.emails
    requests = 100 if args.quick else args.requests
    benchdb.django_on_fresh_database(DATABASE, with_snapshot=True)
    from iam.services import api_token_create
    from tenants.services import provision_tenant
    from tests.factories import UserFactory

    began = time.perf_counter()
    rows: list[list[str]] = []
    kinds_rows: list[list[str]] = []
    targets: list[tuple[str, str, str]] = []
    loads: list[str] = []
    for size in sizes:
        owner = UserFactory(email=f"owner{size}@search.bench")
        tenant = provision_tenant(slug=f"search-{size}", name=f"Search {size}", owner=owner)
        _, token = api_token_create(user=owner, tenant=tenant, name="bench")
        started = time.perf_counter()
        counts = load(tenant, size, emails, owner.pk)
        loaded = time.perf_counter() - started
        loads.append(
            f"{size:,} contacts: {counts['crm_company']:,} companies, {counts['crm_lead']:,} "
            f"leads, {counts['crm_deal']:,} deals; loaded in {loaded:.0f} s (search indexes "
            f"built in {counts['index build seconds']} s of it)"
        )
        result = measure(tenant, token, requests)
        for name, values in result["series"].items():
            rows.append(
                [
                    f"{size:,}",
                    name,
                    str(len(values)),
                    f"{report.median(values):.1f}",
                    f"{report.percentile(values, 95):.1f}",
                    f"{report.percentile(values, 99):.1f}",
                ]
            )
        for kind, values in sorted(result["by_kind"].items()):
            kinds_rows.append(
                [
                    f"{size:,}",
                    kind,
                    f"{report.median(values):.1f}",
                    f"{report.percentile(values, 95):.1f}",
                    f"{result['hits'][kind] / len(values):.1f}",
                ]
            )
        p95 = report.percentile(result["series"]["search"], 95)
        goal = 20 if size <= 100_000 else 50
        targets.append(
            (
                f"search alone p95 ≤ {goal} ms at {size:,}",
                f"{p95:.1f} ms",
                report.verdict(p95 <= goal),
            )
        )
    body = "\n".join(
        [
            "## Search",
            "",
            f"- command: `{report.command_line()}` (`make bench` runs it inside the devstack)",
            f"- date: {report.today()}; wall time {time.perf_counter() - began:.0f} s",
            *report.machine_facts(benchdb.server_facts(os.environ["DATABASE_URL"])),
            "- one organization per size; " + "; ".join(loads),
            f"- rows generated in SQL from {len(FIRST)} first names and {len(_last_names())} "
            f"last names (with accents); {emails:,} contacts of each size have an encrypted "
            "e-mail address (through the ORM, with its word digests), the rest none",
            f"- {requests} requests per series and size, cycling through 80 texts (whole names, "
            "names typed without accents, three-letter prefixes, names with a letter missing, "
            "words of an e-mail address, a mail domain, a company word, text that finds "
            "nothing), the three series interleaved request by request; *api* is the whole "
            "`GET /api/v1/search/?q=` through the Django test client, *search* the selector "
            "alone (`crm.selectors.search.search`), *ilike* a plain `ILIKE '%text%'` scan of "
            "the same four tables (5 rows a type, no ranking)",
            "- percentiles interpolate linearly between samples",
            "",
            report.table(("target", "measured", "result"), targets),
            "",
            report.table(("contacts", "series", "n", "p50 ms", "p95 ms", "p99 ms"), rows),
            "",
            "The search alone, by what was typed (hits: records found per search, all types):",
            "",
            report.table(("contacts", "typed", "p50 ms", "p95 ms", "hits"), kinds_rows),
        ]
    )
    print(body)
    if not args.quick or args.write:
        report.write_section("search", body)
        print("wrote docs/benchmarks.md")
    benchdb.drop(benchdb.server_url(), DATABASE)


if __name__ == "__main__":
    main()
