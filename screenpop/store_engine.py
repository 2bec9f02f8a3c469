"""The store's database engine and its migrations, for SQLite and PostgreSQL alike.

SQLite needs care to behave like a server database under concurrent
writers: WAL (readers never block the writer), foreign keys on, and real
transactions.  Python's sqlite3 module only opens a transaction before the
first INSERT/UPDATE, so a read-then-write could fail with "database is
locked" instead of waiting; here the driver's own transaction handling is
switched off and screenpop emits ``BEGIN`` itself, ``BEGIN IMMEDIATE`` for
write transactions, which take the write lock up front and wait for it
(``busy_timeout``) rather than fail.

Migrations run to head on every start, inside a lock, so that several
instances starting at once against one PostgreSQL database serialise: the
first creates the schema, the others find it at head and do nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from screenpop.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x5C2E_E9C0_7000_0001
"""PostgreSQL advisory lock id held while migrating ("screenpop" in spirit, any constant)."""

WRITE_OPTION = "screenpop_write"
SQLITE_BUSY_TIMEOUT_S = 15.0
PG_CONNECT_TIMEOUT_S = 10.0
DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def create_store_engine(url: str) -> AsyncEngine:
    """An async engine for ``store.url``; ``ConfigError`` for anything else."""
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
        return _sqlite_engine(parsed)
    return create_async_engine(parsed, pool_pre_ping=True, connect_args={"timeout": PG_CONNECT_TIMEOUT_S})


def writer_of(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) marked so that SQLite begins with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{WRITE_OPTION: True})


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the schema to head, holding the migration lock for the whole upgrade."""
    async with writer_of(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        await conn.run_sync(_upgrade_to_head)


def failure_reason(exc: BaseException) -> str:
    """A short, password-free reason, e.g. ``connection refused`` (/readyz adds ``down:``)."""
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
    first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return first_line[:160]


def _upgrade_to_head(connection: sa.Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    in_memory = database in ("", ":memory:")
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    if in_memory:
        # one shared connection, or every pooled connection would see its own empty database
        options["poolclass"] = StaticPool
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **options)
    sa.event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # screenpop emits BEGIN itself (_sqlite_on_begin)
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(connection: sa.Connection) -> None:
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
