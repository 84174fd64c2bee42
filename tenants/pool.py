"""A warm pool of spare tenant schemas: provisioning renames one instead of building a schema.

A spare is made by replaying the DDL snapshot (so it is identical to a migrated schema) under a
name `spare_<random>` and recorded in `SpareSchema` with the key of the snapshot it came from.
Spares are not tenants: without a Tenant row or a domain, routing, `list_tenants`,
`migrate_schemas` and the operator admin never see them. Because `migrate_schemas` does not
migrate them, a spare whose snapshot key is not the current one is stale: it is never claimed,
and the refill drops it and makes a fresh one.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django_tenants.utils import schema_context

from . import snapshot
from .models import SpareSchema
from .signals import spare_schema_prepared
from .snapshot import quote_identifier as _q

log = structlog.get_logger(__name__)

SPARE_PREFIX = "spare_"
_REFILL_LOCK_ID = 0x6D7963726E  # advisory lock: one refill step at a time, across processes

# A spare row whose schema is gone (dropped by hand) can never be claimed; the refill clears it.
_SCHEMA_MISSING = RawSQL(
    "NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = tenants_spareschema.schema_name)",
    [],
    output_field=BooleanField(),
)
# One round trip: lock the oldest usable spare that no other transaction holds, and take it
# out of the pool.
_CLAIM_SQL = """
DELETE FROM tenants_spareschema WHERE id = (
    SELECT s.id FROM tenants_spareschema s
    WHERE s.snapshot_key = %s
      AND EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = s.schema_name)
    ORDER BY s.id LIMIT 1
    FOR UPDATE OF s SKIP LOCKED
)
RETURNING schema_name
"""


@dataclass(frozen=True)
class RefillReport:
    """What one refill did: spares made and dropped, and how many usable ones are ready."""

    made: int
    dropped: int
    ready: int


def spare_key() -> str:
    """What a usable spare is made from: the current snapshot and the current set of
    `spare_schema_prepared` receivers (by dispatch_uid)."""
    uids = sorted(str(receiver[0][0]) for receiver in spare_schema_prepared.receivers)
    material = "|".join([snapshot.snapshot_key(), *uids])
    return hashlib.sha256(material.encode()).hexdigest()


def pool_is_enabled() -> bool:
    return settings.TENANT_SPARE_SCHEMAS > 0


def spare_schema_claim(schema: str) -> bool:
    """Rename a usable spare to `schema` inside the caller's transaction; False if there is none.

    SKIP LOCKED hands concurrent sign-ups different spares without making them wait. If the
    caller's transaction rolls back, the rename and the row's removal roll back with it and
    the spare is back in the pool.
    """
    if not pool_is_enabled():
        return False
    if not connection.in_atomic_block:
        raise RuntimeError("A spare schema is claimed inside the provisioning transaction.")
    with connection.cursor() as cur:
        cur.execute(_CLAIM_SQL, [spare_key()])
        row = cur.fetchone()
        if row is None:
            return False
        spare = row[0]
        cur.execute(f"ALTER SCHEMA {_q(spare)} RENAME TO {_q(schema)}")
    log.debug("tenants.spare_claimed", spare=spare, schema=schema)
    return True


def spare_schemas_ready() -> int:
    """How many spares could be claimed now (made from the current snapshot)."""
    return SpareSchema.objects.filter(snapshot_key=spare_key()).count()


def spare_schemas_refill(*, size: int | None = None) -> RefillReport:
    """Drop stale or surplus spares, then top the pool up to `size` (TENANT_SPARE_SCHEMAS).

    Each spare is dropped or made in its own short transaction under an advisory lock, so
    concurrent refills never overfill the pool and sign-ups claiming spares never wait on one.
    Safe to run any number of times.
    """
    size = settings.TENANT_SPARE_SCHEMAS if size is None else size
    if size < 0:
        raise ValueError("The pool size is 0 (no pool) or a positive count.")
    started = time.perf_counter()
    key = spare_key()
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    if size > 0:
        # Built outside the loop's transactions so a first-ever build is committed and shared.
        snapshot.snapshot_ddl()
    dropped = 0
    while _drop_one(key=key, size=size):
        dropped += 1
    made = 0
    while _make_one(key=key, size=size):
        made += 1
    ready = spare_schemas_ready()
    log.info(
        "tenants.spares_refilled",
        made=made,
        dropped=dropped,
        ready=ready,
        size=size,
        ms=round((time.perf_counter() - started) * 1000),
    )
    return RefillReport(made=made, dropped=dropped, ready=ready)


def _lock_refill() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [_REFILL_LOCK_ID])


def _drop_one(*, key: str, size: int) -> bool:
    """Drop one spare that must go: stale, without its schema, or beyond `size`."""
    with transaction.atomic():
        _lock_refill()
        unclaimable = (
            SpareSchema.objects.select_for_update(skip_locked=True)
            .alias(schema_missing=_SCHEMA_MISSING)
            .filter(~Q(snapshot_key=key) | Q(schema_missing=True))
        )
        spare: SpareSchema | None = unclaimable.first()
        if spare is None and spare_schemas_ready() > size:
            # Surplus (the size was lowered): the newest go first.
            spare = (
                SpareSchema.objects.select_for_update(skip_locked=True)
                .filter(snapshot_key=key)
                .order_by("-id")
                .first()
            )
        if spare is None:
            return False
        with connection.cursor() as cur:
            # Deferred FK checks queued in this transaction would block DROP SCHEMA.
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute(f"DROP SCHEMA IF EXISTS {_q(spare.schema_name)} CASCADE")
        stale = spare.snapshot_key != key
        spare.delete()
    log.info("tenants.spare_dropped", spare=spare.schema_name, stale=stale)
    return True


def _make_one(*, key: str, size: int) -> bool:
    """Make one spare from the current snapshot if the pool holds fewer than `size`."""
    with transaction.atomic():
        _lock_refill()
        if spare_schemas_ready() >= size:
            return False
        name = SPARE_PREFIX + secrets.token_hex(8)
        SpareSchema.objects.create(schema_name=name, snapshot_key=key)
        snapshot.create_schema_from_snapshot(name)
        with schema_context(name):
            spare_schema_prepared.send(sender=SpareSchema, schema_name=name)
    return True
