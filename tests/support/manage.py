"""Run the project's manage.py, or its Celery worker, in a process of its own, as an operator
would."""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py ARGS` with `env`; fails the test unless it exits 0."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def env_on_test_database(**extra: str) -> dict[str, str]:
    """The environment of a process that works on the (committed) test database, with a
    cold start: nothing in memory that this process holds."""
    import os
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    database_url = (
        f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{db['HOST']}:{db['PORT']}"
        f"/{db['NAME']}"
    )
    return {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **extra}


@contextmanager
def celery_worker(env: dict[str, str]) -> Iterator[None]:
    """A Celery worker on the database of `env`, as `make run` starts beside the server: it
    runs the tasks the server queues (webhooks applied, seats synced, scores, mails)."""
    process = subprocess.Popen(
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
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)
