"""Render a migrated tenant schema to a DDL script once, and replay it to create new schemas.

Replaying the script is one round trip whose cost does not grow with the number of existing
tenants, unlike catalog-walking clones. Migrations stay the source of truth: the script is
rendered from a schema that migrations built, and is keyed by the exact set of migrations, so
a new migration produces a new snapshot.
"""

import hashlib
import json
import threading
import time
from typing import Any

import structlog
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import app_labels
from psycopg import sql

from .models import SchemaSnapshot

log = structlog.get_logger(__name__)

RENDERER_VERSION = "3"
_SNAPSHOT_LOCK_ID = 0x6D7963726D  # advisory lock: one snapshot build at a time
_cache: dict[str, str] = {}
_cache_lock = threading.Lock()
_key_cache: list[str] = []


def snapshot_key() -> str:
    """A digest of every migration of the tenant apps, so the key changes with the schema."""
    if _key_cache:
        return _key_cache[0]
    loader = MigrationLoader(None, ignore_no_migrations=True)
    tenant_labels = set(app_labels(settings.TENANT_APPS))
    names = sorted(
        f"{app}.{name}" for (app, name) in loader.disk_migrations if app in tenant_labels
    )
    digest = hashlib.sha256(json.dumps([RENDERER_VERSION, names]).encode()).hexdigest()
    _key_cache.append(digest)
    return digest


def quote_identifier(name: str) -> str:
    """A PostgreSQL identifier (schema, table, column) quoted for SQL text."""
    return '"' + name.replace('"', '""') + '"'


_q = quote_identifier


def render_schema(schema: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (DDL script with unqualified names, django_migrations rows) for `schema`."""
    with connection.cursor() as cur:
        # Unqualified output: with only the template on the path, catalog functions qualify
        # nothing of its own and everything outside it (public.*).
        cur.execute(f"SET LOCAL search_path TO {_q(schema)}")
        cur.execute(
            """
            SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.oid
            """,
            [schema],
        )
        tables = cur.fetchall()
        statements: list[str] = []
        cur.execute(
            """
            SELECT s.relname, format('INCREMENT %%s MINVALUE %%s MAXVALUE %%s START %%s',
                   q.seqincrement, q.seqmin, q.seqmax, q.seqstart)
            FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
            JOIN pg_sequence q ON q.seqrelid = s.oid
            WHERE n.nspname = %s AND s.relkind = 'S' AND NOT EXISTS (
                SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.deptype = 'i')
            ORDER BY s.oid
            """,
            [schema],
        )
        for seqname, options in cur.fetchall():
            statements.append(f"CREATE SEQUENCE {_q(seqname)} {options};")
        for oid, relname in tables:
            cur.execute(
                """
                SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attisdropped,
                       CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
                            THEN (SELECT quote_ident(collname) FROM pg_collation
                                  WHERE oid = a.attcollation) END
                FROM pg_attribute a LEFT JOIN pg_type t ON t.oid = a.atttypid
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attrelid = %s AND a.attnum > 0
                ORDER BY a.attnum
                """,
                [oid],
            )
            columns: list[str] = []
            dropped: list[str] = []
            for name, typ, notnull, default, identity, is_dropped, collation in cur.fetchall():
                if is_dropped:
                    # Keep attribute numbers equal to the migrated table's: add, then drop.
                    placeholder = f"_dropped_{len(columns)}"
                    columns.append(f"{_q(placeholder)} integer")
                    dropped.append(placeholder)
                    continue
                col = f"{_q(name)} {typ}"
                if collation:
                    col += f" COLLATE {collation}"
                if identity:
                    kind = "ALWAYS" if identity == "a" else "BY DEFAULT"
                    col += f" GENERATED {kind} AS IDENTITY"
                elif default is not None:
                    col += f" DEFAULT {default}"
                if notnull:
                    col += " NOT NULL"
                columns.append(col)
            statements.append(f"CREATE TABLE {_q(relname)} ({', '.join(columns)});")
            statements.extend(
                f"ALTER TABLE {_q(relname)} DROP COLUMN {_q(col)};" for col in dropped
            )
        cur.execute(
            """
            SELECT cl.relname, co.conname, pg_get_constraintdef(co.oid), co.contype
            FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid
            JOIN pg_namespace n ON n.oid = cl.relnamespace
            WHERE n.nspname = %s AND co.contype IN ('p', 'u', 'c', 'x', 'f')
            ORDER BY co.contype = 'f', co.oid
            """,
            [schema],
        )
        for relname, conname, definition, _kind in cur.fetchall():
            statements.append(
                f"ALTER TABLE {_q(relname)} ADD CONSTRAINT {_q(conname)} {definition};"
            )
        cur.execute("SELECT quote_ident(%s)", [schema])
        qualified = f" ON {cur.fetchone()[0]}."
        cur.execute(
            """
            SELECT pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
            JOIN pg_namespace n ON n.oid = ic.relnamespace
            WHERE n.nspname = %s AND NOT EXISTS (
                SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid
                AND co.contype IN ('p', 'u', 'x'))
            ORDER BY i.indexrelid
            """,
            [schema],
        )
        # pg_get_indexdef qualifies the table with its schema whatever the search_path.
        statements.extend(f"{row[0].replace(qualified, ' ON ', 1)};" for row in cur.fetchall())
        # Triggers (the audit log's append-only guard): their functions live in `public`.
        cur.execute(
            """
            SELECT pg_get_triggerdef(t.oid)
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND NOT t.tgisinternal
            ORDER BY t.oid
            """,
            [schema],
        )
        statements.extend(f"{row[0].replace(qualified, ' ON ', 1)};" for row in cur.fetchall())

        for _oid, relname in tables:
            cur.execute(
                sql.SQL("SELECT coalesce(json_agg(t), '[]'::json)::text FROM {} t").format(
                    sql.Identifier(relname)
                )
            )
            rows_json = cur.fetchone()[0]
            if rows_json == "[]":
                continue
            literal = sql.Literal(rows_json).as_string(cur.connection)
            statements.append(  # identifiers quoted by _q, data by sql.Literal
                f"INSERT INTO {_q(relname)} SELECT * FROM "  # noqa: S608
                f"json_populate_recordset(NULL::{_q(relname)}, {literal}::json);"
            )
            cur.execute(
                """
                SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND c.relname = %s AND a.attidentity <> ''
                """,
                [schema, relname],
            )
            for (col,) in cur.fetchall():
                sequence = f"pg_get_serial_sequence('{_q(relname)}', '{col}')"
                statements.append(
                    f"SELECT setval({sequence}, max({_q(col)})) FROM {_q(relname)};"  # noqa: S608
                )
        cur.execute(
            sql.SQL("SELECT app, name FROM {}.django_migrations ORDER BY id").format(
                sql.Identifier(schema)
            )
        )
        migrations = [{"app": app, "name": name} for app, name in cur.fetchall()]
    return "\n".join(statements), migrations


def build_snapshot() -> SchemaSnapshot:
    """Migrate a scratch schema, render it, store the snapshot and drop the scratch schema."""
    key = snapshot_key()
    scratch = f"_snapshot_{key[:16]}"
    started = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_SNAPSHOT_LOCK_ID])
        existing = SchemaSnapshot.objects.filter(key=key).first()
        if existing is not None:
            return existing
        with connection.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {_q(scratch)} CASCADE")
            cur.execute(f"CREATE SCHEMA {_q(scratch)}")
        call_command(
            "migrate_schemas", schema_name=scratch, tenant=True, interactive=False, verbosity=0
        )
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        ddl, migrations = render_schema(scratch)
        with connection.cursor() as cur:
            cur.execute(f"DROP SCHEMA {_q(scratch)} CASCADE")
        snap = SchemaSnapshot.objects.create(key=key, ddl=ddl, migrations=migrations)
    log.info(
        "tenants.snapshot_built",
        key=key[:12],
        migrations=len(migrations),
        ms=round((time.perf_counter() - started) * 1000),
    )
    return snap


def snapshot_ddl() -> str:
    """The DDL script for the current migration state, built on first use and cached."""
    key = snapshot_key()
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    snap = SchemaSnapshot.objects.filter(key=key).first() or build_snapshot()
    with _cache_lock:
        _cache[key] = snap.ddl
    return snap.ddl


def create_schema_from_snapshot(schema: str) -> None:
    """Create `schema` and replay the snapshot into it, inside the caller's transaction."""
    ddl = snapshot_ddl()
    with connection.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {_q(schema)}; SET LOCAL search_path TO {_q(schema)};\n{ddl}")


def create_schema_by_migrations(schema: str) -> None:
    """Create `schema` and run every tenant migration in it: slow, but the source of truth."""
    with connection.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {_q(schema)}")
    call_command("migrate_schemas", schema_name=schema, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
