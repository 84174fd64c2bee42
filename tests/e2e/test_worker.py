"""A real Celery worker process takes a tenant task from Redis and runs it."""

import subprocess
import sys

import pytest
from django.core.cache import cache
from django_tenants.utils import tenant_context

from config.celery import app as celery_app
from pii.tasks import PROGRESS_KEY, tenant_reencrypt
from tenants.celery import SCHEMA_HEADER
from tenants.exceptions import TaskTenantMissing
from tenants.models import Tenant

from .conftest import ROOT

pytestmark = pytest.mark.django_db


def test_worker_process_runs_a_tenant_task(live_env: dict[str, str], tenant_b: Tenant) -> None:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=live_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with tenant_context(tenant_b):
            result = tenant_reencrypt.delay()
        assert result.get(timeout=60) == 0
        # A message that names no organization is refused by the worker before it runs.
        orphan = celery_app.send_task(tenant_reencrypt.name, headers={SCHEMA_HEADER: "public"})
        with pytest.raises(TaskTenantMissing):
            orphan.get(timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    with tenant_context(tenant_b):
        assert cache.get(PROGRESS_KEY) == {"state": "finished", "rows": 0}
