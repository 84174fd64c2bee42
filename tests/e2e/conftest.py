"""A real server process on the test database, and headless Chromium driven by Playwright."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from django.db import connection

from tests.support.manage import ROOT, manage
from tests.support.sso import LocalDns, local_dns  # noqa: F401 - fixture

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_manage(env: dict[str, str], *args: str) -> str:
    """Run a manage.py command against the test database; return its standard output."""
    return manage(env, *args).stdout.strip()


@pytest.fixture(scope="session")
def live_env(django_db_setup: None, local_dns: LocalDns) -> dict[str, str]:  # noqa: F811
    """The environment of a process that works on the (committed) test database, and
    resolves single sign-on domain records at this session's local DNS server."""
    db = connection.settings_dict
    database_url = (
        f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'] or '')}@{db['HOST']}:{db['PORT']}"
        f"/{db['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        "SSO_DNS_NAMESERVER": "127.0.0.1",
        "SSO_DNS_PORT": str(local_dns.port),
    }


def _end_other_sessions(django_db_blocker: Any) -> None:
    """Let the test database be dropped: end the sessions still attached to it.

    The server's session ends a moment after its process does, and Playwright's sync API
    runs tests in greenlets whose context holds a Django connection of its own, left idle.
    """
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def live_mailbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the live server writes its e-mails to, one file per message."""
    return tmp_path_factory.mktemp("mailbox")


def mails_to(mailbox: Path, address: str) -> list[str]:
    """The messages (headers and body, as written) the live server sent to `address`."""
    messages = [p.read_text() for p in sorted(mailbox.iterdir(), key=lambda p: p.stat().st_mtime)]
    return [m for m in messages if f"To: {address}" in m]


# The folder each live server writes its mail to, by the server's URL, so a helper given
# only the URL (signing up, say) can read what the server sent.
MAILBOXES: dict[str, Path] = {}


def sign_up_link(live_url: str, address: str) -> str:
    """The link of the newest sign-up mail the live server at `live_url` sent to `address`."""
    found = None
    for message in mails_to(MAILBOXES[live_url], address):
        found = re.search(rf"{re.escape(live_url)}/signup/finish/\S+/", message) or found
    assert found, f"no sign-up link was mailed to {address}"
    return found.group(0)


def _serving(server: subprocess.Popen[bytes], url: str, log_path: Path) -> bool:
    """Wait until `server` answers its health check: True; False if it could not have the
    port (another process took it between `_free_port` and the bind: pick another)."""
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            log = log_path.read_text()
            if "already in use" in log:
                return False
            raise RuntimeError(f"server did not start: {log[-2000:]}")
        try:
            # Asked only while the server runs: whatever answers is this server, not
            # another process that holds the port.
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def live_url(live_env: dict[str, str], live_mailbox: Path, django_db_blocker: Any) -> Iterator[str]:
    """The public site of a development server serving the test database."""
    # The server's log goes to a file: an unread pipe would fill up and stall the server.
    log_path = Path(tempfile.mkstemp(prefix="mycrm-live-", suffix=".log")[1])
    log = log_path.open("wb")
    server: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(3):
            port = _free_port()
            env = {
                **live_env,
                "PUBLIC_PORT": str(port),
                "DEBUG": "true",
                # django-environ reads the path after "filemail://" without its first slash.
                "EMAIL_URL": f"filemail:///{live_mailbox}",
            }
            log.seek(0)
            log.truncate()
            server = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            url = f"http://localhost:{port}"
            if _serving(server, url, log_path):
                MAILBOXES[url] = live_mailbox
                break
        else:
            raise RuntimeError("no free port for the server after 3 tries")
        yield url
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        log.close()
        log_path.unlink(missing_ok=True)
        _end_other_sessions(django_db_blocker)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls these tests make
    # between browser steps are ordinary blocking calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; `make test` installs it.")
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
