"""Per-tenant keys: created through Vault on first use, stored wrapped, cached unwrapped.

An unwrapped key lives only in this process's memory, for PII_KEY_CACHE_SECONDS; after
that it is unwrapped again through Vault, so a Vault outage stops new unwraps (fail closed)
while keys already in memory keep working until they expire. Which version is current is
kept for PII_KEY_CURRENT_SECONDS only, so a rotation reaches every process that soon.

A key is kept in memory, or used outside the transaction that stored it, only once its row
is durably stored, so a rollback can't leave data sealed with a key nobody stored:
- a tenant's first key is inserted and committed on a connection of its own, before the
  caller's transaction goes on (whatever that transaction does next, the key stays);
- where that can't be (the organization itself is being created by the caller's still open
  transaction, so no other connection can see it), and for a new version made by rotation,
  the row is written in the caller's transaction: the key is usable inside it and cached
  only when it commits."""

import threading
import time
from typing import Any

import psycopg
import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connection, transaction

from tenants.models import Tenant

from . import vault
from .models import TenantKey

_cache: dict[tuple[int, str, int], tuple[float, bytes, AESGCM]] = {}
_current: dict[tuple[int, str], tuple[float, int]] = {}
# Keys of rows written in a transaction that is still open (by pk, which is never reused):
# usable inside it, cached only from its commit.
_unsettled: dict[int, tuple[float, bytes, AESGCM]] = {}
_lock = threading.Lock()
log = structlog.get_logger(__name__)

_KEYS = f"public.{TenantKey._meta.db_table}"
_TENANTS = f"public.{Tenant._meta.db_table}"
# Written out for the separate connection, which must not depend on any search_path. The
# EXISTS guard leaves the row out when the organization isn't committed (yet, or any more).
_INSERT_FIRST_SQL = f"""
    INSERT INTO {_KEYS} (tenant_id, purpose, version, wrapped, vault_key, vault_key_version,
                         created_at)
    SELECT %(tenant)s, %(purpose)s, 1, %(wrapped)s, %(vault_key)s,
           %(vault_key_version)s, now()
    WHERE EXISTS (SELECT 1 FROM {_TENANTS} WHERE id = %(tenant)s)
    ON CONFLICT (tenant_id, purpose, version) DO NOTHING
    RETURNING id
"""  # noqa: S608 - table names from the models, values are parameters
_TENANT_SQL = f"SELECT 1 FROM {_TENANTS} WHERE id = %s"  # noqa: S608


def transit_key_of(tenant_id: int) -> str:
    """The Vault Transit key that wraps this organization's keys, and only its keys: deleting
    the organization deletes it, so no copy of its wrapped keys can be unwrapped again."""
    return f"{settings.PII_TRANSIT_KEY}-{tenant_id}"


def _now() -> float:
    return time.monotonic()


def _entry_for(key: bytes) -> tuple[float, bytes, AESGCM]:
    return (_now() + float(settings.PII_KEY_CACHE_SECONDS), key, AESGCM(key))


def _remember(tenant_id: int, purpose: str, version: int, key: bytes) -> None:
    with _lock:
        _cache[(tenant_id, purpose, version)] = _entry_for(key)


class _OrganizationNotCommitted(Exception):
    """The organization's row isn't visible to other connections."""


def _insert_committed(tenant_id: int, purpose: str, fresh: Any) -> bool:
    """Insert version 1 of a key on a connection of its own and commit it; False when it
    exists already (another process came first).

    Raises _OrganizationNotCommitted when no other connection can see the organization, or
    when its row is locked by a transaction we'd otherwise wait for (the caller's own).
    """
    own = connection.get_new_connection(connection.get_connection_params())
    try:
        own.autocommit = True
        with own.cursor() as cur:
            # The caller's transaction may hold a lock on the organization's row that the
            # foreign-key check would wait for forever: give up instead.
            cur.execute("SET lock_timeout = '2s'")
            cur.execute(
                _INSERT_FIRST_SQL,
                {
                    "tenant": tenant_id,
                    "purpose": purpose,
                    "wrapped": fresh.wrapped,
                    "vault_key": transit_key_of(tenant_id),
                    "vault_key_version": fresh.vault_key_version,
                },
            )
            if cur.fetchone() is not None:
                return True
            cur.execute(_TENANT_SQL, [tenant_id])
            if cur.fetchone() is None:
                raise _OrganizationNotCommitted
            return False
    except psycopg.errors.LockNotAvailable as exc:
        raise _OrganizationNotCommitted from exc
    finally:
        own.close()


def _create_first(tenant_id: int, purpose: str) -> TenantKey:
    """Version 1 of a tenant's key, durably stored before it is used."""
    fresh = vault.data_key_generate(transit_key_of(tenant_id))
    try:
        stored = _insert_committed(tenant_id, purpose, fresh)
    except _OrganizationNotCommitted:
        return _row_in_open_transaction(tenant_id, purpose, 1, fresh)
    if stored:
        _remember(tenant_id, purpose, 1, fresh.plaintext)
        log.info("pii.key_created", tenant=tenant_id, purpose=purpose, version=1)
    # Committed by now (by us or by whoever came first), so this transaction sees it.
    return TenantKey.objects.get(tenant_id=tenant_id, purpose=purpose, version=1)


def _row_in_open_transaction(tenant_id: int, purpose: str, version: int, fresh: Any) -> TenantKey:
    """Store a key row in the caller's transaction; its key is usable at once inside it and
    cached for everyone's use only when it commits."""
    with transaction.atomic():
        row = TenantKey.objects.create(
            tenant_id=tenant_id,
            purpose=purpose,
            version=version,
            wrapped=fresh.wrapped,
            vault_key=transit_key_of(tenant_id),
            vault_key_version=fresh.vault_key_version,
        )
    pk, entry = row.pk, _entry_for(fresh.plaintext)
    with _lock:
        _unsettled[pk] = entry

    def settle() -> None:
        with _lock:
            settled = _unsettled.pop(pk, None)
            if settled is not None:
                _cache[(tenant_id, purpose, version)] = settled
                _current.pop((tenant_id, purpose), None)

    transaction.on_commit(settle)
    return row


def current_key(tenant_id: int, purpose: str) -> tuple[int, bytes]:
    """The newest version of a tenant's key for `purpose`, created on first use."""
    version, entry = _current_entry(tenant_id, purpose)
    return version, entry[1]


def current_cipher(tenant_id: int, purpose: str) -> tuple[int, AESGCM]:
    """The newest key version for `purpose` and AES-256-GCM keyed with it."""
    hit = _current.get((tenant_id, purpose))  # the hot path: two dict reads, one clock read
    if hit is not None:
        now = time.monotonic()
        if hit[0] > now:
            entry = _cache.get((tenant_id, purpose, hit[1]))
            if entry is not None and entry[0] > now:
                return hit[1], entry[2]
    version, entry = _current_entry(tenant_id, purpose)
    return version, entry[2]


def _current_entry(tenant_id: int, purpose: str) -> tuple[int, tuple[float, bytes, AESGCM]]:
    hit = _current.get((tenant_id, purpose))  # a dict read is atomic; writes take the lock
    if hit is not None and hit[0] > _now():
        return hit[1], _entry(tenant_id, purpose, hit[1], None)
    row = (
        TenantKey.objects.filter(tenant_id=tenant_id, purpose=purpose).order_by("-version").first()
    )
    if row is None:
        row = _create_first(tenant_id, purpose)
    if row.pk not in _unsettled:
        with _lock:
            _current[(tenant_id, purpose)] = (
                _now() + float(settings.PII_KEY_CURRENT_SECONDS),
                row.version,
            )
    return row.version, _entry(tenant_id, purpose, row.version, row)


def key_for_version(
    tenant_id: int, purpose: str, version: int, *, row: TenantKey | None = None
) -> bytes:
    """A specific version of a tenant's key, unwrapped through Vault unless cached."""
    return _entry(tenant_id, purpose, version, row)[1]


def cipher_for_version(tenant_id: int, purpose: str, version: int) -> AESGCM:
    """AES-256-GCM keyed with that version of the key (built once per unwrap)."""
    entry = _cache.get((tenant_id, purpose, version))
    if entry is not None and entry[0] > time.monotonic():
        return entry[2]
    return _entry(tenant_id, purpose, version, None)[2]


def _entry(
    tenant_id: int, purpose: str, version: int, row: TenantKey | None
) -> tuple[float, bytes, AESGCM]:
    hit = _cache.get((tenant_id, purpose, version))  # a dict read is atomic; writes lock
    if hit is not None and hit[0] > _now():
        return hit
    if row is None:
        row = TenantKey.objects.get(tenant_id=tenant_id, purpose=purpose, version=version)
    unsettled = _unsettled.get(row.pk)
    if unsettled is not None:
        return unsettled  # written by this still open transaction: not cached before it commits
    _remember(tenant_id, purpose, version, vault.data_key_unwrap(row.vault_key, row.wrapped))
    return _cache[(tenant_id, purpose, version)]


def key_add_version(tenant_id: int, purpose: str) -> int:
    """Store a new version of a tenant's key in the caller's transaction and make it the
    current one; returns it. Its key is cached for everyone's use only once that commits;
    other processes take it up within PII_KEY_CURRENT_SECONDS (`current_settled_at`)."""
    fresh = vault.data_key_generate(transit_key_of(tenant_id))
    with transaction.atomic():
        latest = (
            TenantKey.objects.select_for_update()
            .filter(tenant_id=tenant_id, purpose=purpose)
            .order_by("-version")
            .first()
        )
        version = (latest.version if latest else 0) + 1
        _row_in_open_transaction(tenant_id, purpose, version, fresh)
    with _lock:
        _current.pop((tenant_id, purpose), None)
    log.info("pii.key_created", tenant=tenant_id, purpose=purpose, version=version)
    return version


def current_settled_at(tenant_id: int, purpose: str) -> float:
    """The Unix time from which every process uses the tenant's newest key version for
    new writes: its creation plus PII_KEY_CURRENT_SECONDS (and a second for clocks)."""
    newest = (
        TenantKey.objects.filter(tenant_id=tenant_id, purpose=purpose)
        .order_by("-version")
        .values_list("created_at", flat=True)
        .first()
    )
    if newest is None:
        return 0.0
    return newest.timestamp() + float(settings.PII_KEY_CURRENT_SECONDS) + 1.0


def forget_all() -> None:
    """Drop every unwrapped key from memory (tests, and after crypto-shredding)."""
    with _lock:
        _cache.clear()
        _current.clear()
        _unsettled.clear()
