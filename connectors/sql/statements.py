"""One statement on a pooled connection, bounded by its own timeout and stopped on the server when abandoned.

Without this, SQLite keeps executing in its worker thread after a lookup is
cancelled and the connection stays busy until it finishes; PostgreSQL gets a
cancel request and, for a statement with a timeout of its own, a
``SET LOCAL statement_timeout``.  Every failure leaves as a ``ConnectorError``
whose text names no secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import URL, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import TextClause

from screenpop.errors import ConnectorError

from .values import describe_db_error, json_row

log = logging.getLogger("screenpop.connectors.sql.connector")  # the name operators already filter on

INTERRUPT_EVERY_S = 0.02  # SQLite: how often a cancelled lookup's statement is interrupted again
ABANDON_WAIT_S = 2.0


def sets_server_timeout(url: URL) -> bool:
    """Whether the driver's server takes ``SET LOCAL statement_timeout`` (PostgreSQL's drivers)."""
    return url.get_driver_name() in ("asyncpg", "psycopg")


@dataclass(frozen=True, slots=True)
class Query:
    statement: TextClause
    bound: dict[str, Any]
    limit: int | None
    as_tuples: bool
    timeout_ms: int


class Statements:
    """Runs a connector's statements; knows its URL (for how to stop one) and its secrets (to hide)."""

    def __init__(self, name: str, url: URL, default_timeout_ms: int, secrets: tuple[str, ...]) -> None:
        self._name = name
        self._url = url
        self._default_timeout_ms = default_timeout_ms
        self._secrets = secrets

    async def fetch(self, engine: AsyncEngine, query: Query) -> list[Any]:
        """Run one statement on a pooled connection; every failure becomes a safe ConnectorError.

        ``query.as_tuples`` gives plain tuples, the first of them the column names.
        """
        try:
            try:
                return await self._on_pooled(engine, query)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The server ended the pooled connections (a restart, a failover): SQLAlchemy
                # has dropped them, and a fresh connection answers this same call.
                return await self._on_pooled(engine, query)
        except ConnectorError:
            raise
        except Exception as exc:
            raise ConnectorError(describe_db_error(exc, self._secrets)) from exc

    async def _on_pooled(self, engine: AsyncEngine, query: Query) -> list[Any]:
        async with engine.connect() as conn:
            return await self._guarded(conn, query)

    async def _guarded(self, conn: AsyncConnection, query: Query) -> list[Any]:
        """Run the query in its own task so that a cancel or timeout can stop it on the server first."""
        raw = await conn.get_raw_connection()
        work = asyncio.ensure_future(self._rows(conn, query))
        try:
            async with asyncio.timeout(query.timeout_ms / 1000):
                return await asyncio.shield(work)
        except TimeoutError:
            await self._abandon(work, raw.driver_connection)
            raise ConnectorError(f"query ran longer than {query.timeout_ms} ms") from None
        except asyncio.CancelledError:
            await self._abandon(work, raw.driver_connection)
            raise

    async def _rows(self, conn: AsyncConnection, query: Query) -> list[Any]:
        if query.timeout_ms != self._default_timeout_ms and sets_server_timeout(self._url):
            await conn.execute(text(f"SET LOCAL statement_timeout = {int(query.timeout_ms)}"))
        result = await conn.execute(query.statement, query.bound)
        if query.as_tuples:
            rows = result.fetchall() if query.limit is None else result.fetchmany(query.limit)
            return [tuple(result.keys()), *(tuple(row) for row in rows)]
        mappings = result.mappings()
        fetched = mappings.fetchall() if query.limit is None else mappings.fetchmany(query.limit)
        return [json_row(row) for row in fetched]

    async def _abandon(self, work: asyncio.Future[list[Any]], driver: Any) -> None:
        """Stop a running statement and wait (briefly) until its connection is free again."""
        if not work.done():
            if self._url.get_backend_name() == "sqlite":
                await _interrupt_until_done(work, driver)
            else:
                work.cancel()  # asyncpg and friends send the server a cancel request
                await asyncio.wait({work}, timeout=ABANDON_WAIT_S)
        if not work.done():
            log.warning(
                "connector %s: a cancelled query did not stop within %.0f s", self._name, ABANDON_WAIT_S
            )
            work.cancel()
        elif not work.cancelled():
            work.exception()  # retrieved: the caller already knows it was abandoned


async def _interrupt_until_done(work: asyncio.Future[list[Any]], driver: Any) -> None:
    """Interrupt SQLite's statement again and again until it stops, for at most ``ABANDON_WAIT_S``.

    ``sqlite3_interrupt`` only stops a statement that is running: one still
    queued on the connection's thread when the lookup was cancelled starts
    after the interrupt and would run to its end, holding the connection (and
    closing it) for as long as it takes.
    """
    deadline = asyncio.get_running_loop().time() + ABANDON_WAIT_S
    while not work.done() and asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(Exception):
            await driver.interrupt()
        await asyncio.wait({work}, timeout=INTERRUPT_EVERY_S)
