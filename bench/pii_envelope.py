"""Field encryption: envelope encryption with a cached tenant key vs Vault Transit per value.

Encrypt + decrypt of one field value, three ways in one run against the same OpenBao:
`pii.crypto` (AES-256-GCM with the tenant's data key, unwrapped once and cached), one Transit
`encrypt` + `decrypt` call per value, and Transit's `batch_input` (250 values a call).

    python bench/pii_envelope.py            # full run, rewrites its section of docs/benchmarks.md
    python bench/pii_envelope.py --quick    # smoke run, writes nothing unless --write
"""

import argparse
import base64
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import benchdb, report  # noqa: E402

DATABASE = "mycrm_bench_pii"
VALUE = "ana.alvarez@acme-incorporated.test"
BATCH = 250


def parse_args() -> argparse.Namespace:
    return report.quick_or_full_arguments(__doc__).parse_args()


def setup() -> int:
    """A bench database with the public schema and one tenant row; returns the tenant id."""
    benchdb.django_on_fresh_database(DATABASE)
    from tenants.models import Tenant

    return int(Tenant.objects.create(schema_name="t_bench", slug="bench", name="Bench").pk)


def envelope(tenant_id: int, n: int) -> float:
    """Seconds for n encrypt+decrypt pairs through pii.crypto (key cached after the first)."""
    from pii import crypto

    crypto.decrypt(
        tenant_id=tenant_id,
        field="email",
        token=crypto.encrypt(tenant_id=tenant_id, field="email", value=VALUE),
    )
    started = time.process_time()
    for _ in range(n):
        token = crypto.encrypt(tenant_id=tenant_id, field="email", value=VALUE)
        crypto.decrypt(tenant_id=tenant_id, field="email", token=token)
    return time.process_time() - started


def transit_per_value(n: int) -> float:
    """Wall seconds for n values, each one Transit encrypt call and one decrypt call."""
    from pii import vault

    transit = vault.client().secrets.transit
    vault.transit_key_ensure("mycrm-bench")
    plaintext = base64.b64encode(VALUE.encode()).decode()
    started = time.perf_counter()
    for _ in range(n):
        sealed = transit.encrypt_data(name="mycrm-bench", plaintext=plaintext)
        transit.decrypt_data(name="mycrm-bench", ciphertext=sealed["data"]["ciphertext"])
    return time.perf_counter() - started


def transit_batch(n: int) -> float:
    """Wall seconds for n values in Transit batches of BATCH (encrypt batch + decrypt batch)."""
    from pii import vault

    transit = vault.client().secrets.transit
    plaintext = base64.b64encode(VALUE.encode()).decode()
    started = time.perf_counter()
    for _ in range(n // BATCH):
        sealed = transit.encrypt_data(
            name="mycrm-bench", batch_input=[{"plaintext": plaintext}] * BATCH
        )
        transit.decrypt_data(
            name="mycrm-bench",
            batch_input=[{"ciphertext": r["ciphertext"]} for r in sealed["data"]["batch_results"]],
        )
    return time.perf_counter() - started


def main() -> None:
    args = parse_args()
    n_env, n_call, n_batch = (20_000, 100, 1_000) if args.quick else (1_000_000, 500, 25_000)
    tenant_id = setup()
    began = time.perf_counter()
    env_s = envelope(tenant_id, n_env)
    call_s = transit_per_value(n_call)
    batch_s = transit_batch(n_batch)
    env_rate, call_rate, batch_rate = n_env / env_s, n_call / call_s, n_batch / batch_s
    rows = [
        (
            "envelope (pii.crypto, cached key)",
            f"{n_env:,}",
            f"{env_s:.2f}",
            f"{env_rate:,.0f}",
            f"{env_s / n_env * 1e6:.1f}",
            "1×",
        ),
        (
            "Transit, one call per value",
            f"{n_call:,}",
            f"{call_s:.2f}",
            f"{call_rate:,.0f}",
            f"{call_s / n_call * 1e6:.0f}",
            f"{env_rate / call_rate:,.0f}× slower",
        ),
        (
            f"Transit batch_input ({BATCH} a call)",
            f"{n_batch:,}",
            f"{batch_s:.2f}",
            f"{batch_rate:,.0f}",
            f"{batch_s / n_batch * 1e6:.1f}",
            f"{env_rate / batch_rate:,.0f}× slower",
        ),
    ]
    targets = [
        (
            "≥ 200,000 fields/s on one core (encrypt + decrypt each)",
            f"{env_rate:,.0f}/s",
            report.verdict(env_rate >= 200_000),
        ),
        (
            "1,000,000 fields in ≤ 5 s",
            f"{1_000_000 / env_rate:.1f} s",
            report.verdict(1_000_000 / env_rate <= 5),
        ),
        (
            "≥ 100× Transit one call per value",
            f"{env_rate / call_rate:,.0f}×",
            report.verdict(env_rate / call_rate >= 100),
        ),
    ]
    body = "\n".join(
        [
            "## Field encryption: envelope vs Vault Transit",
            "",
            f"- command: `{report.command_line()}` (`make bench` runs it inside the devstack)",
            f"- date: {report.today()}; wall time {time.perf_counter() - began:.0f} s",
            *report.machine_facts(benchdb.server_facts(os.environ["DATABASE_URL"])),
            f"- one field value of {len(VALUE)} characters; a *field* is one encrypt and one "
            "decrypt of it. Envelope time is CPU time of this one process (one core); Transit "
            "times are wall time against the devstack's OpenBao on the same machine.",
            "",
            report.table(("target", "measured", "result"), targets),
            "",
            report.table(
                ("method", "fields", "seconds", "fields/s", "µs per field", "vs envelope"), rows
            ),
        ]
    )
    print(body)
    if not args.quick or args.write:
        report.write_section("pii-envelope", body)
        print("wrote docs/benchmarks.md")
    benchdb.drop(benchdb.server_url(), DATABASE)


if __name__ == "__main__":
    main()
