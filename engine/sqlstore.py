"""The SQL plumbing shared by the certificate registry and the decision log.

In: a path or URL. Out: a SQLAlchemy engine for SQLite or PostgreSQL, the statements that make
tables append-only in the database itself, and the diagnostic for a store that cannot be opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from engine.diagnostics import Diagnostic, Span

SCHEMA_LOCK = 7_312_001  # a PostgreSQL advisory lock: two processes creating a schema at once


def engine_url(url: str) -> sa.engine.URL:
    """SQLite for a path or `sqlite:` URL, psycopg 3 for `postgresql:`; nothing else."""
    if "://" not in url:
        return sa.engine.URL.create("sqlite", database=url)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername != "sqlite":
        raise ValueError(f"`{parsed.drivername}` is not SQLite or PostgreSQL")
    return parsed


def build_engine(url: sa.engine.URL) -> sa.Engine:
    """An engine whose transactions see one snapshot and take their write lock at BEGIN."""
    if url.get_backend_name() == "postgresql":
        # One snapshot per transaction: a lookup and the checks after it see the same rows; a
        # concurrent writer's commit then shows as a collision, and the operation is run again.
        return sa.create_engine(
            url, connect_args={"connect_timeout": 5}, isolation_level="REPEATABLE READ"
        )
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    # pysqlite's own transactions begin late and deferred: take the write lock at BEGIN, so
    # a transaction's lookup and its insert see the same database (SQLAlchemy's recipe).
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None
        dbapi.execute("PRAGMA foreign_keys = ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def append_only_triggers(dialect: str, tables: Iterable[str]) -> list[str]:
    """Statements after which the database itself refuses to change or delete a row of
    `tables`, so that no client, not even one that bypasses ordinance, rewrites a history."""
    tables = tuple(tables)
    if dialect != "postgresql":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_{op.lower()} BEFORE {op} ON {t} "
            f"BEGIN SELECT RAISE(ABORT, '{t} are append-only'); END"
            for t in tables
            for op in ("UPDATE", "DELETE")
        ]
    return [
        "CREATE OR REPLACE FUNCTION ordinance_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' are append-only'; END $$",
        *(
            f"CREATE OR REPLACE TRIGGER {t}_append_only{suffix} BEFORE {ops} ON {t} "
            f"FOR EACH {each} EXECUTE FUNCTION ordinance_append_only()"
            for t in tables
            for suffix, ops, each in (
                ("", "UPDATE OR DELETE", "ROW"),
                ("_truncate", "TRUNCATE", "STATEMENT"),
            )
        ),
    ]


def create_schema(conn: sa.Connection, metadata: sa.MetaData, tables: Iterable[str]) -> None:
    """Create what is missing of `metadata` and make `tables` append-only, in `conn`'s
    transaction (on PostgreSQL under an advisory lock, so two processes starting at once do
    not both create)."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
    metadata.create_all(conn)
    for statement in append_only_triggers(conn.dialect.name, tables):
        conn.exec_driver_sql(statement)


def shown_url(url: str) -> str:
    """`url` as it may be printed: without its password."""
    with contextlib.suppress(sa.exc.SQLAlchemyError, ValueError):
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    return url


def unavailable(code: str, what: str, url: str, error: Exception) -> Diagnostic:
    """The diagnostic for a store (`what`: "the certificate registry") that cannot be opened,
    its span the URL as shown, its message the database's first line of complaint."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    shown = shown_url(url)
    span = Span(shown, 1, 1, 1, len(shown) + 1)
    message = f"{what} `{shown}` cannot be opened: {reason}"
    help = "give `sqlite:///path/to/store.db`, a file path, or a reachable `postgresql://` URL"
    return Diagnostic(code, message, span, help=help)
