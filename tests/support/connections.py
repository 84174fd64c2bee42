"""Running test code on database connections of its own (a thread each), so it commits, locks
and waits like another process would; and organizations committed that way."""

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connections

from tenants.models import Tenant


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


@contextmanager
def committed_organization(
    prefix: str, prepare: Callable[[Tenant], None] | None = None
) -> Iterator[Tenant]:
    """An organization provisioned and committed on a connection of its own, for tests whose
    threads commit and lock like separate processes; `prepare` runs inside it first (to
    create its keys before a race starts, say). Deleted with its owner afterwards."""
    from django_tenants.utils import tenant_context

    from iam.models import User
    from tenants.services import provision_tenant, tenant_delete
    from tests.factories import UserFactory

    slug = f"{prefix}-{uuid.uuid4().hex[:6]}"
    made: list[Tenant] = []

    def setup() -> None:
        owner = UserFactory(email=f"owner@{slug}.test")
        made.append(provision_tenant(slug=slug, name=prefix.title(), owner=owner))
        if prepare is not None:
            with tenant_context(made[0]):
                prepare(made[0])

    def cleanup() -> None:
        for tenant in Tenant.objects.filter(slug=slug):
            tenant_delete(tenant=tenant)
        User.objects.filter(email=f"owner@{slug}.test").delete()

    try:
        run_on_own_connection(setup)
        yield made[0]
    finally:
        run_on_own_connection(cleanup)


def assert_second_waits_for_first(
    first: Callable[[Callable[[], None]], None], second: Callable[[], None]
) -> None:
    """A lock race, each side on a connection of its own. `first` runs until it calls the
    `hold` it is given (inside its transaction, after its write); then `second` starts, and
    must still be waiting a second later; then `first` may go on and commit, and both are
    waited for. What either raised is re-raised."""
    holding, release, second_done = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        holding.set()
        assert release.wait(timeout=20)

    def run_second() -> None:
        second()
        second_done.set()

    writer = start_on_own_connection(lambda: first(hold), errors)
    waiter = None
    try:
        assert holding.wait(timeout=20)
        waiter = start_on_own_connection(run_second, errors)
        assert not second_done.wait(timeout=1)  # waits behind the first one's lock
    finally:
        release.set()
        writer.join(timeout=30)
        if waiter is not None:
            waiter.join(timeout=30)
    if errors:
        raise errors[0]
