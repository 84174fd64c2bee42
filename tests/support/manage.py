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
