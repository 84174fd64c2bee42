"""Host names → tenants, with a short in-process cache in front of the Domain table."""

import functools
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from .models import Domain, Tenant


@dataclass(frozen=True)
class HostMatch:
    """What a request's host name resolved to: the public site, a tenant, or nothing."""

    is_public: bool
    tenant: Tenant | None


# A cache miss costs this one statement, written out: with many organizations and little
# traffic each, most requests can be misses, and the ORM spends twice as long compiling the
# equivalent query as PostgreSQL spends answering it.
_TENANT_OF_HOST_SQL = f"""
    SELECT t.* FROM {Domain._meta.db_table} d JOIN {Tenant._meta.db_table} t ON t.id = d.tenant_id
    WHERE d.domain = %s
"""  # noqa: S608 - table names from the models, the host is a parameter
_PUBLIC = HostMatch(is_public=True, tenant=None)
_NOTHING = HostMatch(is_public=False, tenant=None)
_cache: dict[str, tuple[float, HostMatch]] = {}
_lock = threading.Lock()


def tenant_host(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def public_hosts() -> frozenset[str]:
    return _public_hosts(settings.BASE_DOMAIN)


@functools.lru_cache(maxsize=8)
def _public_hosts(base: str) -> frozenset[str]:
    return frozenset({base, f"www.{base}"})


def resolve_host(host: str) -> HostMatch:
    """Resolve a bare host name (no port), caching answers for TENANT_HOST_CACHE_SECONDS.

    Suspension and deletion call `forget_host`, so this process sees them at once; other
    processes see them within the cache lifetime.
    """
    host = host.lower().rstrip(".")
    if host in public_hosts():
        return _PUBLIC
    ttl = settings.TENANT_HOST_CACHE_SECONDS
    now = time.monotonic()
    if ttl > 0:
        hit = _cache.get(host)  # a dict read is atomic; writes take the lock
        if hit is not None and hit[0] > now:
            return hit[1]
    tenant = next(iter(Tenant.objects.raw(_TENANT_OF_HOST_SQL, [host])), None)
    match = HostMatch(is_public=False, tenant=tenant) if tenant else _NOTHING
    if ttl > 0 and tenant is not None:
        with _lock:
            _cache[host] = (now + ttl, match)
    return match


def forget_host(host: str) -> None:
    with _lock:
        _cache.pop(host.lower(), None)


def forget_all_hosts() -> None:
    with _lock:
        _cache.clear()
