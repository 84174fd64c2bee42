"""Run a command with the services around it: start, export URLs, forward signals, clean up."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from devstack import STACK_ROOT
from devstack.services import (
    LOCALHOST,
    OpenBaoService,
    PaddleService,
    PortReservation,
    PostgresService,
    Profile,
    RedisService,
    Service,
    ServiceError,
    StripeService,
    child_setup,
    display,
    pid_alive,
    postgres_home,
    postgres_homes,
    process_start_ticks,
    say,
    terminate_pid,
)

READY_TIMEOUT = 30.0
SERVICE_CLASSES: tuple[type[Service], ...] = (
    PostgresService,
    RedisService,
    OpenBaoService,
    StripeService,
    PaddleService,
)
# Launch order: cheap Popens first so they boot while postgres runs initdb.
_START_ORDER = {
    RedisService: 0,
    OpenBaoService: 1,
    StripeService: 2,
    PaddleService: 2,
    PostgresService: 3,
}
_FORWARDED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_STARTUP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_SI_KERNEL = 0x80
_STATE_FILE = "state.json"
_ENV_FILE = "env.json"


class _Terminated(Exception):
    """SIGTERM or SIGHUP arrived while the services were starting."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    """Signal handler turning SIGTERM/SIGHUP into an exception so cleanup runs."""
    raise _Terminated(signum)


def run(profile: Profile, command: Sequence[str]) -> int:
    """Run `command` with the services of `profile`; return its exit status (128+N if killed by N).

    Services whose variable (DATABASE_URL, REDIS_URL, VAULT_ADDR) is already set are not started
    and the given values reach the command unchanged.
    """
    STACK_ROOT.mkdir(exist_ok=True)
    gitignore = STACK_ROOT / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n")
    remove_stale_test_dirs()

    env = dict(os.environ)
    if shutil.which(command[0], path=env.get("PATH")) is None:
        say(f"cannot run {command[0]!r}: not found or not executable")
        return 127
    wanted = [cls for cls in SERVICE_CLASSES if not env.get(cls.env_var)]
    stripe_base = env.get("STRIPE_API_BASE", "")
    if (
        profile == "test"
        and StripeService not in wanted
        and not stripe_base.startswith(f"http://{LOCALHOST}:")
    ):
        # Tests never reach a real Stripe account, whatever key the shell has (an outer
        # run's local Stripe, on this machine, is kept).
        wanted.append(StripeService)
        for name in ("STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET"):
            env.pop(name, None)
    paddle_base = env.get("PADDLE_API_BASE", "")
    if (
        profile == "test"
        and PaddleService not in wanted
        and not paddle_base.startswith(f"http://{LOCALHOST}:")
    ):
        # Nor a real Paddle account (an outer run's stub, on this machine, is kept).
        wanted.append(PaddleService)
        for name in ("PADDLE_API_KEY", "PADDLE_API_BASE", "PADDLE_WEBHOOK_SECRET"):
            env.pop(name, None)
    for cls in SERVICE_CLASSES:
        if cls not in wanted:
            say(f"{cls.name}: using {cls.env_var} from the environment")
    if not wanted:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
        try:
            return _run_command(command, env, [], None, profile)
        finally:
            _restore_signals(mask)

    run_dir = STACK_ROOT / ("dev" if profile == "dev" else f"test-{os.getpid()}")
    if profile == "test" and run_dir.exists():
        stop_leftovers(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(exist_ok=True)
    lock_fd: int | None = None
    if profile == "dev" and _dev_lock_held(run_dir):
        joined = _read_env(run_dir)
        if joined is not None:
            say("joining the running dev stack")
            env.update({k: v for k, v in joined.items() if not env.get(k)})
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
            try:
                return _run_command(command, env, [], None, profile)
            finally:
                _restore_signals(mask)
    if profile == "dev":
        lock_fd = _lock_dev(run_dir)
        if lock_fd is None:
            return 1
    services: list[Service] = []
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    handlers = {sig: signal.signal(sig, _raise_terminated) for sig in _STARTUP_SIGNALS}
    try:
        stop_leftovers(run_dir)
        began = time.monotonic()
        services = _create_services(wanted, run_dir, profile)
        for service in sorted(services, key=lambda s: _START_ORDER[type(s)]):
            service.start()
        deadline = time.monotonic() + READY_TIMEOUT
        for service in services:
            service.wait_ready(deadline)
        for service in services:
            say(service.describe())
            env.update(service.env())
        say(f"ready in {time.monotonic() - began:.1f}s")
        _write_state(run_dir, profile, services, None, command)
        _write_env(run_dir, {k: v for s in services for k, v in s.env().items()})
        return _run_command(command, env, services, run_dir, profile)
    except ServiceError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except _Terminated as exc:
        return 128 + exc.signum
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        _stop_all(services)
        if profile == "test":
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            (run_dir / _STATE_FILE).unlink(missing_ok=True)
            (run_dir / _ENV_FILE).unlink(missing_ok=True)
        if lock_fd is not None:
            os.close(lock_fd)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        _restore_signals(mask)


def _restore_signals(mask: set[int | signal.Signals]) -> None:
    """Discard signals that arrived while blocked (they were forwarded or ignored), then unblock."""
    while signal.sigtimedwait(_FORWARDED | {signal.SIGCHLD}, 0) is not None:
        pass
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _create_services(
    wanted: Sequence[type[Service]], run_dir: Path, profile: Profile
) -> list[Service]:
    """Instantiate the wanted services on freshly picked, distinct free ports."""
    ports = PortReservation()
    try:
        return [
            cls(run_dir, profile, ports.pair() if cls is OpenBaoService else ports.single())
            for cls in wanted
        ]
    finally:
        ports.release()


def _run_command(
    command: Sequence[str],
    env: dict[str, str],
    services: list[Service],
    run_dir: Path | None,
    profile: Profile,
) -> int:
    """Run the command to completion, forwarding signals, and return its exit status.

    A signal from the terminal (si_code SI_KERNEL) already reached the command, which shares our
    process group, so only signals sent with kill() are forwarded.
    """
    waited = _FORWARDED | {signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        child = subprocess.Popen(list(command), env=env, preexec_fn=child_setup(signal.SIGTERM))
    except OSError as exc:
        say(f"cannot run {command[0]!r}: {exc.strerror}")
        return 127 if isinstance(exc, FileNotFoundError) else 126
    if run_dir is not None:
        _write_state(run_dir, profile, services, child, command)
    dead: set[str] = set()
    while (code := child.poll()) is None:
        info = signal.sigtimedwait(waited, 1.0)
        if info is None or info.si_signo == signal.SIGCHLD:
            _report_dead(services, dead)
        elif info.si_code != _SI_KERNEL:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(info.si_signo)
    return code if code >= 0 else 128 - code


def _report_dead(services: list[Service], reported: set[str]) -> None:
    """Warn once about each service that exited while the command runs."""
    for service in services:
        if service.name in reported or service.proc is None:
            continue
        if service.proc.poll() is not None:
            reported.add(service.name)
            say(
                f"warning: {service.name} exited with code {service.proc.returncode}; "
                f"see {display(service.log_path)}"
            )


def _stop_all(services: list[Service]) -> None:
    """Ask every service to stop at once, then wait for (or kill) each."""
    for service in services:
        service.terminate()
    for service in services:
        try:
            service.stop()
        except OSError as exc:
            say(f"could not stop {service.name}: {exc}")


def _lock_dev(run_dir: Path) -> int | None:
    """Take the exclusive dev lock, returning its fd, or print who holds it and return None."""
    path = run_dir / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        say(
            f"error: a dev stack is already running (supervisor pid {holder}, lock "
            f"{display(path)}); stop it first, or use --profile test for a throw-away stack"
        )
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _write_state(
    run_dir: Path,
    profile: Profile,
    services: list[Service],
    child: subprocess.Popen[bytes] | None,
    command: Sequence[str],
) -> None:
    """Record pids and ports in `<run dir>/state.json` for `status` and crash recovery."""
    state: dict[str, Any] = {
        "profile": profile,
        "supervisor": {"pid": os.getpid(), "start_ticks": process_start_ticks(os.getpid())},
        "services": {service.name: service.state() for service in services},
        "command": {
            "argv": list(command),
            "pid": child.pid if child else None,
            "start_ticks": process_start_ticks(child.pid) if child else None,
        },
    }
    tmp = run_dir / f"{_STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(run_dir / _STATE_FILE)


def _write_env(run_dir: Path, values: dict[str, str]) -> None:
    """Keep the exported URLs (with credentials, mode 600) so other commands can join."""
    fd = os.open(run_dir / _ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle)


def _read_env(run_dir: Path) -> dict[str, str] | None:
    """The URLs a running dev supervisor exported, or None if it left none."""
    try:
        values: dict[str, str] = json.loads((run_dir / _ENV_FILE).read_text())
    except (OSError, ValueError):
        return None
    return values


def read_state(run_dir: Path) -> dict[str, Any] | None:
    """The state a supervisor recorded in `run_dir`, or None if there is none."""
    try:
        state: dict[str, Any] = json.loads((run_dir / _STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state


def _same_process(entry: dict[str, Any]) -> bool:
    """Whether the process recorded in a state entry is still the one running under that pid."""
    pid = entry.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    return pid_alive(pid) and process_start_ticks(pid) == entry.get("start_ticks")


def stop_leftovers(run_dir: Path) -> None:
    """Stop processes a crashed supervisor recorded in `run_dir` that are somehow still alive."""
    state = read_state(run_dir)
    if state is None:
        return
    for name, entry in state.get("services", {}).items():
        if _same_process(entry):
            say(f"stopping {name} (pid {entry['pid']}) left running by an earlier run")
            stop_signal = entry.get("stop_signal", signal.SIGTERM)
            terminate_pid(entry["pid"], [(stop_signal, 10.0), (signal.SIGKILL, 5.0)])
    (run_dir / _STATE_FILE).unlink(missing_ok=True)


def _dir_pid(run_dir: Path) -> int | None:
    """The supervisor pid encoded in a `test-<pid>` directory name (None for other names)."""
    prefix, _, pid = run_dir.name.partition("-")
    return int(pid) if prefix == "test" and pid.isdigit() else None


def remove_stale_test_dirs() -> None:
    """Delete `.devstack/test-<pid>` dirs whose supervisor is gone, stopping any survivors,
    and their clusters kept outside the checkout."""
    outside = postgres_home(STACK_ROOT).glob("test-*")
    for run_dir in [*STACK_ROOT.glob("test-*"), *outside]:
        pid = _dir_pid(run_dir)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        stop_leftovers(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def _dev_lock_held(run_dir: Path) -> bool:
    """Whether some supervisor holds the dev lock."""
    path = run_dir / "lock"
    if not path.exists():
        return False
    with path.open("rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def _print_postgres_homes() -> None:
    """Name this checkout's postgres files outside it, and those whose checkout is gone."""
    for home, stack_root in postgres_homes():
        if stack_root == STACK_ROOT:
            print(f"postgres files of this checkout (its service user can't enter it): {home}")
        elif stack_root is None or not stack_root.exists():
            print(f"postgres files of a checkout that is gone ({stack_root}): {home}")


def _liveness(entry: dict[str, Any]) -> str:
    """`pid N alive` or `pid N gone` for a state entry."""
    return f"pid {entry.get('pid')} {'alive' if _same_process(entry) else 'gone'}"


def status() -> int:
    """Print each run dir under .devstack with its supervisor and services, and where postgres
    keeps files outside checkouts; always returns 0."""
    run_dirs = sorted(p for p in STACK_ROOT.glob("*") if p.name == "dev" or _dir_pid(p))
    if not run_dirs:
        print(f"nothing under {display(STACK_ROOT)}")
    _print_postgres_homes()
    for run_dir in run_dirs:
        state = read_state(run_dir)
        if state is None:
            held = run_dir.name == "dev" and _dev_lock_held(run_dir)
            note = "starting or stopping (lock held)" if held else "not running"
            kept = ", ".join(sorted(p.name for p in run_dir.iterdir() if p.is_dir()))
            print(f"{display(run_dir)}: {note}" + (f"; data kept: {kept}" if kept else ""))
            continue
        supervisor = state.get("supervisor", {})
        running = _same_process(supervisor)
        verdict = "running" if running else "stale (removed or recovered by the next run)"
        print(f"{display(run_dir)}: {verdict}, supervisor {_liveness(supervisor)}")
        for name, entry in state.get("services", {}).items():
            print(f"  {name:<9} {_liveness(entry):<22} 127.0.0.1:{entry.get('port')}")
        command = state.get("command", {})
        if command.get("pid"):
            print(f"  {'command':<9} {_liveness(command):<22} {' '.join(command.get('argv', []))}")
    return 0
