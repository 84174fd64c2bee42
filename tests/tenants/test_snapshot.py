"""A schema made from the DDL snapshot is identical to one made by running migrations."""

from typing import Any

import pytest
from django.db import connection

from tenants.snapshot import create_schema_by_migrations, create_schema_from_snapshot

pytestmark = pytest.mark.django_db


def _rows(query: str, schema: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(query, {"schema": schema})
        return sorted(
            tuple(str(v).replace(schema, "<schema>") for v in row) for row in cur.fetchall()
        )


def describe(schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything that defines a schema, with its own name abstracted away."""
    return {
        "tables": _rows(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = %(schema)s",
            schema,
        ),
        "columns": _rows(
            """SELECT table_name, column_name, ordinal_position, data_type,
                      character_maximum_length, numeric_precision, is_nullable,
                      column_default, is_identity, identity_generation, collation_name
               FROM information_schema.columns WHERE table_schema = %(schema)s""",
            schema,
        ),
        "constraints": _rows(
            """SELECT cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid),
                      co.condeferrable, co.condeferred
               FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
               JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE n.nspname = %(schema)s""",
            schema,
        ),
        "indexes": _rows(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s",
            schema,
        ),
        "sequences": _rows(
            """SELECT sequencename, data_type, start_value, min_value, max_value, increment_by,
                      cycle, last_value
               FROM pg_sequences WHERE schemaname = %(schema)s""",
            schema,
        ),
        "migrations": _rows(
            f"SELECT app, name FROM {connection.ops.quote_name(schema)}.django_migrations",
            schema,
        ),
        "content_types": _rows(
            f"SELECT id, app_label, model FROM {connection.ops.quote_name(schema)}.django_content_type",
            schema,
        ),
    }


def test_snapshot_schema_is_identical_to_migrated_schema() -> None:
    create_schema_by_migrations("cmp_migrated")
    create_schema_from_snapshot("cmp_snapshot")
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    migrated, snapshot = describe("cmp_migrated"), describe("cmp_snapshot")
    assert ("crm_contact", "BASE TABLE") in migrated["tables"]
    assert len(migrated["migrations"]) >= 10
    for part in migrated:
        assert snapshot[part] == migrated[part], part


def test_snapshot_schema_accepts_inserts_after_copied_rows() -> None:
    create_schema_from_snapshot("cmp_inserts")
    with connection.cursor() as cur:
        cur.execute("SET search_path TO cmp_inserts")
        cur.execute(
            "INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y') RETURNING id"
        )
        new_id = cur.fetchone()[0]
        cur.execute("SELECT max(id) FROM django_content_type WHERE app_label <> 'x'")
        assert new_id > cur.fetchone()[0]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
