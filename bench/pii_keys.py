"""Cost of PII encryption where users feel it, and of rotating the Vault key.

1. The contact list API (50 rows a page) with the rows' e-mail and phone encrypted vs the
   same rows stored as plaintext (the values the field reads without decrypting, as before
   encryption): same view, same process, interleaved rounds.
2. Rotating the Transit key across 1,000 tenants: every wrapped key is rewrapped in Vault;
   no field value is rewritten.

    python bench/pii_keys.py            # full run, rewrites its section of docs/benchmarks.md
    python bench/pii_keys.py --quick    # smoke run, writes nothing unless --write
"""

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import benchdb, report  # noqa: E402

DATABASE = "mycrm_bench_pii_keys"
ROWS = 50


def parse_args() -> argparse.Namespace:
    return report.quick_or_full_arguments(__doc__).parse_args()


def setup() -> None:
    benchdb.django_on_fresh_database(DATABASE, with_snapshot=True)


def contact_list_pages(rounds: int, requests_per_round: int) -> dict[str, list[float]]:
    """Median ms per page of each round, for the encrypted and the plaintext organization,
    and (`added`) the median per round of the difference between paired requests."""
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import tenant_context

    from crm.models import Contact
    from iam.services import api_token_create
    from tenants.services import provision_tenant
    from tests.factories import UserFactory

    clients = {}
    for side in ("encrypted", "plaintext"):
        owner = UserFactory(email=f"owner@{side}.bench")
        tenant = provision_tenant(slug=f"bench-{side}", name=side, owner=owner)
        _, token = api_token_create(user=owner, tenant=tenant, name="bench")
        with tenant_context(tenant):
            rows = [
                Contact.objects.create(
                    first_name=f"Person {i}",
                    last_name="Bench",
                    email=f"person{i}@bench.test",
                    phone=f"+1 555 01{i:02d}",
                    address=f"{i} Main Street\nSpringfield",
                    birthday=dt.date(1980, 1, 1 + i % 28),
                )
                for i in range(ROWS)
            ]
            if side == "plaintext":
                with connection.cursor() as cur:
                    for c in rows:
                        cur.execute(
                            "UPDATE crm_contact SET email = %s, phone = %s, address = %s, "
                            "birthday = %s WHERE id = %s",
                            [
                                f"person{c.pk}@bench.test",
                                f"+1 555 01{c.pk:02d}",
                                f"{c.pk} Main Street\nSpringfield",
                                dt.date(1980, 1, 1 + c.pk % 28).isoformat(),
                                c.pk,
                            ],
                        )
        clients[side] = Client(
            HTTP_HOST=f"bench-{side}.localhost", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
    results: dict[str, list[float]] = {"encrypted": [], "plaintext": [], "added": []}
    for client in clients.values():  # warm-up
        assert len(client.get(f"/api/v1/contacts/?page_size={ROWS}").json()["results"]) == ROWS
    # Requests alternate one by one (which side goes first alternating too), so a change in
    # the machine's speed during a round hits both sides alike; `added` is the median of the
    # paired differences.
    for _ in range(rounds):
        times: dict[str, list[float]] = {"encrypted": [], "plaintext": []}
        for i in range(requests_per_round):
            for side in ("encrypted", "plaintext") if i % 2 == 0 else ("plaintext", "encrypted"):
                started = time.perf_counter()
                clients[side].get(f"/api/v1/contacts/?page_size={ROWS}")
                times[side].append((time.perf_counter() - started) * 1000)
        for side, measured in times.items():
            results[side].append(report.median(measured))
        results["added"].append(
            report.median(
                [e - p for e, p in zip(times["encrypted"], times["plaintext"], strict=True)]
            )
        )
    return results


def decryption_floor(values: int) -> tuple[float, float]:
    """Milliseconds to decrypt `values` typical field values (best of 7 runs), with nothing
    around it: by the AES-256-GCM call alone (a ready key object), and by
    `pii.crypto.decrypt` (the stored text: parse, base64, cached key, associated data). The
    first is the least that encrypting each value separately can add to a page; the second
    what this format's decryption adds before Django and DRF handle a value."""
    import timeit

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from django_tenants.utils import tenant_context

    from pii import crypto
    from tenants.models import Tenant

    aead = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    aad = b"mycrm/v1/1/crm.contact.email:0f6c2a8e-4b1d-4c6e-9a57-3d2e1f0b9c84/1"
    sealed = aead.encrypt(nonce, b"person17@bench.test", aad)
    tenant = Tenant.objects.get(slug="bench-encrypted")
    field = "crm.contact.email:0f6c2a8e-4b1d-4c6e-9a57-3d2e1f0b9c84"
    with tenant_context(tenant):
        token = crypto.encrypt(tenant_id=tenant.pk, field=field, value="person17@bench.test")

        def by_format() -> str:
            return crypto.decrypt(tenant_id=tenant.pk, field=field, token=token)

        by_format()  # the key is in the cache, as on a page
        runs = {
            "aes": timeit.repeat(lambda: aead.decrypt(nonce, sealed, aad), number=20_000, repeat=7),
            "format": timeit.repeat(by_format, number=20_000, repeat=7),
        }
    return tuple(min(r) / 20_000 * values * 1000 for r in runs.values())  # type: ignore[return-value]


def vault_rotation(tenants: int) -> tuple[float, int, int]:
    """Seconds to rotate the Transit key and rewrap every key of `tenants` tenants, with the
    number of keys rewrapped and of contact rows changed (must be 0)."""
    from django.db import connection

    from pii import keys
    from pii.models import TenantKey
    from pii.services import vault_key_rotate
    from tenants.models import Tenant

    made = Tenant.objects.bulk_create(
        Tenant(schema_name=f"t_rot{i:05d}", slug=f"rot{i:05d}", name="Rotation")
        for i in range(tenants)
    )
    for tenant in made:
        keys.current_key(tenant.pk, TenantKey.Purpose.DATA)
        keys.current_key(tenant.pk, TenantKey.Purpose.INDEX)
    with connection.cursor() as cur:
        cur.execute("SELECT sum(n_tup_upd) FROM pg_stat_user_tables WHERE relname = 'crm_contact'")
        updates_before = int(cur.fetchone()[0] or 0)
    started = time.perf_counter()
    _, rewrapped = vault_key_rotate()
    seconds = time.perf_counter() - started
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT sum(n_tup_upd) FROM pg_stat_user_tables WHERE relname = 'crm_contact'")
        updates_after = int(cur.fetchone()[0] or 0)
    return seconds, rewrapped, updates_after - updates_before


def main() -> None:
    args = parse_args()
    rounds, per_round, tenants = (3, 20, 50) if args.quick else (7, 100, 1_000)
    setup()
    began = time.perf_counter()
    pages = contact_list_pages(rounds, per_round)
    enc, plain = report.median(pages["encrypted"]), report.median(pages["plaintext"])
    added = report.median(pages["added"])
    slower = added / plain
    aes_only, by_format = decryption_floor(ROWS * 4)
    seconds, rewrapped, rows_changed = vault_rotation(tenants)
    targets = [
        ("contact list: ≤ 0.2 ms added per page", f"{added:.3f} ms", report.verdict(added <= 0.2)),
        ("contact list: ≤ 5% slower", f"{slower * 100:.1f}%", report.verdict(slower <= 0.05)),
        (
            f"Vault key rotation across {tenants:,} tenants ≤ 10 s",
            f"{seconds:.2f} s",
            report.verdict(seconds <= 10),
        ),
        ("rotation rewrites no row", f"{rows_changed} rows", report.verdict(rows_changed == 0)),
    ]
    body = "\n".join(
        [
            "## PII encryption: contact list overhead and Vault key rotation",
            "",
            f"- command: `{report.command_line()}` (`make bench` runs it inside the devstack)",
            f"- date: {report.today()}; wall time {time.perf_counter() - began:.0f} s",
            *report.machine_facts(benchdb.server_facts(os.environ["DATABASE_URL"])),
            f"- contact list: `GET /api/v1/contacts/?page_size={ROWS}` through the Django test "
            f"client in one process, Bearer token; {ROWS} rows with 4 encrypted fields each "
            "(e-mail, phone, postal address, birthday), either encrypted or stored as plaintext "
            "in the same columns (read without decryption); "
            f"{rounds} rounds of {per_round} requests per side, the two sides alternating "
            "request by request; *added* is the median over rounds of each round's median "
            "difference between paired requests, *slower* is that over the plaintext median",
            f"- rotation: {tenants:,} tenants with a data and an index key each "
            f"({rewrapped:,} wrapped keys), `pii.services.vault_key_rotate()` (Transit rotate + "
            "rewrap in batches of 250 + bulk update)",
            "",
            report.table(("target", "measured", "result"), targets),
            "",
            f"Decrypting the page's {ROWS * 4} values with nothing around it (best of 7 runs, "
            f"key cached): the AES-256-GCM call alone takes {aes_only:.3f} ms, and "
            f"`pii.crypto.decrypt` (parse, base64, associated data, AES-GCM) {by_format:.3f} ms. "
            + (
                "The second is already more than the 0.2 ms the target allows, before the "
                "model fields, DRF and the longer ciphertext rows add their part. The AES-GCM "
                f"call alone leaves {(0.2 - aes_only) / (ROWS * 4) * 1000:.2f} µs a value for "
                "everything else; the rest of `pii.crypto.decrypt` (splitting the text, "
                "base64, key lookup, associated data: a few tenths of a µs each in CPython) "
                f"takes {(by_format - aes_only) / (ROWS * 4) * 1000:.2f} µs. Meeting the target "
                "would take another format (one ciphertext per row instead of per value, "
                "which the per-value associated data rules out) or decryption outside Python."
                if by_format > 0.2 and aes_only < 0.2
                else "Both are measured as they are; compare them with the 0.2 ms target."
            ),
            "",
            report.table(
                ("contact list", "ms per page (median)", "rounds"),
                [
                    ("encrypted", f"{enc:.2f}", " ".join(f"{x:.2f}" for x in pages["encrypted"])),
                    ("plaintext", f"{plain:.2f}", " ".join(f"{x:.2f}" for x in pages["plaintext"])),
                    ("added", f"{added:.2f}", " ".join(f"{x:.2f}" for x in pages["added"])),
                ],
            ),
        ]
    )
    print(body)
    if not args.quick or args.write:
        report.write_section("pii-keys", body)
        print("wrote docs/benchmarks.md")
    benchdb.drop(benchdb.server_url(), DATABASE)


if __name__ == "__main__":
    main()
