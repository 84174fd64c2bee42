"""Running test code on database connections of its own (a thread each), so it commits, locks
and waits like another process would."""

import threading
from collections.abc import Callable

from django.db import connections


def start_on_own_connection(
    work: Callable[[], None], errors: list[BaseException]
) -> threading.Thread:
    """Start `work` in a thread, i.e. on its own autocommitting database connection; what it
    raises is appended to `errors` for the test to re-raise or assert on."""

    def body() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test through `errors`
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def run_on_own_connection(work: Callable[[], None], *, timeout: float = 60) -> None:
    """Run `work` on its own connection, wait for it, and re-raise what it raised."""
    errors: list[BaseException] = []
    start_on_own_connection(work, errors).join(timeout=timeout)
    if errors:
        raise errors[0]
