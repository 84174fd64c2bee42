"""The warm pool of spare schemas: sign-up renames a spare, the refill keeps the pool full and
fresh, and a spare is never a tenant."""

import json
import threading
import uuid
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import Client
from django_tenants.utils import schema_context, schema_exists, tenant_context

from crm.models import Contact, Pipeline
from iam.models import Membership, Role, User
from tenants.models import Domain, SpareSchema, Tenant
from tenants.pool import (
    spare_key,
    spare_schema_claim,
    spare_schemas_ready,
    spare_schemas_refill,
)
from tenants.routing import resolve_host
from tenants.services import provision_tenant, tenant_delete
from tenants.signals import spare_schema_prepared, tenant_provisioned
from tenants.tasks import spare_schemas_refill as refill_task
from tenants.tasks import spare_schemas_refill_queue
from tests.factories import UserFactory
from tests.support.connections import run_on_own_connection
from tests.tenants.test_snapshot import describe

pytestmark = pytest.mark.django_db

CaptureCallbacks = Callable[..., Any]
SettingsWrapper = Any  # pytest-django's `settings` fixture


@pytest.fixture
def pool_of_two(settings: SettingsWrapper) -> list[str]:
    """A pool turned on with two fresh spares (inside the test's transaction); their names,
    oldest first."""
    settings.TENANT_SPARE_SCHEMAS = 2
    spare_schemas_refill(size=0)  # whatever an earlier process left committed
    assert spare_schemas_refill().made == 2
    return list(SpareSchema.objects.order_by("id").values_list("schema_name", flat=True))


def _public() -> None:
    connection.set_schema_to_public()  # type: ignore[attr-defined]


def test_provisioning_renames_the_oldest_spare_and_queues_a_refill(
    pool_of_two: list[str], django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    owner = UserFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        tenant = provision_tenant(slug="pool-one", name="Pool One", owner=owner)
    assert tenant.schema_name == "t_pool_one"
    assert schema_exists("t_pool_one")
    assert not schema_exists(pool_of_two[0])  # renamed, not copied
    assert list(SpareSchema.objects.values_list("schema_name", flat=True)) == pool_of_two[1:]
    assert Membership.objects.get(tenant=tenant, user=owner).role == Role.OWNER
    with tenant_context(tenant):
        assert Pipeline.objects.get(is_default=True).stages.count() == 6
    assert callbacks == [spare_schemas_refill_queue]  # queued once the sign-up has committed
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    queued = broker.llen("celery")
    spare_schemas_refill_queue()
    assert broker.llen("celery") == queued + 1
    message = json.loads(broker.lindex("celery", 0) or b"{}")
    assert message["headers"]["task"] == "tenants.tasks.spare_schemas_refill"
    assert message["headers"]["_schema_name"] == "public"
    assert refill_task.apply().get() == {"made": 1, "dropped": 0, "ready": 2}  # what a worker does
    assert spare_schemas_ready() == 2


def test_claimed_schema_is_identical_to_a_migrated_one_and_keeps_no_trace_of_its_old_name(
    settings: SettingsWrapper,
) -> None:
    from tenants.snapshot import create_schema_by_migrations

    settings.TENANT_SPARE_SCHEMAS = 1
    spare_schemas_refill(size=0)
    spare_schemas_refill()
    spare = SpareSchema.objects.get().schema_name
    with transaction.atomic():
        assert spare_schema_claim("cmp_claimed")
    create_schema_by_migrations("cmp_pool_migrated")
    with schema_context("cmp_pool_migrated"):  # the starter rows the pool adds to spares
        spare_schema_prepared.send(sender=SpareSchema, schema_name="cmp_pool_migrated")
    _public()
    migrated, claimed = describe("cmp_pool_migrated"), describe("cmp_claimed")
    assert ("crm_contact", "BASE TABLE") in migrated["tables"]
    for part in migrated:
        assert claimed[part] == migrated[part], part
    assert spare not in repr(claimed)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_attrdef WHERE pg_get_expr(adbin, adrelid) LIKE %s",
            [f"%{spare}%"],
        )
        assert cur.fetchone()[0] == 0
        cur.execute(  # its identity sequences work under the new name
            "INSERT INTO cmp_claimed.django_content_type (app_label, model) VALUES ('x', 'y') "
            "RETURNING id"
        )
        new_id = cur.fetchone()[0]
        cur.execute("SELECT max(id) FROM cmp_claimed.django_content_type WHERE app_label <> 'x'")
        assert new_id > cur.fetchone()[0]


def test_an_empty_pool_falls_back_to_the_snapshot_replay(
    settings: SettingsWrapper, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    settings.TENANT_SPARE_SCHEMAS = 2
    spare_schemas_refill(size=0)
    with django_capture_on_commit_callbacks() as callbacks:
        tenant = provision_tenant(slug="pool-empty", name="Empty", owner=UserFactory())
    assert schema_exists(tenant.schema_name)
    with tenant_context(tenant):
        assert Pipeline.objects.filter(is_default=True).exists()
    assert callbacks == [spare_schemas_refill_queue]  # the empty pool gets filled after the sign-up
    assert spare_schemas_ready() == 0


def test_a_stale_spare_is_never_claimed_and_the_refill_replaces_it(
    pool_of_two: list[str],
) -> None:
    stale = pool_of_two[0]
    with connection.cursor() as cur:  # as if made before the latest migration
        cur.execute(f'DROP TABLE "{stale}".crm_contact CASCADE')
    SpareSchema.objects.filter(schema_name=stale).update(snapshot_key="0" * 64)
    SpareSchema.objects.filter(schema_name=pool_of_two[1]).delete()  # only the stale one left

    tenant = provision_tenant(slug="pool-fresh", name="Fresh", owner=UserFactory())
    assert schema_exists(stale)
    with tenant_context(tenant):
        assert Contact.objects.count() == 0  # the table exists: made by the replay
    report = spare_schemas_refill()
    assert (report.dropped, report.made, report.ready) == (1, 2, 2)
    assert not schema_exists(stale)
    assert stale not in SpareSchema.objects.values_list("schema_name", flat=True)


def test_a_spare_row_without_its_schema_is_skipped_and_cleared(pool_of_two: list[str]) -> None:
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the spares' starter rows, same transaction
        cur.execute(f'DROP SCHEMA "{pool_of_two[0]}" CASCADE')
    tenant = provision_tenant(slug="pool-skip", name="Skip", owner=UserFactory())
    assert schema_exists(tenant.schema_name)
    assert not schema_exists(pool_of_two[1])  # the next spare was used
    report = spare_schemas_refill()
    assert (report.dropped, report.made, report.ready) == (1, 2, 2)


def test_failure_mid_provisioning_leaves_the_spare_in_the_pool_and_no_tenant(
    pool_of_two: list[str],
) -> None:
    owner = UserFactory()

    def explode(**_: object) -> None:
        assert schema_exists("t_pool_fail") and not schema_exists(pool_of_two[0])
        raise RuntimeError("injected failure after the spare was claimed")

    tenant_provisioned.connect(explode, dispatch_uid="test.pool_explode")
    try:
        with pytest.raises(RuntimeError, match="injected"):
            provision_tenant(slug="pool-fail", name="Fail", owner=owner)
    finally:
        tenant_provisioned.disconnect(dispatch_uid="test.pool_explode")
    _public()
    assert not schema_exists("t_pool_fail")
    assert not Tenant.objects.filter(slug="pool-fail").exists()
    assert not Membership.objects.filter(user=owner).exists()
    assert schema_exists(pool_of_two[0])
    assert list(SpareSchema.objects.values_list("schema_name", flat=True)) == pool_of_two

    provision_tenant(slug="pool-fail", name="Fail", owner=owner)  # the retry takes that spare
    assert not schema_exists(pool_of_two[0])
    assert spare_schemas_ready() == 1


def test_with_the_pool_off_spares_are_left_alone_and_no_refill_is_queued(
    pool_of_two: list[str],
    settings: SettingsWrapper,
    django_capture_on_commit_callbacks: CaptureCallbacks,
) -> None:
    settings.TENANT_SPARE_SCHEMAS = 0
    with django_capture_on_commit_callbacks() as callbacks:
        provision_tenant(slug="pool-off", name="Off", owner=UserFactory())
    assert callbacks == []
    assert all(schema_exists(s) for s in pool_of_two)
    assert spare_schemas_refill().dropped == 2  # a refill with the pool off empties it
    assert not any(schema_exists(s) for s in pool_of_two)


def test_the_command_fills_the_pool_and_trims_it_when_the_size_shrinks(
    settings: SettingsWrapper,
) -> None:
    spare_schemas_refill(size=0)
    settings.TENANT_SPARE_SCHEMAS = 3
    out = StringIO()
    call_command("refill_spare_schemas", stdout=out)
    assert out.getvalue().strip() == "Spare schemas: 3 ready (3 made, 0 dropped)"
    oldest = SpareSchema.objects.order_by("id").first()
    assert oldest is not None
    settings.TENANT_SPARE_SCHEMAS = 1
    call_command("refill_spare_schemas", stdout=out)
    assert out.getvalue().strip().endswith("Spare schemas: 1 ready (0 made, 2 dropped)")
    assert list(SpareSchema.objects.values_list("schema_name", flat=True)) == [oldest.schema_name]


def test_a_spare_is_not_a_tenant(pool_of_two: list[str]) -> None:
    for spare in pool_of_two:
        assert spare.startswith("spare_")
        assert not Tenant.objects.filter(schema_name=spare).exists()  # what migrate_schemas walks
        assert not Domain.objects.filter(tenant__schema_name=spare).exists()
        assert resolve_host(f"{spare.replace('_', '-')}.localhost").tenant is None
    out = StringIO()
    call_command("list_tenants", stdout=out)
    assert "spare_" not in out.getvalue()
    operator = User.objects.create_superuser(email="ops@pool.test", password="x-Long-pass-9")
    client = Client(HTTP_HOST="localhost")
    client.force_login(operator)
    page = client.get("/admin/tenants/tenant/")
    assert page.status_code == 200
    assert b"spare_" not in page.content


def test_the_refill_task_runs_in_public_and_a_claimed_spare_holds_no_other_tenants_data(
    tenant_a: Tenant, settings: SettingsWrapper
) -> None:
    settings.TENANT_SPARE_SCHEMAS = 1
    spare_schemas_refill(size=0)
    with tenant_context(tenant_a):
        Contact.objects.create(first_name="OnlyInAlpha")
        # Queued from inside a tenant, the refill still works on the public pool.
        assert refill_task.apply().get() == {"made": 1, "dropped": 0, "ready": 1}
    _public()
    tenant = provision_tenant(slug="pool-clean", name="Clean", owner=UserFactory())
    assert spare_schemas_ready() == 0
    with tenant_context(tenant):
        assert Contact.objects.count() == 0
        assert Pipeline.objects.count() == 1
    with tenant_context(tenant_a):
        assert list(Contact.objects.values_list("first_name", flat=True)) == ["OnlyInAlpha"]
        assert Pipeline.objects.count() == 1


def test_two_concurrent_provisionings_claim_different_spares(settings: SettingsWrapper) -> None:
    """Both sign-ups hold their claimed spare at the same moment (a barrier inside the
    transaction), so a claim that waited for the other's lock would deadlock the barrier."""
    settings.TENANT_SPARE_SCHEMAS = 2
    run = uuid.uuid4().hex[:6]
    slugs = [f"pool-{run}-{i}" for i in range(2)]
    spares: list[str] = []

    def fill() -> None:
        spare_schemas_refill(size=0)
        spare_schemas_refill()
        spares.extend(SpareSchema.objects.values_list("schema_name", flat=True))

    run_on_own_connection(fill)
    barrier = threading.Barrier(len(slugs))
    outcomes: dict[str, str] = {}

    def hold(*, tenant: Tenant, **_: object) -> None:
        if tenant.slug in slugs:
            barrier.wait(timeout=10)

    def attempt(slug: str) -> None:
        try:
            owner = UserFactory(email=f"{slug}@pool.test")
            provision_tenant(slug=slug, name=slug, owner=owner)
            outcomes[slug] = "created"
        except BaseException as exc:  # noqa: BLE001 - reported through outcomes
            outcomes[slug] = repr(exc)
        finally:
            connections.close_all()

    tenant_provisioned.connect(hold, dispatch_uid="test.pool_barrier")
    threads = [threading.Thread(target=attempt, args=(s,)) for s in slugs]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert outcomes == dict.fromkeys(slugs, "created")
        assert len(spares) == 2
        assert not any(schema_exists(s) for s in spares)  # each renamed to one of the tenants
        schemas = set(Tenant.objects.filter(slug__in=slugs).values_list("schema_name", flat=True))
        assert len(schemas) == 2 and all(schema_exists(s) for s in schemas)
        assert SpareSchema.objects.count() == 0
    finally:
        tenant_provisioned.disconnect(dispatch_uid="test.pool_barrier")

        def cleanup() -> None:
            for tenant in Tenant.objects.filter(slug__in=slugs):
                tenant_delete(tenant=tenant)
            User.objects.filter(email__in=[f"{s}@pool.test" for s in slugs]).delete()
            spare_schemas_refill(size=0)

        run_on_own_connection(cleanup)


def test_new_starter_data_makes_older_spares_stale(pool_of_two: list[str]) -> None:
    """Spares hold the starter rows of the receivers present when they were made; another
    receiver (or a renamed uid) changes the key, so those spares are never claimed."""
    before = spare_key()

    def _extra(**_: object) -> None:
        """Adds nothing: what matters here is only that a receiver joined."""

    spare_schema_prepared.connect(_extra, dispatch_uid="test.extra_starter.v1")
    try:
        assert spare_key() != before
        assert spare_schemas_ready() == 0
        tenant = provision_tenant(slug="pool-starter", name="Starter", owner=UserFactory())
        assert all(schema_exists(name) for name in pool_of_two)  # made by the replay instead
        with tenant_context(tenant):
            assert Pipeline.objects.get(is_default=True).stages.count() == 6
    finally:
        spare_schema_prepared.disconnect(dispatch_uid="test.extra_starter.v1")
    assert spare_key() == before
