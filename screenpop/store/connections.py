"""Where the store's transactions run: SQLite on two worker threads, PostgreSQL on its async engine.

Every store operation is a synchronous function of one ``Connection``
(``store.sql``), and each backend runs one such function as one
transaction in one hop from the event loop:

- SQLite, through the stdlib driver on dedicated threads: one thread owns
  the writing connection (every write is serialised there, so writers
  never wait on each other's locks) and one the reading connection (WAL
  lets reads run beside the writer).  An operation is one
  ``run_in_executor``; SQLAlchemy's async bridge over aiosqlite, used
  before, paid a thread round trip per statement and per BEGIN/COMMIT,
  about 16 per trivial transaction and 1.5-5 ms of CPU per operation.
  An in-memory database has one connection, so one thread does both.
- PostgreSQL, through asyncpg: ``AsyncConnection.run_sync`` runs the same
  function on SQLAlchemy's greenlet bridge inside ``engine.begin()``.

The configured URL stays ``sqlite+aiosqlite:///…`` (it is what configs and
the SPEC say); it is mapped to the stdlib driver here.

SQLite needs care to behave like a server database: WAL (readers never
block the writer), foreign keys on, and real transactions.  Python's
sqlite3 module only opens a transaction before the first INSERT/UPDATE, so
its own transaction handling is switched off and ``BEGIN`` is emitted here,
``BEGIN IMMEDIATE`` on the writing connection, which takes the write lock
up front and waits for it (``busy_timeout``, for another process or
instance on the same file) rather than fail.  The one step SQLite does not
wait for by itself, switching a new file to WAL while another connection
writes it, is retried with back-off within the same busy timeout.

Migrations run to head on every start, inside a lock, so that several
instances starting at once against one database serialise: the first
creates the schema, the others find it at head and do nothing.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from screenpop.errors import ConfigError, may_quote_values
from screenpop.store.sqlite_thread import ConnectionThread

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x5C2E_E9C0_7000_0001
"""PostgreSQL advisory lock id held while migrating ("screenpop" in spirit, any constant)."""

SQLITE_BUSY_TIMEOUT_S = 15.0
PG_CONNECT_TIMEOUT_S = 10.0
DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

P = ParamSpec("P")
T = TypeVar("T")


class Database(Protocol):
    """Runs one synchronous function of a ``Connection`` as one transaction."""

    dialect: str

    async def write(self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kw: P.kwargs) -> T:
        """A write transaction (serialised with every other write of this store on SQLite)."""
        ...

    async def read(self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kw: P.kwargs) -> T:
        """A read-only transaction: one consistent snapshot, never waiting for writers."""
        ...

    async def close(self) -> None:
        """Release every connection and thread; the database cannot be used afterwards."""
        ...


def open_database(url: str) -> Database:
    """The backend for ``store.url``; ``ConfigError`` for a URL the store cannot use."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"store.url: {exc}") from exc
    if parsed.drivername not in DRIVERS:
        raise ConfigError(
            f"store.url: screenpop's store runs on sqlite+aiosqlite:// or "
            f"postgresql+asyncpg://, not {parsed.drivername}://"
        )
    if parsed.drivername == "sqlite+aiosqlite":
        return SQLiteDatabase(parsed)
    engine = create_async_engine(
        parsed,
        pool_pre_ping=True,
        hide_parameters=True,  # an error's text then never carries a caller's number or a note
        connect_args={"timeout": PG_CONNECT_TIMEOUT_S},
    )
    return PostgresDatabase(engine)


def upgrade_to_head(conn: sa.Connection) -> None:
    """Migrate the schema to head, holding the migration lock until the transaction ends.

    On PostgreSQL the lock is an advisory lock; on SQLite the writer's
    ``BEGIN IMMEDIATE`` already holds the database's write lock.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def failure_reason(exc: BaseException) -> str:
    """A short reason free of passwords and data, e.g. ``connection refused`` (/readyz adds ``down:``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return "timed out"
        if isinstance(seen, OSError) and (seen.errno or seen.strerror):
            # asyncpg's strerror is "Connect call failed (...)"; the errno says why
            text = os.strerror(seen.errno) if seen.errno else str(seen.strerror)
            return text.lower()
        seen = seen.__cause__ or seen.__context__
    orig = getattr(exc, "orig", None) or exc
    driver = orig.__cause__ or orig  # SQLAlchemy's asyncpg adapter wraps asyncpg's error, named by kind
    state = getattr(orig, "sqlstate", None)
    if not may_quote_values(orig, state):
        first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        return first_line[:160]
    # 'invalid input syntax for type integer: "..."', 'invalid input for query argument $1: ...':
    # a caller's number or a note would reach the log and /readyz; the kind says what happened.
    return f"{type(driver).__name__} (SQLSTATE {state})" if state else type(driver).__name__


class PostgresDatabase:
    """The async engine; a transaction is one ``run_sync`` on one pooled connection."""

    dialect = "postgresql"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def write(self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kw: P.kwargs) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(fn, *args, **kw)

    async def read(self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kw: P.kwargs) -> T:
        async with self._engine.connect() as conn:
            return await conn.run_sync(fn, *args, **kw)

    async def close(self) -> None:
        await self._engine.dispose()


class SQLiteDatabase:
    """A synchronous SQLite engine driven from a writer thread and a reader thread."""

    dialect = "sqlite"

    def __init__(self, url: URL) -> None:
        self._engine = _sqlite_engine(url)
        in_memory = (url.database or "") in ("", ":memory:")
        self._writer = ConnectionThread(self._engine, "screenpop-store-write", begin="BEGIN IMMEDIATE")
        # an in-memory database lives in its one connection: reads must use it too
        self._reader = (
            self._writer
            if in_memory
            else ConnectionThread(self._engine, "screenpop-store-read", begin="BEGIN")
        )

    async def write(self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kw: P.kwargs) -> T:
        return await self._writer.run(_bind(fn, *args, **kw))

    async def read(self, fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kw: P.kwargs) -> T:
        return await self._reader.run(_bind(fn, *args, **kw))

    async def close(self) -> None:
        """Close both connections on their own threads, then end the threads."""
        try:
            if self._reader is not self._writer:
                await self._reader.close()
        finally:
            await self._writer.close(then=self._engine.dispose)


def _bind(
    fn: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kw: P.kwargs
) -> Callable[[sa.Connection], T]:
    """``fn`` with its arguments after the connection, which only the worker thread has."""

    def job(conn: sa.Connection) -> T:
        return fn(conn, *args, **kw)

    return job


def _sqlite_engine(url: URL) -> sa.Engine:
    database = url.database or ""
    options: dict[str, Any] = {}
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    if database in ("", ":memory:"):
        # one shared connection, used from the one worker thread
        options["poolclass"] = StaticPool
        connect_args["check_same_thread"] = False
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args=connect_args,
        hide_parameters=True,  # an error's text then never carries a caller's number or a note
        **options,
    )
    # a pool event, not a connection event: those would cost every statement a dispatch
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # screenpop emits BEGIN itself (sqlite_thread)
    cursor = dbapi_connection.cursor()
    try:
        # set here too, not only through connect_args, so no connection of this engine can lack it
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _retry_while_busy(lambda: cursor.execute("PRAGMA journal_mode=WAL"), time.monotonic, time.sleep)
        for pragma in ("synchronous=NORMAL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _retry_while_busy(
    statement: Callable[[], object],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    budget_s: float = SQLITE_BUSY_TIMEOUT_S,
) -> None:
    """Run ``statement``, retrying with back-off while another connection holds the file's write lock.

    Switching a new file to WAL needs the file to itself, and SQLite
    answers ``SQLITE_BUSY`` at once, without its busy handler, when another
    connection holds the write lock (another instance migrating the same
    new file, or any other process writing to it).  Two screenpops starting
    together on one new file hit exactly that, so the switch is retried
    (exponential back-off with jitter, within the busy timeout) like every
    other statement waits for the lock.  Runs on a store thread: sleeping
    blocks no event loop.
    """
    deadline = clock() + budget_s
    delay = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            if clock() + delay > deadline:
                raise
            log.info("store: the SQLite file is busy (another connection is writing); retrying")
        sleep(delay / 2 + random.uniform(0, delay / 2))
        delay = min(delay * 2, 0.5)
