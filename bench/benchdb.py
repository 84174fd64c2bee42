"""Throwaway benchmark databases on the server DATABASE_URL points at."""

import os
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def server_url() -> str:
    """The DATABASE_URL of the environment: only its server is used, never its database."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set: run inside `python -m devstack run -- ...`.")
    return url


def with_database(url: str, name: str) -> str:
    """`url` with its database name replaced by `name`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin_url(url: str) -> str:
    """A libpq-friendly URL of the server's maintenance database."""
    return with_database(url, "postgres").replace("postgres://", "postgresql://", 1)


def recreate(url: str, name: str) -> str:
    """Drop and create database `name` on `url`'s server; return its URL."""
    if not name.startswith("mycrm_bench_"):
        raise ValueError(f"refusing to recreate {name!r}: bench databases are mycrm_bench_*")
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(url, name)


def drop(url: str, name: str) -> None:
    """Drop database `name` on `url`'s server, closing its connections."""
    if not name.startswith("mycrm_bench_"):
        raise ValueError(f"refusing to drop {name!r}: bench databases are mycrm_bench_*")
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_facts(url: str) -> dict[str, str]:
    """PostgreSQL version and the settings that change what DDL and commits cost."""
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        facts = {}
        for setting in ("server_version", "fsync", "synchronous_commit", "shared_buffers"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()
            facts[setting] = str(row[0]) if row else "?"
    return facts


def django_on_fresh_database(name: str, *, with_snapshot: bool = False) -> None:
    """Point this process's Django at a fresh database `name` on the DATABASE_URL server,
    set Django up and migrate the public schema (and render the tenant snapshot)."""
    os.environ["DATABASE_URL"] = recreate(os.environ["DATABASE_URL"], name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    if with_snapshot:
        from tenants.snapshot import build_snapshot

        build_snapshot()
