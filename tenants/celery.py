"""Celery tasks that know their tenant.

Every task message carries the schema it was queued in (a `_schema_name` header, added by
tenant-schemas-celery), and the worker enters that tenant before the task runs. On top of
that, MyCRM refuses the two ways a task could silently run against the wrong data:

- `TenantRequiredTask`, the default of the app: queueing it outside a tenant raises at once,
  and a worker that finds itself in `public` (a message without the header, a tenant that
  no longer exists) fails the task before its first query.
- `PublicTask`: for the few tasks that work on shared tables (refilling spare schemas, say);
  it always runs in `public`, whatever schema it was queued from.
"""

from typing import Any

from django.db import connection
from django_tenants.utils import get_public_schema_name
from tenant_schemas_celery.task import TenantTask

from .exceptions import TaskTenantMissing

SCHEMA_HEADER = "_schema_name"


def _queued_schema(request: Any) -> str | None:
    headers = getattr(request, "headers", None) or {}
    schema = headers.get(SCHEMA_HEADER) if isinstance(headers, dict) else None
    return schema or getattr(request, SCHEMA_HEADER, None)


class TenantRequiredTask(TenantTask):
    """A task that runs inside the tenant it was queued from, or not at all."""

    abstract = True

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        _require_tenant(self.name, options.get("headers"))
        return super().apply_async(args, kwargs, **options)

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        _require_tenant(self.name, options.get("headers"))
        return super().apply(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        queued = _queued_schema(self.request)
        public = get_public_schema_name()
        if not queued or queued == public:
            raise TaskTenantMissing(f"Task {self.name} was queued without an organization.")
        current = connection.schema_name  # type: ignore[attr-defined]
        if current != queued or getattr(connection, "tenant", None) is None:
            raise TaskTenantMissing(
                f"Task {self.name} could not enter organization schema {queued!r}."
            )
        return super().__call__(*args, **kwargs)


class PublicTask(TenantTask):
    """A task that works on shared tables and always runs in the public schema."""

    abstract = True

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        options["headers"] = _public_headers(options.get("headers"))
        return super().apply_async(args, kwargs, **options)

    def apply(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        options["headers"] = _public_headers(options.get("headers"))
        return super().apply(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if connection.schema_name != get_public_schema_name():  # type: ignore[attr-defined]
            connection.set_schema_to_public()  # type: ignore[attr-defined]
        return super().__call__(*args, **kwargs)


def _require_tenant(name: str, headers: dict[str, Any] | None) -> None:
    current = connection.schema_name  # type: ignore[attr-defined]
    schema = (headers or {}).get(SCHEMA_HEADER) or current
    if schema == get_public_schema_name():
        raise TaskTenantMissing(
            f"Task {name} needs an organization: queue it inside tenant_context(...)."
        )


def _public_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    return {**(headers or {}), SCHEMA_HEADER: get_public_schema_name()}
