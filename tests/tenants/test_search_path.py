"""The connection's real search_path always matches the active tenant (django-tenants #1262).

A stale cached search_path after ROLLBACK TO SAVEPOINT would silently serve another tenant's
rows; this randomized walk through atomic blocks, savepoints, rollbacks and errors checks
`SHOW search_path` after every step.
"""

import pytest
from django.db import DatabaseError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenants.models import Tenant

pytestmark = pytest.mark.django_db

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["switch", "atomic_ok", "atomic_rollback", "atomic_error", "query"]),
        st.sampled_from(["public", "t_alpha", "t_beta"]),
    ),
    min_size=1,
    max_size=12,
)


def _actual() -> str:
    """The session's search_path, read both as a plain data statement (which the backend
    sends in one round trip with its SET) and as a utility statement (sent after its SET)."""
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('search_path')")
        by_select = cur.fetchone()[0]
    with connection.cursor() as cur:
        cur.execute("SHOW search_path")
        by_show = cur.fetchone()[0]
    assert by_select == by_show
    return by_select


def _expected(schema: str) -> str:
    return "public" if schema == "public" else f"{schema}, public"


def _switch(schema: str) -> None:
    if schema == "public":
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    else:
        connection.set_schema(schema)  # type: ignore[attr-defined]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_search_path_matches_active_schema_after_any_sequence(
    steps: list[tuple[str, str]], tenant_a: Tenant, tenant_b: Tenant
) -> None:
    try:
        active = "public"
        for action, schema in steps:
            if action == "switch":
                _switch(schema)
                active = schema
            elif action == "query":
                assert _actual() == _expected(active)
            elif action == "atomic_ok":
                with transaction.atomic():
                    _switch(schema)
                    assert _actual() == _expected(schema)
                active = schema
            elif action == "atomic_rollback":
                with transaction.atomic():
                    sid = transaction.savepoint()
                    _switch(schema)
                    assert _actual() == _expected(schema)
                    transaction.savepoint_rollback(sid)
                active = schema
            elif action == "atomic_error":
                with pytest.raises(DatabaseError), transaction.atomic():
                    _switch(schema)
                    assert _actual() == _expected(schema)
                    with connection.cursor() as cur:
                        cur.execute("SELECT * FROM no_such_table_anywhere")
                active = schema
            assert _actual() == _expected(active), (action, schema)
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def test_joined_set_reports_the_statement_result_not_the_set(tenant_a: Tenant) -> None:
    """Row counts and rows come from the data statement, not from the SET sent with it."""
    connection.set_schema(tenant_a.schema_name)  # type: ignore[attr-defined]
    try:
        with connection.cursor() as cur:
            cur.execute("UPDATE crm_stage SET probability = probability WHERE probability >= 0")
            assert cur.rowcount == 6
        with connection.cursor() as cur:
            cur.execute("SELECT name FROM crm_stage WHERE position = %s", [0])
            assert cur.fetchall() == [("Lead in",)]
        with connection.cursor() as cur:
            cur.execute("SELECT %s || '%%'", ["50"])
            assert cur.fetchone() == ("50%",)
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def _sent_text() -> str:
    """The text PostgreSQL received for this very statement (with any SET sent with it)."""
    with connection.cursor() as cur:
        cur.execute("SELECT current_query()")
        return str(cur.fetchone()[0])


def test_the_path_is_set_only_when_it_changes(tenant_a: Tenant, tenant_b: Tenant) -> None:
    try:
        connection.set_schema(tenant_a.schema_name)  # type: ignore[attr-defined]
        assert _sent_text().startswith('SET search_path = "t_alpha"')
        assert _sent_text().startswith("SELECT current_query()")  # the same schema: no SET
        connection.set_schema(tenant_b.schema_name)  # type: ignore[attr-defined]
        assert _sent_text().startswith('SET search_path = "t_beta"')
        connection.set_schema(tenant_a.schema_name)  # type: ignore[attr-defined]
        assert _sent_text().startswith('SET search_path = "t_alpha"')
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def test_a_cursor_keeps_its_schema_after_another_schemas_statement(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    try:
        connection.set_schema(tenant_a.schema_name)  # type: ignore[attr-defined]
        with connection.cursor() as alpha:
            alpha.execute("SELECT current_setting('search_path')")
            assert alpha.fetchone()[0] == "t_alpha, public"
            connection.set_schema(tenant_b.schema_name)  # type: ignore[attr-defined]
            assert _actual() == "t_beta, public"
            alpha.execute("SELECT current_setting('search_path')")
            assert alpha.fetchone()[0] == "t_alpha, public"
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


def test_a_raw_set_or_a_failed_statement_makes_the_next_statement_set_again(
    tenant_a: Tenant,
) -> None:
    try:
        connection.set_schema(tenant_a.schema_name)  # type: ignore[attr-defined]
        assert _actual() == "t_alpha, public"
        with connection.cursor() as cur:
            cur.execute("SET search_path = public")
        assert _actual() == "t_alpha, public"
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SELECT * FROM no_such_table_anywhere")
        assert _sent_text().startswith('SET search_path = "t_alpha"')
    finally:
        connection.set_schema_to_public()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("statement", "sets"),
    [
        ("SELECT current_setting('search_path')", False),
        ("SHOW search_path", False),
        ("SELECT password_reset_at FROM accounts", False),
        ("SET search_path = public", True),
        ("set local SEARCH_PATH to t_alpha", True),
        ("CREATE SCHEMA s; SET LOCAL search_path TO s; CREATE TABLE t (id int)", True),
        ("SELECT set_config('search_path', 'public', false)", True),
        ("RESET ALL", True),
        ("DISCARD ALL", True),
    ],
)
def test_statements_that_may_set_the_path_are_told_apart(statement: str, sets: bool) -> None:
    from tenants.db.base import _may_set_path

    assert _may_set_path(statement) is sets
