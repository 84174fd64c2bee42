"""The host → organization cache: other processes hear of a suspension through Redis, and
a process that can't hear keeps answers only briefly."""

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.test import Client

from tenants import routing
from tenants.models import Tenant
from tenants.services import tenant_suspend
from tests.conftest import host_of

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
