"""django-tenants' PostgreSQL backend, with each cursor's `SET search_path` sent in the same
round trip as the cursor's first query instead of a round trip of its own.

Nothing is cached: like django-tenants without TENANT_LIMIT_SET_CALLS, every cursor sets the
search_path before its first statement, so a rollback can never leave a stale path behind.
Only plain data statements (SELECT, INSERT, UPDATE, DELETE, WITH) are joined with the SET,
through the simple query protocol of psycopg's client-side-binding cursor; transaction
control goes without it, and anything else (DDL, raw SETs, composed SQL) gets the SET as a
statement of its own.
"""

import re
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import Cursor
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import quote_schema_name

_DATA_STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
# These never resolve a name, and must still work in an aborted transaction (a savepoint
# rollback is how one recovers), where a SET would fail.
_TRANSACTION_CONTROL = re.compile(
    r"\s*(SAVEPOINT|RELEASE|ROLLBACK|COMMIT|BEGIN|START|END)\b", re.IGNORECASE
)


if TYPE_CHECKING:
    from psycopg import ClientCursor

    _CursorBase = ClientCursor[Any]
else:
    _CursorBase = Cursor  # Django's cursor: psycopg's client-side-binding one, plus callproc


class SearchPathCursor(_CursorBase):
    """A cursor that prefixes its first data statement with a pending `SET search_path`."""

    search_path_statement: str | None = None

    def _take_pending(self) -> str | None:
        pending, self.search_path_statement = self.search_path_statement, None
        return pending

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if isinstance(query, str) and _TRANSACTION_CONTROL.match(query):
            return super().execute(query, params, **kwargs)  # the SET waits for the next one
        pending = self._take_pending()
        if pending is None:
            return super().execute(query, params, **kwargs)
        if not isinstance(query, str) or kwargs or not _DATA_STATEMENT.match(query):
            super().execute(pending)
            return super().execute(query, params, **kwargs)
        if params is not None:
            pending = pending.replace("%", "%%")
        result = super().execute(f"{pending} {query}", params)
        self.nextset()  # the SET's empty result comes first
        return result

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        pending = self._take_pending()
        if pending is not None:
            super().execute(pending)
        return super().executemany(query, params_seq, **kwargs)


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
