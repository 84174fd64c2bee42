"""Run the project's manage.py in a process of its own, as an operator would."""

import subprocess
import sys
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
