"""Per-tenant keys: created through Vault on first use, stored wrapped, cached unwrapped.

An unwrapped key lives only in this process's memory, for PII_KEY_CACHE_SECONDS; after
that it is unwrapped again through Vault, so a Vault outage stops new unwraps (fail closed)
while keys already in memory keep working until they expire.
"""

import threading
import time

from django.conf import settings
from django.db import IntegrityError, transaction

from . import vault
from .models import TenantKey

_cache: dict[tuple[int, str, int], tuple[float, bytes]] = {}
_current: dict[tuple[int, str], tuple[float, int]] = {}
_lock = threading.Lock()


def _now() -> float:
    return time.monotonic()


def _remember(tenant_id: int, purpose: str, version: int, key: bytes) -> None:
    expires = _now() + float(settings.PII_KEY_CACHE_SECONDS)
    with _lock:
        _cache[(tenant_id, purpose, version)] = (expires, key)


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
    with _lock:
        hit = _current.get((tenant_id, purpose))
    if hit is not None and hit[0] > _now():
        return hit[1], key_for_version(tenant_id, purpose, hit[1])
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
    return row.version, key_for_version(tenant_id, purpose, row.version, row=row)


def key_for_version(
    tenant_id: int, purpose: str, version: int, *, row: TenantKey | None = None
) -> bytes:
    """A specific version of a tenant's key, unwrapped through Vault unless cached."""
    with _lock:
        hit = _cache.get((tenant_id, purpose, version))
    if hit is not None and hit[0] > _now():
        return hit[1]
    if row is None:
        row = TenantKey.objects.get(tenant_id=tenant_id, purpose=purpose, version=version)
    key = vault.data_key_unwrap(row.vault_key, row.wrapped)
    _remember(tenant_id, purpose, version, key)
    return key


def forget_all() -> None:
    """Drop every unwrapped key from memory (tests, and after crypto-shredding)."""
    with _lock:
        _cache.clear()
        _current.clear()
