"""django-tenants' PostgreSQL backend, with `SET search_path` sent only when the session's
path must change, and then in the same round trip as the statement that needs it.

Each connection remembers the SET that is in effect on its PostgreSQL session, and a cursor
whose schema needs another one carries it. Only plain data statements (SELECT, INSERT, UPDATE,
DELETE, WITH) are joined with the SET, through the simple query protocol of psycopg's
client-side-binding cursor; transaction control goes without it, and anything else (DDL,
raw SETs, composed SQL) gets the SET as a statement of its own.

What is remembered is forgotten, so that the next statement sets the path again, whenever
the session's path may differ from it: a rollback or a rollback to a savepoint (either
undoes a SET made inside it; `ABORT` too, and one at the end of a string of statements), a
failed statement, a new connection, and any statement that may set the path itself (a raw
`SET search_path`/`SET SCHEMA`/`RESET`/`DISCARD`, composed SQL, even after a `BEGIN`).
PgBouncer in transaction mode would break this, and is refused (`DATABASE_POOL_MODE`).
"""

import re
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import Cursor
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import quote_schema_name

_DATA_STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
# These never resolve a name, and must still work in an aborted transaction (a savepoint
# rollback is how one recovers), where a SET would fail.
_TRANSACTION_CONTROL = re.compile(
    r"\s*(SAVEPOINT|RELEASE|ROLLBACK|ABORT|COMMIT|BEGIN|START|END)\b", re.IGNORECASE
)


def _path_effect(query: str) -> Literal["sets", "undoes"] | None:
    """What a statement (or one of several in the string) may do to the session's path behind
    the remembered one's back: set it (`SET search_path`, `SET SCHEMA`, `set_config(…)`,
    `RESET`, `DISCARD`), or undo a SET made earlier in the transaction (`ROLLBACK`, to a
    savepoint too, or its synonym `ABORT`). Reading the path (`SHOW`, `current_setting`)
    does neither."""
    low = query.lower()
    if not (
        "search_path" in low
        or "schema" in low
        or "set_config" in low
        or "reset" in low
        or "discard" in low
        or "rollback" in low
        or "abort" in low
    ):
        return None  # the usual case, decided without a regex
    if _SETS_PATH.search(low) is not None:
        return "sets"
    if _UNDOES_PATH.search(low) is not None:
        return "undoes"
    return None


# Over-matching (a DDL's `SET SCHEMA`, a word in a literal) costs one more SET; missing one
# would serve another schema's rows.
_SETS_PATH = re.compile(
    r"search_path\"?\s*(=|to\b)|\bset\s+(session\s+|local\s+)?schema\b|set_config"
    r"|\breset\b|\bdiscard\b"
)
_UNDOES_PATH = re.compile(r"\b(rollback|abort)\b")


if TYPE_CHECKING:
    from psycopg import ClientCursor

    _CursorBase = ClientCursor[Any]
else:
    _CursorBase = Cursor  # Django's cursor: psycopg's client-side-binding one, plus callproc


class SearchPathCursor(_CursorBase):
    """A cursor that prefixes a data statement with its schema's `SET search_path` when the
    session's path is another one."""

    search_path_statement: str | None = None

    def _take_pending(self) -> str | None:
        """The cursor's SET, unless the session's path is that already. Checked for every
        statement, so a cursor used after another schema's statements still gets its own."""
        wanted = self.search_path_statement
        if wanted is None or _path_in_effect(self.connection) == wanted:
            return None
        return wanted

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        is_control = isinstance(query, str) and _TRANSACTION_CONTROL.match(query) is not None
        pending = None if is_control else self._take_pending()  # control: the SET waits
        try:
            if pending is None:
                result = super().execute(query, params, **kwargs)
            elif not isinstance(query, str) or kwargs or not _DATA_STATEMENT.match(query):
                super().execute(pending)
                _remember_path(self.connection, pending)
                result = super().execute(query, params, **kwargs)
            else:
                result = super().execute(f"{pending} {query}", params)
                self.nextset()  # the SET's empty result comes first
                _remember_path(self.connection, pending)
        except BaseException:
            _forget_path(self.connection)
            raise
        effect = _path_effect(query) if isinstance(query, str) else "sets"
        if effect == "sets":
            # The cursor may have set a path of its own: it keeps it (no more SETs from
            # here on this cursor), and the next cursor sets its own again.
            self.search_path_statement = None
            _forget_path(self.connection)
        elif effect == "undoes":
            _forget_path(self.connection)
        return result

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        pending = self._take_pending()
        try:
            if pending is not None:
                super().execute(pending)
                _remember_path(self.connection, pending)
            return super().executemany(query, params_seq, **kwargs)
        except BaseException:
            _forget_path(self.connection)
            raise


def _path_in_effect(conn: Any) -> str | None:
    return getattr(conn, "mycrm_search_path", None)


def _remember_path(conn: Any, statement: str) -> None:
    conn.mycrm_search_path = statement


def _forget_path(conn: Any) -> None:
    if conn is not None:
        conn.mycrm_search_path = None


# Validated SET statements a connection keeps, one per schema it has served.
_STATEMENTS_KEPT = 4096


class DatabaseWrapper(TenantDatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._search_path_statements: dict[tuple[str, bool], tuple[list[str], str]] = {}

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if params.get("cursor_factory") is Cursor:
            params["cursor_factory"] = SearchPathCursor
        return params

    def _handle_search_path(self, cursor: Any = None) -> None:
        raw = getattr(cursor, "cursor", None)
        if not isinstance(raw, SearchPathCursor) or self._setting_search_path:
            super()._handle_search_path(cursor)
            return
        if not self.schema_name:
            raise ImproperlyConfigured(
                "Database schema not set; call set_schema() or set_tenant()."
            )
        key = (self.schema_name, self.include_public_schema)
        made = self._search_path_statements.get(key)
        if made is None:
            # Made once per schema and connection instead of once per cursor.
            if len(self._search_path_statements) >= _STATEMENTS_KEPT:
                self._search_path_statements.clear()
            paths = self._get_cursor_search_paths()
            statement = "SET search_path = {};".format(
                ",".join(quote_schema_name(path) for path in paths)
            )
            made = self._search_path_statements[key] = (paths, statement)
        raw.search_path_statement = made[1]
        self.search_path_set_schemas = made[0]

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:  # a SET made in the transaction is undone
            _forget_path(self.connection)

    def savepoint_rollback(self, sid: str) -> None:
        try:
            super().savepoint_rollback(sid)
        finally:  # a SET made after the savepoint is undone
            _forget_path(self.connection)
