"""A real HTTP sink on loopback, and a real sink table, for the sinks' tests and bench.

``SinkServer`` is the company's endpoint: it keeps every POST it took (by
``Idempotency-Key``, once, like an endpoint that honours the key) and every
attempt, and can be told to be ``down`` (503) or to ``refuse`` (422) until
it is told ``up`` again.  ``SINK_TABLE`` is a call log a ``sql`` sink
writes into; its ``seq`` column records the order rows arrived in.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

SINK_TABLE = """
CREATE TABLE call_log (
  seq {serial},
  idempotency_key TEXT NOT NULL,
  call_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  phone TEXT,
  agent TEXT NOT NULL,
  disposition TEXT,
  notes TEXT,
  saved_at {timestamp} NOT NULL,
  customer_ids TEXT NOT NULL
)
"""

SINK_STATEMENT = (
    "INSERT INTO call_log (idempotency_key, call_id, version, phone, agent, disposition, notes, saved_at,"
    " customer_ids) VALUES (:idempotency_key, :call_id, :version, :e164, :agent, :disposition, :notes,"
    " :saved_at, :customer_ids)"
)


async def create_sink_table(url: str) -> None:
    """The company's call log in the database at ``url`` (PostgreSQL or SQLite)."""
    engine = create_async_engine(url)
    pg = url.startswith("postgresql")
    ddl = SINK_TABLE.format(
        serial="BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY AUTOINCREMENT",
        timestamp="TIMESTAMPTZ" if pg else "TIMESTAMP",
    )
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(ddl))
    finally:
        await engine.dispose()


async def sink_rows(url: str) -> list[dict[str, Any]]:
    """Every row of the call log, in the order the rows arrived."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT * FROM call_log ORDER BY seq"))
            return [dict(r._mapping) for r in rows]
    finally:
        await engine.dispose()


def sql_sink(name: str, url: str) -> dict[str, Any]:
    return {"name": name, "kind": "sql", "url": url, "statement": SINK_STATEMENT}


def http_sink(name: str, url: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "kind": "http", "url": url, **options}


@dataclass
class SinkServer:
    """An endpoint that takes each ``Idempotency-Key`` once and can be down or refusing for a while."""

    mode: str = "up"  # up | down | refuse
    taken: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/call-log"

    async def _post(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        self.attempts.append(key)
        self.headers.append(dict(request.headers))
        body = json.loads(await request.read())
        if self.mode == "down":
            return web.json_response({"error": "maintenance"}, status=503)
        if self.mode == "refuse":
            return web.json_response({"error": "unknown field"}, status=422)
        if key not in self.taken:
            self.taken[key] = body
            self.order.append(key)
        return web.json_response({"ok": True}, status=201)

    async def _options(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Allow": "POST, OPTIONS"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/call-log", self._post)
        app.router.add_route("OPTIONS", "/call-log", self._options)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def sink_server() -> AsyncIterator[SinkServer]:
    server = SinkServer()
    await server.start()
    try:
        yield server
    finally:
        await server.close()
