"""The devstack run from a checkout that PostgreSQL's service user can't enter.

As root, postgres runs as the system user mycrm-pg (PostgreSQL refuses to run as root). A
checkout under root's home directory (mode 700), virtualenv included, is out of that user's
reach; the devstack must work there without anyone opening up the home directory.
"""

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.services import postgres_home

from .test_supervisor import REPO, SERVICE_VARS, TIMEOUT, USE_ALL_SERVICES

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="postgres runs as a service user only when the devstack runs as root"
)

WRITE_ROW = """
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("CREATE TABLE kept (note text)")
    conn.execute("INSERT INTO kept VALUES ('written by the first run')")
"""

READ_ROWS = """
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    table = conn.execute("SELECT to_regclass('kept')").fetchone()[0]
    rows = conn.execute("SELECT note FROM kept").fetchall() if table else []
print([note for (note,) in rows])
"""


def _pgserver_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home directory only its owner (root) may enter, like /root."""
    home = tmp_path / "root-home"
    home.mkdir()
    home.chmod(0o700)
    return home


@pytest.fixture
def checkout(home: Path) -> Iterator[Path]:
    """A checkout inside `home` whose devstack and PostgreSQL binaries both lie in it."""
    checkout = home / "mycrm"
    shutil.copytree(
        REPO / "devstack", checkout / "devstack", ignore=shutil.ignore_patterns("__pycache__")
    )
    site = checkout / ".venv" / "site-packages"
    site.mkdir(parents=True)
    pgserver = _pgserver_dir()
    (site / "pgserver").symlink_to(pgserver, target_is_directory=True)
    libs = pgserver.parent / "pgserver.libs"  # shared libraries the binaries load
    if libs.exists():
        (site / "pgserver.libs").symlink_to(libs, target_is_directory=True)
    yield checkout
    shutil.rmtree(postgres_home(checkout / ".devstack"), ignore_errors=True)


def devstack_in(checkout: Path, profile: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` inside a devstack started from `checkout` with fresh services."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(checkout), str(checkout / ".venv" / "site-packages")])
    argv = [sys.executable, "-m", "devstack", "run", "--profile", profile, "--"]
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed scripts
        [*argv, sys.executable, "-c", script],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_services_run_from_a_checkout_the_postgres_user_cannot_enter(
    home: Path, checkout: Path
) -> None:
    result = devstack_in(checkout, "test", USE_ALL_SERVICES)

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700, "the home directory was opened up"
    outside = postgres_home(checkout / ".devstack")
    assert not list(outside.glob("test-*")), "the throw-away cluster outlived its run"
    assert not list((checkout / ".devstack").glob("test-*"))


def test_dev_data_of_such_a_checkout_survives_restarts_until_its_devstack_dir_goes(
    checkout: Path,
) -> None:
    first = devstack_in(checkout, "dev", WRITE_ROW)
    assert first.returncode == 0, first.stderr

    again = devstack_in(checkout, "dev", READ_ROWS)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "['written by the first run']"

    shutil.rmtree(checkout / ".devstack" / "dev")  # how the docs say to start afresh
    fresh = devstack_in(checkout, "dev", READ_ROWS)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() == "[]"
