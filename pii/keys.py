"""Per-tenant keys: created through Vault on first use, stored wrapped, cached unwrapped.

An unwrapped key lives only in this process's memory, for PII_KEY_CACHE_SECONDS; after
that it is unwrapped again through Vault, so a Vault outage stops new unwraps (fail closed)
while keys already in memory keep working until they expire.
"""

import threading
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction

from . import vault
from .models import TenantKey

_cache: dict[tuple[int, str, int], tuple[float, bytes, AESGCM]] = {}
_current: dict[tuple[int, str], tuple[float, int]] = {}
_lock = threading.Lock()


def _now() -> float:
    return time.monotonic()


def _remember(tenant_id: int, purpose: str, version: int, key: bytes) -> None:
    expires = _now() + float(settings.PII_KEY_CACHE_SECONDS)
    with _lock:
        _cache[(tenant_id, purpose, version)] = (expires, key, AESGCM(key))


def _create_first(tenant_id: int, purpose: str) -> TenantKey:
    name = settings.PII_TRANSIT_KEY
    fresh = vault.data_key_generate(name)
    try:
        with transaction.atomic():
            row = TenantKey.objects.create(
                tenant_id=tenant_id,
                purpose=purpose,
                version=1,
                wrapped=fresh.wrapped,
                vault_key=name,
                vault_key_version=fresh.vault_key_version,
            )
    except IntegrityError:
        # Another process created it first; theirs is the key.
        return TenantKey.objects.get(tenant_id=tenant_id, purpose=purpose, version=1)
    _remember(tenant_id, purpose, 1, fresh.plaintext)
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
    with _lock:
        _current[(tenant_id, purpose)] = (
            _now() + float(settings.PII_KEY_CACHE_SECONDS),
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
    _remember(tenant_id, purpose, version, vault.data_key_unwrap(row.vault_key, row.wrapped))
    return _cache[(tenant_id, purpose, version)]


def key_add_version(tenant_id: int, purpose: str) -> int:
    """Store a new version of a tenant's key and make it the current one; returns it."""
    name = settings.PII_TRANSIT_KEY
    fresh = vault.data_key_generate(name)
    with transaction.atomic():
        latest = (
            TenantKey.objects.select_for_update()
            .filter(tenant_id=tenant_id, purpose=purpose)
            .order_by("-version")
            .first()
        )
        version = (latest.version if latest else 0) + 1
        TenantKey.objects.create(
            tenant_id=tenant_id,
            purpose=purpose,
            version=version,
            wrapped=fresh.wrapped,
            vault_key=name,
            vault_key_version=fresh.vault_key_version,
        )
    _remember(tenant_id, purpose, version, fresh.plaintext)
    with _lock:
        _current.pop((tenant_id, purpose), None)
    return version


def forget_all() -> None:
    """Drop every unwrapped key from memory (tests, and after crypto-shredding)."""
    with _lock:
        _cache.clear()
        _current.clear()
