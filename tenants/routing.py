"""Host names → tenants, with a short in-process cache in front of the Domain table."""

import datetime
import functools
import math
import os
import threading
import time
from dataclasses import dataclass

import redis
import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from .models import Domain, HostAnnouncement, Tenant


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
log = structlog.get_logger(__name__)


def tenant_host(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def public_hosts() -> frozenset[str]:
    return _public_hosts(settings.BASE_DOMAIN)


@functools.lru_cache(maxsize=8)
def _public_hosts(base: str) -> frozenset[str]:
    return frozenset({base, f"www.{base}"})


def resolve_host(host: str) -> HostMatch:
    """Resolve a bare host name (no port), caching the answer in this process.

    Suspension and deletion call `forget_host`, which drops the host here at once and
    announces it in their transaction; when that commits, Redis tells every other process.
    While this process listens for that, answers are kept for
    TENANT_HOST_CACHE_SUBSCRIBED_SECONDS; while it doesn't (Redis unreachable, or not
    subscribed yet), for TENANT_HOST_CACHE_SECONDS. Either way it also reads the
    announcements committed since it last looked, every TENANT_HOST_CACHE_SECONDS, so a
    message that never came (the announcing process couldn't reach Redis) is that late at
    worst.
    """
    host = host.lower().rstrip(".")
    if host in public_hosts():
        return _PUBLIC
    _listener.ensure_running()
    ttl = (
        settings.TENANT_HOST_CACHE_SUBSCRIBED_SECONDS
        if _listener.subscribed
        else settings.TENANT_HOST_CACHE_SECONDS
    )
    now = time.monotonic()
    _announcements.catch_up(now)
    if ttl > 0:
        hit = _cache.get(host)  # a dict read is atomic; writes take the lock
        if hit is not None and hit[0] > now:
            return hit[1]
    generation = _listener.generation
    tenant = next(iter(Tenant.objects.raw(_TENANT_OF_HOST_SQL, [host])), None)
    match = HostMatch(is_public=False, tenant=tenant) if tenant else _NOTHING
    if ttl > 0 and tenant is not None:
        with _lock:
            # A host forgotten while it was being read may have been read stale: not kept.
            if generation == _listener.generation:
                _cache[host] = (now + ttl, match)
    return match


def forget_host(host: str) -> None:
    """Drop `host` from this process's cache now, and from every process's once the current
    transaction commits (at once outside one): through Redis at once, and through the
    announcement written here within TENANT_HOST_CACHE_SECONDS should that message be lost."""
    host = host.lower()
    _forget_locally(host)
    xid = RawSQL("pg_current_xact_id()::text::bigint", [])
    HostAnnouncement.objects.create(host=host, xid=xid)
    HostAnnouncement.objects.filter(created_at__lt=timezone.now() - ANNOUNCEMENTS_KEPT).delete()
    transaction.on_commit(lambda: _publish(host))


def forget_all_hosts() -> None:
    with _lock:
        _listener.generation += 1
        _cache.clear()


def _forget_locally(host: str) -> None:
    with _lock:
        _listener.generation += 1
        _cache.pop(host, None)


# --- telling other processes -------------------------------------------------------------

CHANNEL = "tenants:forget-host"
# The listener pings Redis this often, and gives the connection up (dropping the whole
# cache, since a message may have been missed) when nothing came back for LISTEN_DEAD_AFTER.
LISTEN_PING_EVERY = 2.0
LISTEN_DEAD_AFTER = 6.0


def _publish(host: str) -> None:
    _forget_locally(host)  # a read between the first drop and the commit saw the old row
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.publish(CHANNEL, host)
    except redis.RedisError:
        # Listeners may well still be subscribed: they read the committed announcement
        # within TENANT_HOST_CACHE_SECONDS instead.
        log.exception("tenants.forget_host.publish_failed", host=host)
    finally:
        client.close()


# --- announcements a process may have missed ---------------------------------------------

# Far longer than any process goes between two reads while it keeps answers.
ANNOUNCEMENTS_KEPT = datetime.timedelta(days=1)
# Every transaction with an xid below this had ended when the statement began: its rows are
# visible to any later statement, or never will be.
_XMIN_SQL = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_ANNOUNCED_SINCE_SQL = f"""
    SELECT id, host FROM {HostAnnouncement._meta.db_table} WHERE xid >= %s
"""  # noqa: S608 - the table name from the model, the xid is a parameter


class _Announcements:
    """Reads the announcements committed since this process last looked."""

    def __init__(self) -> None:
        self._xmin: int | None = None
        self._seen: set[int] = set()  # rows read last time: forgotten already
        self._read_at = -math.inf
        self._reading = threading.Lock()

    def catch_up(self, now: float) -> None:
        """Forget the hosts announced since the last read, if that was at least
        TENANT_HOST_CACHE_SECONDS ago (one thread reads; the others go on)."""
        if now - self._read_at < settings.TENANT_HOST_CACHE_SECONDS:
            return
        if not self._reading.acquire(blocking=False):
            return
        try:
            self._read_at = now
            self._read()
        finally:
            self._reading.release()

    def _read(self) -> None:
        with connection.cursor() as cur:
            # Taken before the rows are read: an announcement whose transaction had not
            # ended by then has an xid at or above it, so the next read looks again.
            cur.execute(_XMIN_SQL)
            xmin = cur.fetchone()[0]
            if self._xmin is None:
                # The first read: answers cached meanwhile were read without one before them.
                forget_all_hosts()
            else:
                cur.execute(_ANNOUNCED_SINCE_SQL, [self._xmin])
                rows = cur.fetchall()
                for row_id, host in rows:
                    if row_id not in self._seen:
                        _forget_locally(host)
                self._seen = {row_id for row_id, _ in rows}
        self._xmin = xmin


_announcements = _Announcements()


class _Listener:
    """A daemon thread per process, subscribed to CHANNEL."""

    def __init__(self) -> None:
        self.subscribed = False
        self.generation = 0
        self._pid: int | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        """End the thread within about a second (used where a listener is replaced)."""
        self._stopping.set()

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with _lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()  # a forked child starts its own
            self.subscribed = False
            threading.Thread(target=self._run, name="tenant-host-listener", daemon=True).start()

    def _run(self) -> None:
        pause = 0.5
        while not self._stopping.is_set():
            try:
                self._listen()
            except (redis.RedisError, OSError) as exc:
                log.warning("tenants.host_listener.lost", error=str(exc))
            if self.subscribed:  # it worked until now: try again soon, backing off anew
                pause = 0.5
            self._unsubscribed()
            self._stopping.wait(pause)
            pause = min(pause * 2, 30.0)

    def _listen(self) -> None:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=LISTEN_DEAD_AFTER, socket_connect_timeout=2
        )
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(CHANNEL)
            heard = pinged = time.monotonic()
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=0.5)
                now = time.monotonic()
                if message is None:
                    if now - heard > LISTEN_DEAD_AFTER:
                        raise redis.ConnectionError("no answer to pings")
                    if now - pinged > LISTEN_PING_EVERY:
                        pubsub.ping()  # answered by a "pong" message
                        pinged = now
                    continue
                heard = now
                if message["type"] == "subscribe":
                    # Anything cached before now may have missed a message.
                    forget_all_hosts()
                    self.subscribed = True
                elif message["type"] == "message":
                    _forget_locally(message["data"].decode())
        finally:
            pubsub.close()
            client.close()

    def _unsubscribed(self) -> None:
        if self.subscribed:  # answers kept long may have missed a message
            self.subscribed = False
            forget_all_hosts()


_listener = _Listener()
