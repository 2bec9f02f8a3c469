"""The ``sql`` sink: one bound statement per saved note, against any SQLAlchemy async URL.

The statement is the company's own (``INSERT INTO call_log … VALUES
(:call_id, :e164, …)``); it may bind any of ``sink_api.SINK_PARAMETERS``,
and binding ``:idempotency_key`` with an ``ON CONFLICT DO NOTHING`` makes a
redelivery (after a crash) a no-op.  Each delivery is one transaction.
``saved_at`` is bound as a timezone-aware datetime (a timestamp column),
``customer_ids`` as JSON text, ``version`` as an integer.

The engine hides parameters (``hide_parameters=True``): an error's text then
never carries a caller's number or a note.  A database that refuses the row
(a constraint, a type, a missing table) raises ``SinkRefused``; one that is
away raises its own error, and the worker retries either way.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from screenpop.config.schema import check_database_url
from screenpop.connector_api import refuse_parameter_cast
from screenpop.driver_threads import DriverThreads, interruptible
from screenpop.retry import is_transient
from screenpop.sink_api import SINK_PARAMETERS, Delivery, SinkContext, SinkOptions, SinkRefused
from screenpop.sinks.reasons import failure_reason


class SqlSinkOptions(SinkOptions):
    url: str
    statement: str = Field(min_length=1)
    timeout_s: float = Field(10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("statement")
    @classmethod
    def _known_parameters(cls, value: str) -> str:
        refuse_parameter_cast(value, "statement")
        unknown = sorted(set(bound_names(value)) - set(SINK_PARAMETERS))
        if unknown:
            raise ValueError(
                f"the statement binds :{unknown[0]}, which no note has (known: {', '.join(SINK_PARAMETERS)})"
            )
        return value


def bound_names(statement: str) -> list[str]:
    """The ``:name`` parameters a statement binds, as SQLAlchemy's ``text()`` reads them."""
    return list(sa.text(statement).compile().binds)


class SqlSink:
    """Runs the configured statement once per delivery, in its own transaction."""

    Options = SqlSinkOptions

    def __init__(self, name: str, options: SqlSinkOptions, context: SinkContext) -> None:
        self.name = name
        self._options = options
        self._statement = typed_statement(options.statement)
        self._engine: AsyncEngine | None = None
        self._threads: DriverThreads | None = None

    async def start(self) -> None:
        """Create the engine; it connects at the first delivery, so a sink that is away costs nothing."""
        self._engine = create_async_engine(
            self._options.url,
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=2,
            hide_parameters=True,
        )
        self._threads = DriverThreads(self._engine)

    async def deliver(self, delivery: Delivery) -> None:
        engine = self._require_engine()
        try:
            async with asyncio.timeout(self._options.timeout_s), engine.begin() as conn:
                await self._execute(conn, delivery)
        except sa.exc.DBAPIError as exc:
            if is_transient(exc):
                raise
            raise SinkRefused(f"refused: {failure_reason(exc)}") from exc

    async def check(self) -> str:
        """Connect and ``EXPLAIN`` the statement (planned, never run), or ``SELECT 1`` where that cannot be.

        Connecting alone said "ok" for a statement naming a table or column
        that does not exist, and then every note was refused at delivery.
        """
        engine = self._require_engine()
        explain = explainable(engine.dialect.name, self._options.statement)
        async with asyncio.timeout(self._options.timeout_s), engine.connect() as conn:
            if not explain:
                await conn.execute(sa.text("SELECT 1"))
                return "connected"
            try:
                await conn.execute(typed_statement("EXPLAIN " + self._options.statement), parameters(SAMPLE))
            except sa.exc.DBAPIError as exc:
                raise SinkRefused(f"the statement cannot run: {database_message(exc)}") from exc
        return "connected; the statement is valid (EXPLAIN, nothing written)"

    async def close(self) -> None:
        """Release the pool, then end every SQLite thread it started (none outlives the sink)."""
        if self._engine is not None:
            await self._engine.dispose()
        if self._threads is not None:
            await self._threads.end()

    async def _execute(self, conn: AsyncConnection, delivery: Delivery) -> None:
        """Run the statement; on SQLite, one given up on (``timeout_s``, a stop) is interrupted.

        Cancelling the await alone leaves SQLite running it on the
        connection's thread, and the rollback waits behind it: a delivery
        bounded by ``timeout_s`` lasted as long as the statement.
        """
        if conn.dialect.driver != "aiosqlite":
            await conn.execute(self._statement, parameters(delivery))
            return
        raw = await conn.get_raw_connection()
        await interruptible(conn.execute(self._statement, parameters(delivery)), raw.driver_connection)

    def _require_engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError(f"sink {self.name}: start() was not called")
        return self._engine


EXPLAINS = frozenset({"postgresql", "sqlite", "mysql", "mariadb"})
"""Dialects whose ``EXPLAIN`` of an INSERT/UPDATE/DELETE plans it without running it."""

SAMPLE = Delivery(
    sink="check",
    provider="check",
    call_id="screenpop-check",
    version=1,
    idempotency_key="screenpop-check:1",
    e164="+14155550100",
    agent="screenpop-check",
    disposition="check",
    notes="check",
    saved_at=datetime(2000, 1, 1, tzinfo=UTC),
    customer_ids={},
)
"""What ``check`` binds to the explained statement: made up, never a caller's data."""


def explainable(dialect: str, statement: str) -> bool:
    """True for a dialect that explains without running, and a data statement (not a ``CALL``)."""
    words = statement.split(maxsplit=1)
    return (
        dialect in EXPLAINS
        and bool(words)
        and words[0].upper() in {"INSERT", "UPDATE", "DELETE", "WITH", "REPLACE"}
    )


def database_message(exc: sa.exc.DBAPIError) -> str:
    """The database's first line (``relation "call_logg" does not exist``), without the driver's prefix."""
    line = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
    return line.split(">: ", 1)[-1][:200] or failure_reason(exc)


BIND_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "saved_at": sa.DateTime(timezone=True),
    "version": sa.Integer(),
}
"""Binds whose type the statement cannot guess from text: a datetime is rendered per dialect."""


def typed_statement(statement: str) -> sa.TextClause:
    """The statement with ``saved_at`` bound as a timestamp and ``version`` as an integer, where named."""
    names = set(bound_names(statement))
    typed = [sa.bindparam(n, type_=t) for n, t in BIND_TYPES.items() if n in names]
    return sa.text(statement).bindparams(*typed)


def parameters(delivery: Delivery) -> dict[str, Any]:
    """Every bindable value of a delivery (a statement uses the ones it names)."""
    return {
        "call_id": delivery.call_id,
        "e164": delivery.e164,
        "agent": delivery.agent,
        "disposition": delivery.disposition,
        "notes": delivery.notes,
        "saved_at": delivery.saved_at,
        "customer_ids": json.dumps(delivery.customer_ids, sort_keys=True),
        "idempotency_key": delivery.idempotency_key,
        "provider": delivery.provider,
        "version": delivery.version,
    }
