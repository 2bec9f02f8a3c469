"""The ``sql`` sink on SQLite leaves no aiosqlite thread behind, however a delivery ends.

aiosqlite runs each connection on a thread of its own.  A delivery cut off by
its ``timeout_s`` (or by a stop) in the middle of a statement makes SQLAlchemy
stop that connection without waiting for it; the thread then ran the
statement to its end after the sink had closed, and answered an event loop
that was gone ("RuntimeError: Event loop is closed", in whichever test ran next).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from screenpop.sink_api import Delivery, SinkContext
from screenpop.sinks.sql import SqlSink, SqlSinkOptions
from tests.support.sinks import create_sink_table

SLOW_INSERT = (
    "INSERT INTO call_log (idempotency_key, call_id, version, agent, saved_at, customer_ids)"
    " WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500000000)"
    " SELECT :idempotency_key, :call_id, :version, :agent, :saved_at, count(*) FROM c"
)
"""A statement that runs for many seconds on SQLite (a 500-million-row count), like a locked table would."""

DELIVERY = Delivery(
    sink="crm_log",
    provider="pbx",
    call_id="c-1",
    version=1,
    idempotency_key="c-1:1",
    e164="+14155550132",
    agent="agent-1",
    disposition="resolved",
    notes="called back",
    saved_at=datetime(2026, 1, 1, tzinfo=UTC),
    customer_ids={},
)


async def test_a_delivery_past_its_timeout_stops_its_statement(tmp_path: Path) -> None:
    """``timeout_s`` bounds a delivery on SQLite: the statement is interrupted, not waited for to its end."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await create_sink_table(url)
    async with aiohttp.ClientSession() as http:
        sink = SqlSink(
            "crm_log", SqlSinkOptions(url=url, statement=SLOW_INSERT, timeout_s=0.3), SinkContext(http)
        )
        await sink.start()
        try:
            with pytest.raises(TimeoutError):
                # the count takes many seconds: a delivery still here after 5 s waited for it to end
                async with asyncio.timeout(5):
                    await sink.deliver(DELIVERY)
        finally:
            await sink.close()


async def test_closing_ends_the_thread_of_a_connection_given_up_mid_statement(tmp_path: Path) -> None:
    """A connection SQLAlchemy stopped without waiting (a delivery cancelled twice) ends on close."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}"
    await create_sink_table(url)
    async with aiohttp.ClientSession() as http:
        sink = SqlSink(
            "crm_log", SqlSinkOptions(url=url, statement=SLOW_INSERT, timeout_s=60), SinkContext(http)
        )
        await sink.start()
        conn = await sink._require_engine().connect()  # what a delivery holds, given up as SQLAlchemy does
        driver = (await conn.get_raw_connection()).driver_connection
        started = threading.Event()
        await driver.set_progress_handler(lambda: started.set() or 0, 1000)  # called while a statement runs
        running = asyncio.ensure_future(driver.execute(COUNT))
        assert await asyncio.to_thread(started.wait, 10), "the statement never started"
        driver.stop()
        async with asyncio.timeout(10):
            await sink.close()
        assert not driver._thread.is_alive(), "the statement still runs after the sink closed"
        with contextlib.suppress(Exception):
            await running  # interrupted: its error is the test's to collect, not the loop's
        await conn.invalidate()
        await conn.close()


COUNT = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 500000000) SELECT count(*) FROM c"
)
