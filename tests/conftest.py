"""Suite-wide fixtures: a migrated test database with two committed organizations.

Organizations are provisioned once per session from the schema snapshot (the fast path), so
no test migrates a schema; each test runs in a transaction that is rolled back.
"""

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client

from crm.selectors import forget_custom_field_definitions
from iam.models import Membership, Role, User
from tenants.models import Tenant
from tenants.routing import forget_all_hosts

from .factories import PASSWORD, UserFactory

settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Links the suite asserts on are built for the development defaults, whatever the shell says.
settings.BASE_DOMAIN = "localhost"
settings.PUBLIC_SCHEME = "http"
settings.PUBLIC_PORT = "8000"
# The warm pool of spare schemas is off unless a test turns it on (tests/tenants/test_pool.py),
# here and in the server and worker processes the suite starts.
settings.TENANT_SPARE_SCHEMAS = 0
# A rotation is taken up by every process within this; re-encryption waits for it.
settings.PII_KEY_CURRENT_SECONDS = 0.5
os.environ["TENANT_SPARE_SCHEMAS"] = "0"

# Tests that take minutes start first, whatever the random order: under pytest-xdist the
# worker that takes one runs it beside everything else, which the others share out.
START_FIRST = ("tests/e2e/test_api_contract.py::",)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(START_FIRST))  # stable: order kept
    # A transactional test flushes every table when it ends, the organizations every other
    # test of its worker shares included: commit on connections of their own instead
    # (tests/support/connections.py).
    flushing = [
        item.nodeid
        for item in items
        if "transactional_db" in getattr(item, "fixturenames", ())
        or any(m.kwargs.get("transaction") for m in item.iter_markers("django_db"))
    ]
    if flushing:
        raise pytest.UsageError(f"Transactional tests would flush shared data: {flushing}")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> None:
    from tenants.services import provision_tenant
    from tenants.snapshot import build_snapshot

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        assert connection.settings_dict["NAME"].startswith("test_"), "not the test database"
        build_snapshot()
        for slug, name in (("alpha", "Alpha Inc"), ("beta", "Beta GmbH")):
            owner = UserFactory(email=f"owner@{slug}.test")
            provision_tenant(slug=slug, name=name, owner=owner)
            member = UserFactory(email=f"member@{slug}.test")
            tenant = Tenant.objects.get(slug=slug)
            Membership.objects.create(user=member, tenant=tenant, role=Role.MEMBER)


@pytest.fixture(autouse=True)
def _schema_is_public_around_each_test() -> Iterator[None]:
    """A test must start on `public` and may not leave another schema behind for the next."""
    assert connection.schema_name == "public", connection.schema_name  # type: ignore[attr-defined]
    forget_all_hosts()
    # Kept definitions may come from rows a test made and rolled back.
    forget_custom_field_definitions()
    cache.clear()  # rate-limit counters and one-time link nonces live in the (shared) cache
    yield
    leaked = connection.schema_name  # type: ignore[attr-defined]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    forget_all_hosts()
    forget_custom_field_definitions()
    assert leaked == "public", f"test left the connection on schema {leaked!r}"


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return Tenant.objects.get(slug="alpha")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return Tenant.objects.get(slug="beta")


@pytest.fixture
def owner_a(db: None) -> User:
    return User.objects.get(email="owner@alpha.test")


@pytest.fixture
def member_a(db: None) -> User:
    return User.objects.get(email="member@alpha.test")


@pytest.fixture
def owner_b(db: None) -> User:
    return User.objects.get(email="owner@beta.test")


def host_of(tenant: Tenant) -> str:
    return f"{tenant.slug}.{settings.BASE_DOMAIN}"


def token_client(user: User, tenant: Tenant, *, host: Tenant | None = None) -> Client:
    """An API client with a fresh token of `user` at `tenant`, calling `host`'s (default:
    the same tenant's) host name."""
    from iam.services import api_token_create

    _, raw = api_token_create(user=user, tenant=tenant, name="tests")
    return Client(HTTP_HOST=host_of(host or tenant), HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def client_a(tenant_a: Tenant, member_a: User) -> Client:
    """A browser session on alpha's host, signed in as a member of alpha."""
    client = Client(HTTP_HOST=host_of(tenant_a))
    client.force_login(member_a)
    return client


@pytest.fixture
def public_client(db: None) -> Client:
    return Client(HTTP_HOST=settings.BASE_DOMAIN)


__all__ = ["PASSWORD", "host_of"]
