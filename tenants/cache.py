"""Cache keys carry the schema, so no cached value crosses tenants."""

from django.db import connection


def tenant_cache_key(key: str, key_prefix: str, version: int) -> str:
    """Django KEY_FUNCTION: `<schema>:<prefix>:<version>:<key>` for every cache entry."""
    schema = getattr(connection, "schema_name", None) or "public"
    return f"{schema}:{key_prefix}:{version}:{key}"
