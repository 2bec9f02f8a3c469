"""Sinks that misbehave the way real endpoints do: hang, answer 2xx with an endless body, ask to wait.

Each endpoint is a real aiohttp app on loopback; the store is real SQLite or
PostgreSQL and the ``sql`` sink a real PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.clock import SystemClock
from screenpop.model import CallEvent, EventKind
from screenpop.sink_api import Sink, SinkContext
from screenpop.sinks import SinkWorker
from screenpop.sinks.http import HttpSink, HttpSinkOptions
from screenpop.sinks.sql import SqlSink, SqlSinkOptions
from screenpop.store import RetentionPolicy, Store
from screenpop.store.schema import sink_outbox
from screenpop.testing import ManualClock
from tests.support.sinks import SINK_STATEMENT, create_sink_table, sink_rows
from tests.support.waiting import wait_for

ADA = "+14155550132"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def endpoint(handler: Handler) -> AsyncIterator[str]:
    """``handler`` served on a free loopback port; yields its URL."""
    app = web.Application()
    app.router.add_post("/call-log", handler)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/call-log"
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def open_store(store_url: str, sinks: tuple[str, ...]) -> Store:
    store = await Store.open(store_url, sinks=sinks)
    await store.record_event(CallEvent("pbx", "c-1", EventKind.RINGING, from_raw=ADA), ADA)
    return store


async def note(store: Store, text: str, call_id: str = "c-1") -> None:
    await store.save_note(call_id, "agent-1", "resolved", text, may_annotate_any=True)


async def outbox(store_url: str) -> list[dict[str, object]]:
    engine = create_async_engine(store_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(sink_outbox).order_by(sink_outbox.c.id))
            return [dict(r._mapping) for r in rows]
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def beside_a_hung_webhook(
    store: Store, sink_db_url: str, http: aiohttp.ClientSession
) -> AsyncIterator[SinkWorker]:
    """A running worker over the sql sink and a webhook that answers nothing until the test ends."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=200)

    async with endpoint(hang) as url:
        sinks: dict[str, Sink] = {
            "crm_log": SqlSink(
                "crm_log", SqlSinkOptions(url=sink_db_url, statement=SINK_STATEMENT), SinkContext(http)
            ),
            "crm_webhook": HttpSink(
                "crm_webhook", HttpSinkOptions(url=url, timeout_s=120), SinkContext(http)
            ),
        }
        for sink in sinks.values():
            await sink.start()
        worker = SinkWorker(store, sinks, SystemClock(), poll_s=0.05)
        worker.start()
        try:
            yield worker
        finally:
            release.set()
            await worker.close()
            for sink in sinks.values():
                await sink.close()


@pytest.mark.postgres
async def test_a_hanging_http_sink_does_not_hold_back_the_sql_sinks_deliveries(
    store_url: str, sink_db_url: str, http: aiohttp.ClientSession
) -> None:
    """While the webhook hangs on the first note, the second note still reaches the sql sink at once."""
    await create_sink_table(sink_db_url)
    store = await open_store(store_url, ("crm_log", "crm_webhook"))
    try:
        async with beside_a_hung_webhook(store, sink_db_url, http) as worker:
            await note(store, "first")
            await wait_for(lambda: _keys(sink_db_url, ["c-1:1"]), 10, "the first note in the sink DB")
            await note(store, "second")
            worker.wake()
            await wait_for(
                lambda: _keys(sink_db_url, ["c-1:1", "c-1:2"]), 10, "the second note in the sink DB"
            )
    finally:
        await store.close()


async def _keys(url: str, wanted: list[str]) -> bool:
    return [r["idempotency_key"] for r in await sink_rows(url)] == wanted


async def test_a_2xx_whose_body_never_ends_counts_as_taken(
    store_url: str, http: aiohttp.ClientSession
) -> None:
    """An endpoint that answers 200 and then streams forever took the note: delivered once, not retried."""
    attempts: list[str] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        attempts.append(request.headers["Idempotency-Key"])
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(10_000):  # bounded: 10,000 chunks at most
                await response.write(b"x" * 65536)
                await asyncio.sleep(0.01)  # allow-sleep: the endpoint's own pace of streaming
        return response

    store = await open_store(store_url, ("crm_webhook",))
    try:
        async with endpoint(endless) as url:
            sink = HttpSink("crm_webhook", HttpSinkOptions(url=url, timeout_s=2), SinkContext(http))
            await note(store, "taken")
            worker = SinkWorker(store, {"crm_webhook": sink}, ManualClock())
            assert await worker.run_once() == 1
            rows = await outbox(store_url)
            assert [(r["delivered_at"] is not None, r["attempts"], r["last_error"]) for r in rows] == [
                (True, 1, None)
            ]
            assert attempts == ["c-1:1"]
    finally:
        await store.close()


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_of_a_busy_sink_is_honoured(
    store_url: str, http: aiohttp.ClientSession, status: int
) -> None:
    """A 429 or 503 with ``Retry-After: 120`` waits 120 s before the next try, no less, no more."""

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Retry-After": "120"})

    store = await open_store(store_url, ("crm_webhook",))
    try:
        async with endpoint(busy) as url:
            sink = HttpSink("crm_webhook", HttpSinkOptions(url=url), SinkContext(http))
            await note(store, "busy")
            clock = ManualClock()
            worker = SinkWorker(store, {"crm_webhook": sink}, clock)
            now = datetime.fromtimestamp(clock.time(), UTC)
            assert await worker.run_once() == 1
            (row,) = await outbox(store_url)
            next_at = row["next_attempt_at"]
            assert isinstance(next_at, datetime)
            wait = (next_at.replace(tzinfo=UTC) - now).total_seconds()
            assert 120 <= wait <= 121
            assert row["last_error"] == f"HTTP {status}"
    finally:
        await store.close()


async def test_a_delivery_that_outlives_its_lease_is_stopped_and_settled_before_the_lease_ends(
    store_url: str, http: aiohttp.ClientSession
) -> None:
    """A deliver that would outlive its lease (a plugin with no timeout of its own) is cut short, failed."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=200)

    store = await open_store(store_url, ("crm_webhook",))
    try:
        async with endpoint(hang) as url:
            # timeout_s far beyond the worker's lease: as a kind that never stops by itself
            sink = HttpSink("crm_webhook", HttpSinkOptions(url=url, timeout_s=300), SinkContext(http))
            await note(store, "hung")
            worker = SinkWorker(store, {"crm_webhook": sink}, ManualClock(), lease_s=16)
            try:
                assert await asyncio.wait_for(worker.run_once(), 10) == 1
            finally:
                release.set()
            (row,) = await outbox(store_url)
            assert (row["delivered_at"], row["leased_by"], row["attempts"]) == (None, None, 1)
            assert row["last_error"] == "timed out"
    finally:
        await store.close()


async def test_a_sink_that_closes_the_connection_is_told_apart_from_one_that_is_unreachable(
    store_url: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """IT reads "closed the connection", not "unreachable", and the log names the note (call:version)."""

    async def close(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=200)

    store = await open_store(store_url, ("crm_webhook",))
    try:
        async with endpoint(close) as url:
            sink = HttpSink("crm_webhook", HttpSinkOptions(url=url), SinkContext(http))
            await note(store, "dropped")
            worker = SinkWorker(store, {"crm_webhook": sink}, ManualClock())
            assert await worker.run_once() == 1
        (row,) = await outbox(store_url)
        assert row["last_error"] == "the sink closed the connection"
        (record,) = [r for r in caplog.records if r.name == "screenpop.sinks.worker"]
        assert "c-1:1" in record.getMessage()
        assert "the sink closed the connection" in record.getMessage()
    finally:
        await store.close()


async def test_a_note_saved_after_retention_purged_the_calls_earlier_notes_gets_a_new_key(
    store_url: str,
) -> None:
    """notes_days purges a kept call's notes; its next note is version 2, not `c-1:1` a second time."""
    store = await open_store(store_url, ("crm_webhook",))
    try:
        await note(store, "first")
        later = datetime.now(UTC) + timedelta(days=31)
        report = await store.purge_expired(RetentionPolicy(calls_days=365, notes_days=30), later, "test")
        assert report is not None and report.counts.get("notes") == 1
        await note(store, "a follow-up, a month later")
        keys = [r["idempotency_key"] for r in await outbox(store_url)]
        assert keys == ["c-1:1", "c-1:2"]
    finally:
        await store.close()


async def test_a_call_id_that_comes_again_after_its_call_was_purged_gets_new_keys(store_url: str) -> None:
    """A phone system reusing a purged call's id: the new call's first note is `c-1:2`, saved, not refused."""
    store = await open_store(store_url, ("crm_webhook",))
    try:
        await note(store, "the first call")
        later = datetime.now(UTC) + timedelta(days=31)
        policy = RetentionPolicy(calls_days=30, notes_days=30, audit_days=90)
        report = await store.purge_expired(policy, later, "test")
        assert report is not None and report.counts.get("calls") == 1
        await store.record_event(CallEvent("pbx", "c-1", EventKind.RINGING, from_raw=ADA), ADA)
        await note(store, "the same id, another call")
        keys = [r["idempotency_key"] for r in await outbox(store_url)]
        assert keys == ["c-1:1", "c-1:2"]
    finally:
        await store.close()


@pytest.mark.postgres
async def test_a_hanging_sink_with_a_long_backlog_does_not_take_every_slot(
    store_url: str, sink_db_url: str, http: aiohttp.ClientSession
) -> None:
    """More calls waiting on a hung webhook than the worker runs at once: the sql sink still gets all."""
    calls = 80  # more than the deliveries the worker runs at once (BATCH)
    await create_sink_table(sink_db_url)
    store = await open_store(store_url, ("crm_log", "crm_webhook"))
    try:
        for n in range(2, calls + 1):
            await store.record_event(CallEvent("pbx", f"c-{n}", EventKind.RINGING, from_raw=ADA), ADA)
        for n in range(1, calls + 1):
            await note(store, "waiting", call_id=f"c-{n}")

        async def all_rows() -> bool:
            return len(await sink_rows(sink_db_url)) == calls

        async with beside_a_hung_webhook(store, sink_db_url, http):
            await wait_for(all_rows, 15, f"all {calls} notes in the sink DB")
    finally:
        await store.close()


async def test_a_clean_stop_gives_back_the_lease_of_a_delivery_it_cut_off(
    store_url: str, http: aiohttp.ClientSession
) -> None:
    """Stopped while a webhook hung, an instance kept the note leased for a minute after it was gone.

    In a rolling restart the next instance then waited out the whole lease
    before it could deliver the note.  Now the stop gives the lease back and
    the other instance delivers at once; the attempt is not counted as failed.
    """
    release = asyncio.Event()
    arrived: list[str] = []

    async def hang_once(request: web.Request) -> web.Response:
        arrived.append(request.headers["Idempotency-Key"])
        if len(arrived) == 1:
            await release.wait()
        return web.Response(status=200)

    store = await open_store(store_url, ("crm_webhook",))
    try:
        async with endpoint(hang_once) as url:
            sink = HttpSink("crm_webhook", HttpSinkOptions(url=url, timeout_s=120), SinkContext(http))
            await sink.start()
            stopping = SinkWorker(store, {"crm_webhook": sink}, SystemClock(), poll_s=0.05, lease_s=600)
            stopping.start()
            await note(store, "first")
            await wait_for(lambda: _arrived(arrived, 1), 10, "the note at the hung webhook")
            await stopping.close(grace_s=0.1)
            (entry,) = await outbox(store_url)
            assert entry["leased_by"] is None and entry["leased_until"] is None, entry
            assert entry["delivered_at"] is None and entry["attempts"] == 0 and entry["last_error"] is None
            successor = SinkWorker(store, {"crm_webhook": sink}, SystemClock(), poll_s=0.05, lease_s=600)
            successor.start()
            try:
                await wait_for(lambda: _arrived(arrived, 2), 10, "the note delivered by the next instance")
            finally:
                release.set()
                await successor.close()
                await sink.close()
        assert arrived == ["c-1:1", "c-1:1"]
        (entry,) = await outbox(store_url)
        assert entry["delivered_at"] is not None
    finally:
        await store.close()


async def _arrived(arrived: list[str], count: int) -> bool:
    return len(arrived) >= count
