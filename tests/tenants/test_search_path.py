"""The connection's real search_path always matches the active tenant (django-tenants #1262).

A stale cached search_path after ROLLBACK TO SAVEPOINT would silently serve another tenant's
rows; this randomized walk through atomic blocks, savepoints, rollbacks and errors checks
`SHOW search_path` after every step.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
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
    ("statement", "effect"),
    [
        ("SELECT current_setting('search_path')", None),
        ("SHOW search_path", None),
        ("SELECT password_reset_at FROM accounts", None),
        ("SELECT abort_reason, rollback_at FROM schema_changes", None),
        ("CREATE SCHEMA s", None),
        ("SET search_path = public", "sets"),
        ("set local SEARCH_PATH to t_alpha", "sets"),
        ("CREATE SCHEMA s; SET LOCAL search_path TO s; CREATE TABLE t (id int)", "sets"),
        ("SELECT set_config('search_path', 'public', false)", "sets"),
        ("RESET ALL", "sets"),
        ("DISCARD ALL", "sets"),
        ("SET SCHEMA 'public'", "sets"),
        ("SET LOCAL SCHEMA 't_alpha'", "sets"),
        ('SET "search_path" TO public', "sets"),
        ("SET search_path = public; ROLLBACK", "sets"),
        ("ROLLBACK", "undoes"),
        ("ABORT", "undoes"),
        ("SELECT 1; ROLLBACK TO SAVEPOINT s", "undoes"),
        ("INSERT INTO t VALUES (1);\nabort", "undoes"),
    ],
)
def test_statements_that_may_set_or_undo_the_path_are_told_apart(
    statement: str, effect: str | None
) -> None:
    from tenants.db.base import _path_effect

    assert _path_effect(statement) == effect


@pytest.fixture
def own_connection(db: None) -> Iterator[Any]:
    """A second connection of the same backend, in autocommit and outside the test's
    transaction, so a test can begin and end transactions with raw statements."""
    own = connections.create_connection(DEFAULT_DB_ALIAS)
    assert own.settings_dict["NAME"].startswith("test_"), "not the test database"
    try:
        yield own
    finally:
        own.close()


def _path_on(own: Any, schema: str) -> str:
    """The session's path as a statement for `schema` on `own` sees it."""
    own.set_schema(schema)
    with own.cursor() as cur:
        cur.execute("SELECT current_setting('search_path')")
        return str(cur.fetchone()[0])


def _run(own: Any, statement: str) -> None:
    with own.cursor() as cur:
        cur.execute(statement)


@pytest.mark.parametrize(
    "ending",
    [
        "ABORT",
        "abort work",
        "SELECT 1; ROLLBACK",
        "UPDATE crm_stage SET position = position;\n  rollback",
        "SELECT 1; ABORT",
    ],
)
def test_a_transaction_undone_by_any_statement_leaves_no_stale_path(
    ending: str, own_connection: Any, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    assert _path_on(own_connection, tenant_b.schema_name) == "t_beta, public"
    _run(own_connection, "BEGIN")
    assert _path_on(own_connection, tenant_a.schema_name) == "t_alpha, public"

    _run(own_connection, ending)  # back to the path from before BEGIN: t_beta's

    assert _path_on(own_connection, tenant_a.schema_name) == "t_alpha, public"


@pytest.mark.parametrize(
    "undo",
    ["SELECT 1; ROLLBACK TO SAVEPOINT before_alpha", "SELECT 1; rollback to before_alpha"],
)
def test_a_savepoint_undone_at_the_end_of_a_string_leaves_no_stale_path(
    undo: str, own_connection: Any, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    assert _path_on(own_connection, tenant_b.schema_name) == "t_beta, public"
    _run(own_connection, "BEGIN")
    _run(own_connection, "SAVEPOINT before_alpha")
    assert _path_on(own_connection, tenant_a.schema_name) == "t_alpha, public"

    _run(own_connection, undo)

    assert _path_on(own_connection, tenant_a.schema_name) == "t_alpha, public"
    _run(own_connection, "ROLLBACK")


@pytest.mark.parametrize(
    "statement",
    [
        "SET SCHEMA 'public'",
        "set session schema 'public'",
        "BEGIN; SET search_path = public; COMMIT",
        'SET "search_path" = public',
    ],
)
def test_a_path_set_by_any_spelling_makes_the_next_statement_set_again(
    statement: str, own_connection: Any, tenant_a: Tenant
) -> None:
    assert _path_on(own_connection, tenant_a.schema_name) == "t_alpha, public"

    _run(own_connection, statement)

    assert _path_on(own_connection, tenant_a.schema_name) == "t_alpha, public"
