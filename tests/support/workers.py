"""Each pytest-xdist worker gets the devstack's services of its own, all but PostgreSQL.

The workers share the devstack's PostgreSQL: pytest-django gives each its own test database
(`test_mycrm_gw0`, `test_mycrm_gw1`, ...), and everything the suite keeps in PostgreSQL lives in
that database. Redis and OpenBao hold state that no database name separates:

- Redis: cache keys (rate-limit counters, one-time link nonces, task progress), the Celery
  queue and results, and the host cache's pub/sub channel, which is server-wide whatever the
  database number; some tests even drop every subscriber's connection on purpose.
- OpenBao: Transit keys are named after organization ids, which both test databases number
  alike (`mycrm-tenant-keys-1` would be alpha of every worker), and tests enable auth methods,
  write policies, rotate, trim and delete keys.
- The local Stripe and the Paddle stub: one account each, with one catalog (prices looked up
  by key) and one webhook destination, which a worker's server would take from the other's.

A private server of each per worker keeps all of it apart without renaming anything in the
product: Redis starts in milliseconds, the others in about a second. They are the devstack's
own services, under `.devstack/test-<worker pid>/`, so `python -m devstack status`
lists them, they die with the worker, and the next devstack run removes what a killed worker
left behind.

What else a worker keeps apart: files (e-mails of live servers, downloads) go to its own
pytest temporary directory; live servers and Chromium instances are its own processes, on free
ports. The Hypothesis example database (`.hypothesis/`) stays shared: it keeps each test's
examples in a directory of that test's own, written atomically, and a test runs in one worker.

Loaded as a plugin (`-p tests.support.workers` in pyproject's addopts) so that it runs before
pytest-django reads the settings: the worker's URLs must be in the environment by then, and the
processes the tests start (servers, Celery workers, manage.py commands) inherit them from it.
Outside a worker (a run without `-n`) it does nothing: the devstack's services are the run's.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from devstack import STACK_ROOT
from devstack.services import (
    OpenBaoService,
    PortReservation,
    PostgresService,
    Service,
    process_start_ticks,
)
from devstack.supervisor import SERVICE_CLASSES

READY_TIMEOUT = 60.0  # generous: every worker starts its own at once, beside its database setup


class WorkerServices:
    """Every devstack service but PostgreSQL, test profile, under `run_dir`, for one process."""

    def __init__(self, run_dir: Path, label: str) -> None:
        self.run_dir = run_dir
        self.label = label
        self.services: list[Service] = []

    def start(self) -> dict[str, str]:
        """Start them and wait until they serve; return the variables pointing at them
        (REDIS_URL, VAULT_ADDR and VAULT_TOKEN, the Stripe and Paddle bases and keys)."""
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.run_dir.mkdir(parents=True)
        try:
            ports = PortReservation()
            try:
                made = [
                    cls(
                        self.run_dir,
                        "test",
                        ports.pair() if cls is OpenBaoService else ports.single(),
                    )
                    for cls in SERVICE_CLASSES
                    if cls is not PostgresService
                ]
            finally:
                ports.release()
            for service in made:
                service.start()
                self.services.append(service)
            deadline = time.monotonic() + READY_TIMEOUT
            for service in self.services:
                service.wait_ready(deadline)
            self._write_state()
        except BaseException:
            self.stop()
            raise
        return {key: value for service in self.services for key, value in service.env().items()}

    def stop(self) -> None:
        """Stop them (all at once) and remove their directory."""
        for service in self.services:
            service.terminate()
        for service in self.services:
            service.stop()
        self.services.clear()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _write_state(self) -> None:
        """Record the services as a devstack supervisor does (`state.json`), so `status` shows
        them and a later run stops any that outlived a killed worker."""
        state = {
            "profile": "test",
            "supervisor": {"pid": os.getpid(), "start_ticks": process_start_ticks(os.getpid())},
            "services": {service.name: service.state() for service in self.services},
            "command": {"argv": [self.label], "pid": None, "start_ticks": None},
        }
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=2))


_running: list[WorkerServices] = []  # this worker's, once started


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before the settings are read: point this worker at services of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or _running:
        return
    services = WorkerServices(STACK_ROOT / f"test-{os.getpid()}", f"pytest worker {worker}")
    os.environ.update(services.start())
    _running.append(services)
    # They stop when the worker process ends (each gets SIGTERM as its parent dies), not when
    # pytest is done: threads of the worker (the host cache's Redis listener) run until then,
    # and would log a lost connection into streams pytest has closed.
    atexit.register(shutil.rmtree, services.run_dir, ignore_errors=True)
