"""Database engines for SQLite (embedded default) and PostgreSQL, and schema migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

if TYPE_CHECKING:
    from alembic.config import Config

from rpsquest.errors import Unavailable

BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 5
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_MIGRATION_LOCK = 7_303_838  # PostgreSQL advisory lock id: one migrator at a time
# The newest migration (a test keeps it equal to Alembic's head). Knowing it lets a starting
# function confirm the schema with one query and leave Alembic (0.17 s of imports) unloaded.
SCHEMA_HEAD = "0006"
VERSION_TABLE = "schema_version"


def _use_wal(dbapi_connection: sqlite3.Connection) -> None:
    """WAL is a property of the file, set by its first connection. That switch needs the file
    to itself and fails at once (no busy wait) while a sibling connection holds it, which only
    happens while a new file is being created: wait for the sibling as the busy timeout would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def open_engine(url: str) -> Engine:
    """An engine with a connection pool; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A server that drops packets answers 503 within seconds, not after the TCP timeout;
        # the URL's own connect_timeout wins.
        connect = (
            {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_S}
        )
        return create_engine(
            url, pool_pre_ping=True, pool_size=8, max_overflow=8, connect_args=connect
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON", "synchronous=NORMAL"):
            dbapi_connection.execute(f"PRAGMA {pragma}")
        _use_wal(dbapi_connection)

    _SQLITE_WRITERS[engine] = threading.Lock()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A write transaction takes the lock up front so two writers never deadlock mid-way.
        immediate = connection.get_execution_options().get("immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def _unavailable_when_unreachable() -> Iterator[None]:
    """A refused, lost or busy connection becomes a 503 the client may retry. psycopg reports a
    lost server as OperationalError; any other driver error raised on a broken connection (an
    InterfaceError on its closed cursor, say) SQLAlchemy marks as connection_invalidated, and
    the pool discards that connection. Every other database error is a bug: a 500."""
    try:
        yield
    except DBAPIError as exc:
        if not (isinstance(exc, OperationalError) or exc.connection_invalidated):
            raise
        raise Unavailable("The game store is busy or unreachable; try again.") from exc


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One serialised write: BEGIN IMMEDIATE on SQLite; on PostgreSQL callers lock FOR UPDATE.

    SQLite has one writer at a time anyway; queueing this process's threads on a lock spares
    them SQLite's busy handler, which sleeps up to 100 ms between tries and ruins tail latency.
    """
    writers = _SQLITE_WRITERS.get(engine, nullcontext())
    with (
        _unavailable_when_unreachable(),  # outermost, so that a failed COMMIT is a 503 too
        writers,
        engine.connect().execution_options(immediate=True) as connection,
        connection.begin(),
    ):
        yield connection


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (closing it rolls back whatever it began)."""
    with _unavailable_when_unreachable(), engine.connect() as connection:
        yield connection


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("rpsquest.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


def _current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision, once, even when several processes start together."""
    with _unavailable_when_unreachable():
        _upgrade(engine)


def _upgrade(engine: Engine) -> None:
    with engine.connect() as connection:
        if _current_revision(connection) == SCHEMA_HEAD:
            return
    from alembic import command

    with engine.connect().execution_options(immediate=True) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK})
        if _current_revision(connection) != SCHEMA_HEAD:  # another process may have just done it
            command.upgrade(_alembic_config(connection), "head")
