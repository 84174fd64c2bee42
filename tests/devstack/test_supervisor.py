"""End-to-end tests of `python -m devstack run --profile test` with real services.

These may themselves run inside an outer `devstack run`, so every nested supervisor that should
start fresh services gets an environment without DATABASE_URL, REDIS_URL, VAULT_ADDR, VAULT_TOKEN.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from devstack.services import pid_alive, process_start_ticks

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / ".devstack"
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "VAULT_ADDR", "VAULT_TOKEN")
TIMEOUT = 60

USE_ALL_SERVICES = """
import json, os
import hvac, psycopg, redis, requests

with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    assert conn.execute("SELECT current_database()").fetchone()[0] == "mycrm"
    assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
    conn.execute("CREATE DATABASE test_mycrm")
    conn.execute("DROP DATABASE test_mycrm")
cache = redis.Redis.from_url(os.environ["REDIS_URL"])
assert cache.set("probe", "1") and cache.get("probe") == b"1"
session = requests.Session()
session.trust_env = False
vault = hvac.Client(os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"], session=session)
assert vault.is_authenticated()
vault.secrets.transit.create_key(name="probe")
sealed = vault.secrets.transit.encrypt_data(name="probe", plaintext="aGk=")["data"]["ciphertext"]
assert vault.secrets.transit.decrypt_data(name="probe", ciphertext=sealed)["data"]["plaintext"] == "aGk="
print(json.dumps({key: os.environ[key] for key in ("DATABASE_URL", "REDIS_URL", "VAULT_ADDR")}))
"""

PRINT_ENV = (
    f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {SERVICE_VARS!r}}}))"
)

NESTED_RUN = f"""
import json, os, subprocess, sys
inner = subprocess.run(
    [sys.executable, "-m", "devstack", "run", "--profile", "test", "--",
     sys.executable, "-c", {PRINT_ENV!r}],
    capture_output=True, text=True, timeout={TIMEOUT},
)
outer = {{k: os.environ.get(k) for k in {SERVICE_VARS!r}}}
print(json.dumps({{"outer": outer, "inner": inner.stdout, "stderr": inner.stderr,
                  "code": inner.returncode}}))
"""


def fresh_env() -> dict[str, str]:
    """The test process's environment minus service variables, so a nested run starts its own."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def devstack(*command: str, stderr: IO[str] | int = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start a test-profile supervisor running `command`, with fresh services."""
    argv = [sys.executable, "-m", "devstack", "run", "--profile", "test", "--", *command]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and fixed scripts
        argv, cwd=REPO, env=fresh_env(), stdout=subprocess.PIPE, stderr=stderr, text=True
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a supervisor; return its exit code, stdout and stderr."""
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err or ""


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll `predicate` until it returns True or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_services_work_and_are_cleaned_up() -> None:
    proc = devstack(sys.executable, "-c", USE_ALL_SERVICES)
    code, out, err = finish(proc)

    assert code == 0, err
    urls = json.loads(out)
    assert urls["DATABASE_URL"].startswith("postgres://")
    assert urlsplit(urls["DATABASE_URL"]).path == "/mycrm"
    assert urls["REDIS_URL"].endswith("/0")
    assert not (STACK / f"test-{proc.pid}").exists()
    for url in urls.values():
        port = urlsplit(url).port
        assert port is not None
        assert not port_open(port), f"{url} still accepts connections"


def test_exit_code_of_command_is_propagated() -> None:
    code, _, err = finish(devstack(sys.executable, "-c", "raise SystemExit(3)"))

    assert code == 3, err


def _wait_for_state(run_dir: Path) -> dict[str, Any]:
    """Wait until the supervisor recorded its services and the running command; return that."""
    state: dict[str, Any] = {}

    def command_recorded() -> bool:
        nonlocal state
        try:
            state = json.loads((run_dir / "state.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(state.get("command", {}).get("pid"))

    assert wait_for(command_recorded, TIMEOUT), f"no state in {run_dir}"
    return state


def test_sigterm_is_forwarded_and_services_stopped(tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    trap = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
        f"pathlib.Path({str(armed)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    with (tmp_path / "stderr").open("w") as stderr:
        proc = devstack(sys.executable, "-c", trap, stderr=stderr)
        state = _wait_for_state(STACK / f"test-{proc.pid}")
        assert wait_for(armed.exists, TIMEOUT)
        proc.send_signal(signal.SIGTERM)
        code, _, _ = finish(proc)

    assert code == 7, (tmp_path / "stderr").read_text()
    assert not (STACK / f"test-{proc.pid}").exists()
    for entry in state["services"].values():
        assert not pid_alive(entry["pid"])


def test_killed_supervisor_leaves_nothing_behind(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as stderr:
        proc = devstack(sys.executable, "-c", "import time; time.sleep(120)", stderr=stderr)
        run_dir = STACK / f"test-{proc.pid}"
        state = _wait_for_state(run_dir)
        proc.kill()
        finish(proc)

    entries = [*state["services"].values(), state["command"]]
    processes = [(entry["pid"], entry["start_ticks"]) for entry in entries]

    def all_gone() -> bool:
        return not any(
            pid_alive(pid) and process_start_ticks(pid) == ticks for pid, ticks in processes
        )

    assert wait_for(all_gone, 10), f"survivors among {processes}"

    code, _, err = finish(devstack(sys.executable, "-c", USE_ALL_SERVICES))
    assert code == 0, err
    assert not run_dir.exists(), "the next run should remove the crashed run's directory"


def test_preset_services_are_passed_through_untouched() -> None:
    code, out, err = finish(devstack(sys.executable, "-c", NESTED_RUN))

    assert code == 0, err
    report = json.loads(out)
    assert report["code"] == 0, report["stderr"]
    assert json.loads(report["inner"]) == report["outer"]
    assert all(report["outer"].values())
    assert " on 127.0.0.1:" not in report["stderr"], "the nested run started a service"
    assert "using DATABASE_URL from the environment" in report["stderr"]
