"""Host names → tenants, with a short in-process cache in front of the Domain table."""

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


_PUBLIC = HostMatch(is_public=True, tenant=None)
_NOTHING = HostMatch(is_public=False, tenant=None)
_cache: dict[str, tuple[float, HostMatch]] = {}
_lock = threading.Lock()


def tenant_host(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def public_hosts() -> frozenset[str]:
    base = settings.BASE_DOMAIN
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
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    match = HostMatch(is_public=False, tenant=domain.tenant) if domain else _NOTHING
    if ttl > 0 and domain is not None:
        with _lock:
            _cache[host] = (now + ttl, match)
    return match


def forget_host(host: str) -> None:
    with _lock:
        _cache.pop(host.lower(), None)


def forget_all_hosts() -> None:
    with _lock:
        _cache.clear()
