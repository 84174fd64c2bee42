"""The audit log's chain: rows follow each other, a rolled-back change leaves none, the
database refuses edits, `audit_verify` finds an edited or removed row, two writers never fork
the chain, and the retention purge leaves a chain that still verifies."""

import datetime as dt
import threading
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone
from django_tenants.utils import schema_context

from iam.audit import audit_purge, audit_record, chain_verify
from iam.models import SecuritySettings
from iam.org.models import AuditAnchor, AuditEvent
from tenants.models import Tenant
from tests.support.connections import (
    committed_organization,
    run_on_own_connection,
    start_on_own_connection,
)


def _record(tenant: Tenant, n: int = 1, action: str = "contact.updated") -> None:
    for i in range(n):
        audit_record(action=action, target=("contact", i + 1, f"Contact {i + 1}"), tenant=tenant)


def _raw(tenant: Tenant, statement: str, params: list[Any] | None = None) -> None:
    """Tamper with the log as someone with database access would: the guard switched off."""
    with schema_context(tenant.schema_name), connection.cursor() as cur:
        cur.execute("SET LOCAL mycrm.audit_purge = 'on'")
        cur.execute(statement, params or [])
        cur.execute("SET LOCAL mycrm.audit_purge = 'off'")


def _verify(tenant: Tenant, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        call_command("audit_verify", tenant=tenant.slug)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, capsys.readouterr().out


def test_rows_link_each_to_the_one_before(tenant_a: Tenant) -> None:
    _record(tenant_a, 3)
    with schema_context(tenant_a.schema_name):
        rows = list(AuditEvent.objects.order_by("seq"))
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == ""
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert all(r.via == "system" and r.actor_id is None for r in rows)
    assert chain_verify(tenant=tenant_a).count == 3


def test_a_rolled_back_change_leaves_no_row(tenant_a: Tenant) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        _record(tenant_a)
        raise RuntimeError("the change failed")
    with schema_context(tenant_a.schema_name):
        assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "statement",
    ["UPDATE iam_org_auditevent SET action = 'nothing'", "DELETE FROM iam_org_auditevent"],
)
def test_the_database_refuses_to_edit_or_remove_a_row(tenant_a: Tenant, statement: str) -> None:
    _record(tenant_a)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        schema_context(tenant_a.schema_name),
        connection.cursor() as cur,
    ):
        cur.execute(statement)
    assert chain_verify(tenant=tenant_a).holds


def test_verify_says_the_chain_holds(tenant_a: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    _record(tenant_a, 4)
    code, out = _verify(tenant_a, capsys)
    assert (code, out.strip()) == (0, "chain holds: 4 events")


def test_verify_names_the_row_edited(tenant_a: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    _record(tenant_a, 4)
    _raw(tenant_a, "UPDATE iam_org_auditevent SET target_label = 'Someone else' WHERE seq = 2")
    code, message = _verify(tenant_a, capsys)
    assert code == 1
    assert "row #2 was edited" in message


def test_verify_names_a_row_edited_with_its_hash_recomputed(
    tenant_a: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever rewrites a row and its own hash still breaks the next row's link."""
    from iam.audit.services import event_hash

    _record(tenant_a, 3)
    with schema_context(tenant_a.schema_name):
        row = AuditEvent.objects.filter(seq=2).values().get()
    row["action"] = "contact.viewed"
    _raw(
        tenant_a,
        "UPDATE iam_org_auditevent SET action = %s, hash = %s WHERE seq = 2",
        [row["action"], event_hash(row)],
    )
    code, message = _verify(tenant_a, capsys)
    assert code == 1 and "row #3" in message and "row #2 was edited" in message


def test_verify_names_the_row_removed(tenant_a: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    _record(tenant_a, 4)
    _raw(tenant_a, "DELETE FROM iam_org_auditevent WHERE seq = 3")
    code, message = _verify(tenant_a, capsys)
    assert code == 1
    assert "row #3 was removed" in message


def test_verify_finds_the_first_rows_removed(
    tenant_a: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    _record(tenant_a, 3)
    _raw(tenant_a, "DELETE FROM iam_org_auditevent WHERE seq = 1")
    code, message = _verify(tenant_a, capsys)
    assert code == 1 and "row #1 was removed" in message


def test_verify_of_an_unknown_organization_fails(db: None) -> None:
    with pytest.raises(CommandError, match="No organization"):
        call_command("audit_verify", tenant="no-such-org")


def test_retention_purge_keeps_a_chain_that_verifies(
    tenant_a: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    SecuritySettings.objects.create(tenant=tenant_a, audit_retention_days=30)
    _record(tenant_a, 3, action="contact.created")
    later = timezone.now() + dt.timedelta(days=40)  # the three rows are 40 days old by then
    assert audit_purge(tenant=tenant_a, now=later) == 3
    _record(tenant_a, 2, action="contact.deleted")
    with schema_context(tenant_a.schema_name):
        assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [4, 5]
        assert AuditAnchor.objects.get().seq == 3
    code, out = _verify(tenant_a, capsys)
    assert (code, out.strip()) == (0, "chain holds: 2 events")
    # Nothing recent enough is purged.
    assert audit_purge(tenant=tenant_a, now=timezone.now()) == 0


def test_after_a_purge_removing_the_oldest_row_left_is_still_found(
    tenant_a: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    SecuritySettings.objects.create(tenant=tenant_a, audit_retention_days=30)
    _record(tenant_a, 2)
    audit_purge(tenant=tenant_a, now=timezone.now() + dt.timedelta(days=31))
    _record(tenant_a, 2)
    _raw(tenant_a, "DELETE FROM iam_org_auditevent WHERE seq = 3")
    code, message = _verify(tenant_a, capsys)
    assert code == 1 and "row #3 was removed" in message


def test_purge_of_one_organization_leaves_another_alone(tenant_a: Tenant, tenant_b: Tenant) -> None:
    _record(tenant_a, 2)
    _record(tenant_b, 2)
    audit_purge(tenant=tenant_a, now=timezone.now() + dt.timedelta(days=3650))
    with schema_context(tenant_b.schema_name):
        assert AuditEvent.objects.count() == 2
    with schema_context(tenant_a.schema_name):
        assert AuditEvent.objects.count() == 0
    assert chain_verify(tenant=tenant_b).count == 2


def test_the_retention_task_runs_in_its_own_organization(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    from django_tenants.utils import tenant_context

    from iam.org.tasks import audit_retention_purge

    SecuritySettings.objects.create(tenant=tenant_a, audit_retention_days=30)
    _record(tenant_a, 1)
    _record(tenant_b, 1)
    with _rows_aged(tenant_a, days=31), _rows_aged(tenant_b, days=31):
        with tenant_context(tenant_a):
            assert audit_retention_purge.apply().get() == 1
    with schema_context(tenant_b.schema_name):
        assert AuditEvent.objects.count() == 1  # beta keeps two years by default


class _rows_aged:  # noqa: N801 - used as a context manager
    """Moves a schema's rows back in time (hash unchanged: only the purge looks at them)."""

    def __init__(self, tenant: Tenant, *, days: int) -> None:
        self.tenant, self.days = tenant, days

    def __enter__(self) -> None:
        _raw(
            self.tenant,
            "UPDATE iam_org_auditevent SET occurred_at = occurred_at - %s",
            [dt.timedelta(days=self.days)],
        )

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.django_db
def test_two_writers_at_once_never_fork_the_chain() -> None:
    """Two writers on connections of their own, in an organization committed for them (not a
    flushing `transaction=True` test, which would take the suite's shared organizations)."""
    per_writer = 15
    with committed_organization("audit") as tenant:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def write() -> None:
            barrier.wait(timeout=10)
            for i in range(per_writer):
                with transaction.atomic():
                    audit_record(action="deal.updated", target=("deal", i, "x"), tenant=tenant)

        threads = [start_on_own_connection(write, errors) for _ in range(2)]
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        reports: list[Any] = []
        run_on_own_connection(lambda: reports.append(chain_verify(tenant=tenant)))
        assert reports[0].holds and reports[0].count == 2 * per_writer


def test_a_row_rolled_back_to_a_savepoint_leaves_no_gap(tenant_a: Tenant) -> None:
    """The next row follows the last one kept, not the one a savepoint took back."""
    with transaction.atomic():
        _record(tenant_a)
        with pytest.raises(RuntimeError), transaction.atomic():
            _record(tenant_a, 2)
            raise RuntimeError("one item of a batch failed")
        _record(tenant_a)
    with schema_context(tenant_a.schema_name):
        assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]
    assert chain_verify(tenant=tenant_a).holds


def test_rows_of_one_transaction_cost_one_statement_each_after_the_first(
    tenant_a: Tenant, django_assert_max_num_queries: Any
) -> None:
    with transaction.atomic():
        _record(tenant_a)
        with django_assert_max_num_queries(10):
            _record(tenant_a, 10)
    assert chain_verify(tenant=tenant_a).count == 11
