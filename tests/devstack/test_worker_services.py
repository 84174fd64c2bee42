"""Each pytest-xdist worker's own services (tests/support/workers.py): what one worker does
to Redis, OpenBao, Stripe or Paddle, another never sees."""

import json
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import hvac
import pytest
import redis
import requests

from devstack import STACK_ROOT
from devstack.services import PostgresService
from devstack.supervisor import SERVICE_CLASSES
from tests.support.workers import WorkerServices


def _vault(env: dict[str, str]) -> hvac.Client:
    session = requests.Session()
    session.trust_env = False
    return hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"], session=session)


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        return False
    return True


def test_two_workers_services_share_nothing(tmp_path: Path) -> None:
    first, second = WorkerServices(tmp_path / "one", "one"), WorkerServices(tmp_path / "two", "two")
    try:
        one, two = first.start(), second.start()
        names = {service.name for service in first.services}
        assert names == {cls.name for cls in SERVICE_CLASSES if cls is not PostgresService}
        assert one["REDIS_URL"] != two["REDIS_URL"] and one["VAULT_ADDR"] != two["VAULT_ADDR"]
        assert one["STRIPE_API_BASE"] != two["STRIPE_API_BASE"]
        assert one["PADDLE_API_BASE"] != two["PADDLE_API_BASE"]

        # Redis: keys, and pub/sub, which no database number separates.
        redis_one, redis_two = (
            redis.Redis.from_url(one["REDIS_URL"]),
            redis.Redis.from_url(two["REDIS_URL"]),
        )
        listener = redis_two.pubsub(ignore_subscribe_messages=True)
        listener.subscribe("tenants:forget-host")
        redis_one.set("probe", "1")
        assert redis_one.publish("tenants:forget-host", "alpha.localhost") == 0
        assert redis_two.get("probe") is None
        assert listener.get_message(timeout=0.3) is None
        listener.close()
        redis_one.close()
        redis_two.close()

        # OpenBao: Transit keys of the same name are two different keys.
        _vault(one).secrets.transit.create_key(name="mycrm-tenant-keys-1")
        with pytest.raises(hvac.exceptions.InvalidPath):
            _vault(two).secrets.transit.read_key(name="mycrm-tenant-keys-1")

        state = json.loads((first.run_dir / "state.json").read_text())
        assert state["supervisor"]["pid"] == os.getpid()
        assert set(state["services"]) == names
    finally:
        first.stop()
        second.stop()
    assert not first.run_dir.exists()
    assert not _listening(one["REDIS_URL"]) and not _listening(one["VAULT_ADDR"])


def test_a_worker_uses_its_own_services() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        pytest.skip("runs in a pytest-xdist worker only (`-n`)")
    from django.conf import settings

    state = json.loads((STACK_ROOT / f"test-{os.getpid()}" / "state.json").read_text())
    assert state["command"]["argv"] == [f"pytest worker {worker}"]
    ports = {name: entry["port"] for name, entry in state["services"].items()}
    assert urlsplit(settings.REDIS_URL).port == ports["redis"]
    assert urlsplit(settings.VAULT_ADDR).port == ports["openbao"]
    assert urlsplit(settings.CACHES["default"]["LOCATION"]).port == ports["redis"]
    assert urlsplit(settings.CELERY_BROKER_URL).port == ports["redis"]
