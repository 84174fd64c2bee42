"""The host → organization cache: other processes hear of a suspension through Redis, and
a process that can't hear keeps answers only briefly."""

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.test import Client

from tenants import routing
from tenants.models import HostAnnouncement, Tenant
from tenants.services import provision_tenant, tenant_delete, tenant_suspend
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def subscribed() -> Iterator[None]:
    routing._listener.ensure_running()
    assert _eventually(lambda: routing._listener.subscribed), "listener never subscribed"
    yield


@pytest.fixture
def other_process() -> Iterator["redis.Redis[bytes]"]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def _expiry(host: str) -> float:
    return routing._cache[host][0] - time.monotonic()


def test_a_message_from_another_process_drops_the_host(
    tenant_a: Tenant, subscribed: None, other_process: "redis.Redis[bytes]"
) -> None:
    host = host_of(tenant_a)
    assert routing.resolve_host(host).tenant == tenant_a
    # Subscribed, the answer is kept long: suspensions arrive as messages.
    assert _expiry(host) > settings.TENANT_HOST_CACHE_SECONDS
    other_process.publish(routing.CHANNEL, host)
    assert _eventually(lambda: host not in routing._cache)


def test_suspension_is_announced_when_it_commits(
    tenant_a: Tenant,
    other_process: "redis.Redis[bytes]",
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    pubsub = other_process.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(routing.CHANNEL)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:  # type: ignore[attr-defined]
            tenant_suspend(tenant=tenant_a)
        assert pubsub.get_message(timeout=0.3) is None, "announced before the commit"
        for callback in callbacks:  # type: ignore[attr-defined]
            callback()
        message = pubsub.get_message(timeout=2.0)
        assert message is not None and message["data"] == host_of(tenant_a).encode()
    finally:
        pubsub.close()
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/api/v1/contacts/")
    assert response.status_code == 423


def test_a_lost_subscription_empties_the_cache_and_resubscribes(
    tenant_a: Tenant, subscribed: None, other_process: "redis.Redis[bytes]"
) -> None:
    host = host_of(tenant_a)
    routing.resolve_host(host)
    assert host in routing._cache
    # Redis drops the listener's connection: messages sent meanwhile would be missed.
    assert other_process.client_kill_filter(_type="pubsub") >= 1
    assert _eventually(lambda: host not in routing._cache)
    assert _eventually(lambda: routing._listener.subscribed)


def test_without_redis_answers_are_kept_only_briefly(
    tenant_a: Tenant, subscribed: None, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `subscribed` first: the process's own listener is settled, so it empties no cache
    # while the deaf one stands in for it.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    deaf = routing._Listener()
    monkeypatch.setattr(routing, "_listener", deaf)
    try:
        host = host_of(tenant_a)
        assert routing.resolve_host(host).tenant == tenant_a
        time.sleep(0.3)  # the listener has tried and failed by now
        assert not deaf.subscribed
        assert 0 < _expiry(host) <= settings.TENANT_HOST_CACHE_SECONDS  # type: ignore[attr-defined]
    finally:
        deaf.stop()


def test_a_host_forgotten_during_its_lookup_is_not_kept(tenant_a: Tenant) -> None:
    host = host_of(tenant_a)
    real_raw = Tenant.objects.raw

    def raw_then_forgotten(*args: object, **kwargs: object) -> object:
        rows = list(real_raw(*args, **kwargs))  # type: ignore[arg-type]
        routing._forget_locally(host)  # a suspension's message arrives mid-lookup
        return rows

    Tenant.objects.raw = raw_then_forgotten  # type: ignore[method-assign]
    try:
        assert routing.resolve_host(host).tenant == tenant_a
    finally:
        del Tenant.objects.raw
    assert host not in routing._cache


def test_the_listener_comes_back_quickly_after_each_of_several_losses(
    subscribed: None, other_process: "redis.Redis[bytes]"
) -> None:
    # Backing off is for a Redis that stays away, not for one that answered a moment ago.
    for _ in range(4):
        assert other_process.client_kill_filter(_type="pubsub") >= 1
        assert _eventually(lambda: not routing._listener.subscribed, seconds=2.0)
        assert _eventually(lambda: routing._listener.subscribed, seconds=1.5)


@pytest.mark.parametrize("change", ["suspend", "delete"])
def test_a_change_whose_message_never_came_reaches_a_subscribed_process_within_seconds(
    change: str,
    subscribed: None,
    settings: object,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    # An organization of this test's own: the deletion's commit callbacks run for real (they
    # would also delete a shared organization's Vault key for the rest of the run).
    doomed = provision_tenant(slug="unheard", name="Unheard", owner=UserFactory())
    settings.TENANT_HOST_CACHE_SECONDS = 0.5  # type: ignore[attr-defined]
    host = host_of(doomed)
    assert routing.resolve_host(host).tenant == doomed
    assert _expiry(host) > 60, "subscribed, the answer is kept long"
    # Another process makes the change, and its own Redis call fails: this process stays
    # subscribed (to the real Redis) and hears nothing. (The change is made here, so the
    # drop it makes in its own process is switched off while it runs.)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # type: ignore[attr-defined]
    with monkeypatch.context() as deaf, django_capture_on_commit_callbacks(execute=True):  # type: ignore[attr-defined]
        deaf.setattr(routing, "_forget_locally", lambda host: None)
        if change == "suspend":
            tenant_suspend(tenant=Tenant.objects.get(pk=doomed.pk))
        else:
            tenant_delete(tenant=Tenant.objects.get(pk=doomed.pk))

    def stopped_serving_it() -> bool:
        match = routing.resolve_host(host)
        return match.tenant is None or match.tenant.is_suspended

    assert _eventually(stopped_serving_it, seconds=3.0)
    assert routing._listener.subscribed, "the drop must not come from a lost subscription"


class _OtherProcess(threading.Thread):
    """A transaction on a connection of its own, as another process's would be, that
    announces `host` and commits when told to."""

    def __init__(self, host: str) -> None:
        super().__init__(daemon=True)
        self.host = host
        self.written = threading.Event()
        self.commit = threading.Event()
        self.row_id: int | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                xid = RawSQL("pg_current_xact_id()::text::bigint", [])
                self.row_id = HostAnnouncement.objects.create(host=self.host, xid=xid).pk
                self.written.set()
                assert self.commit.wait(10)
        finally:
            connection.close()

    def finish(self) -> None:
        self.commit.set()
        self.join(10)


def _delete_committed(row_ids: list[int | None]) -> None:
    def delete() -> None:
        try:
            HostAnnouncement.objects.filter(pk__in=row_ids).delete()
        finally:
            connection.close()

    worker = threading.Thread(target=delete)
    worker.start()
    worker.join(10)


def test_an_announcement_that_commits_after_a_later_one_is_still_read(
    tenant_a: Tenant, tenant_b: Tenant, subscribed: None, settings: object
) -> None:
    settings.TENANT_HOST_CACHE_SECONDS = 0  # type: ignore[attr-defined]  # read every time
    slow, fast = _OtherProcess(host_of(tenant_a)), _OtherProcess(host_of(tenant_b))
    try:
        routing.resolve_host("nothing.example")  # a read before either transaction began
        routing.resolve_host(slow.host)
        routing.resolve_host(fast.host)
        slow.start()
        assert slow.written.wait(10)
        fast.start()
        assert fast.written.wait(10)
        fast.finish()  # the later transaction commits first

        routing.resolve_host("nothing.example")
        assert fast.host not in routing._cache
        assert slow.host in routing._cache  # not committed yet: nothing to read

        slow.finish()
        routing.resolve_host("nothing.example")
        assert slow.host not in routing._cache
    finally:
        slow.finish()
        fast.finish()
        _delete_committed([slow.row_id, fast.row_id])
