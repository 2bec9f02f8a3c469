"""The outbox and its worker against a real store, a real HTTP sink and a real PostgreSQL sink database.

Time is a ``ManualClock``: a back-off is crossed by ``advance``, never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.model import CallEvent, EventKind
from screenpop.sink_api import Sink, SinkContext
from screenpop.sinks import SinkWorker
from screenpop.sinks.http import HttpSink, HttpSinkOptions
from screenpop.sinks.sql import SqlSink, SqlSinkOptions
from screenpop.store import Store
from screenpop.store.schema import sink_outbox
from screenpop.testing import ManualClock
from tests.support.sinks import (
    SINK_STATEMENT,
    SinkServer,
    create_sink_table,
    sink_rows,
    sink_server,
)

ADA = "+14155550132"
SINKS = ("crm_log", "crm_webhook")


@pytest.fixture
async def server() -> AsyncIterator[SinkServer]:
    async with sink_server() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url, sinks=SINKS)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def sinks(
    sink_db_url: str, server: SinkServer, http: aiohttp.ClientSession
) -> AsyncIterator[dict[str, Sink]]:
    await create_sink_table(sink_db_url)
    built: dict[str, Sink] = {
        "crm_log": SqlSink(
            "crm_log", SqlSinkOptions(url=sink_db_url, statement=SINK_STATEMENT), SinkContext(http)
        ),
        "crm_webhook": HttpSink("crm_webhook", HttpSinkOptions(url=server.url), SinkContext(http)),
    }
    for sink in built.values():
        await sink.start()
    try:
        yield built
    finally:
        for sink in built.values():
            await sink.close()


async def call(store: Store, call_id: str, number: str = ADA) -> None:
    await store.record_event(CallEvent("pbx", call_id, EventKind.RINGING, from_raw=number), number)


async def note(store: Store, call_id: str, text: str) -> None:
    await store.save_note(call_id, "agent-1", "resolved", text, may_annotate_any=True)


async def drain(worker: SinkWorker, clock: ManualClock, rounds: int = 20) -> None:
    """Run the worker until a round claims nothing (bounded)."""
    for _ in range(rounds):
        if await worker.run_once() == 0:
            return
    raise AssertionError("the outbox did not drain")


async def outbox_rows(store_url: str) -> list[dict[str, Any]]:
    engine = create_async_engine(store_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(sink_outbox).order_by(sink_outbox.c.id))
            return [dict(r._mapping) for r in rows]
    finally:
        await engine.dispose()


async def test_every_note_and_edit_reaches_every_sink_once_with_its_version(
    store: Store, sinks: dict[str, Sink], server: SinkServer, sink_db_url: str
) -> None:
    """A note and two edits make three rows in the sink database and three POSTs, keys call:1..3."""
    await call(store, "c-1")
    for text in ("first", "second", "third"):
        await note(store, "c-1", text)
    clock = ManualClock()  # starts at the real time: after the notes were saved
    worker = SinkWorker(store, sinks, clock)
    await drain(worker, clock)
    rows = await sink_rows(sink_db_url)
    assert [(r["idempotency_key"], r["notes"], r["phone"]) for r in rows] == [
        ("c-1:1", "first", ADA),
        ("c-1:2", "second", ADA),
        ("c-1:3", "third", ADA),
    ]
    assert all(isinstance(r["saved_at"], datetime) and r["saved_at"].tzinfo for r in rows)
    assert server.order == ["c-1:1", "c-1:2", "c-1:3"]
    body = server.taken["c-1:2"]
    assert set(body) == {"call_id", "e164", "agent", "disposition", "notes", "saved_at", "customer_ids"}
    assert (body["call_id"], body["e164"], body["agent"], body["disposition"], body["notes"]) == (
        "c-1",
        ADA,
        "agent-1",
        "resolved",
        "second",
    )
    assert body["saved_at"].endswith("Z")
    assert await drain_is_empty(worker)


async def drain_is_empty(worker: SinkWorker) -> bool:
    return await worker.run_once() == 0


async def test_customer_ids_come_from_the_calls_summary(
    store: Store, sinks: dict[str, Sink], server: SinkServer, sink_db_url: str
) -> None:
    """The ids the card found (from the view that hides nothing) go to the sink as {connector: id}."""
    await call(store, "c-ids")
    summary = {
        "views": [
            {"hidden": ["credit"], "summary": {"customer": {"ids": {"accounting": "A-1"}}}},
            {"hidden": [], "summary": {"customer": {"ids": {"accounting": "A-1", "credit": 77}}}},
        ]
    }
    await store.save_summary("pbx", "c-ids", summary, 1)
    await note(store, "c-ids", "hello")
    await drain(SinkWorker(store, sinks, ManualClock()), ManualClock())
    assert server.taken["c-ids:1"]["customer_ids"] == {"accounting": "A-1", "credit": "77"}
    rows = await sink_rows(sink_db_url)
    assert json.loads(rows[0]["customer_ids"]) == {"accounting": "A-1", "credit": "77"}


async def test_a_sink_down_for_a_while_gets_everything_once_in_order_after_back_off(
    store: Store, sinks: dict[str, Sink], server: SinkServer, store_url: str
) -> None:
    """A sink saying 503 is retried with jittered, growing back-off; once up, it gets all once, in order."""
    await call(store, "c-a")
    await call(store, "c-b", "+14155550199")
    server.mode = "down"
    for text in ("a1", "a2"):
        await note(store, "c-a", text)
    await note(store, "c-b", "b1")
    clock = ManualClock()
    worker = SinkWorker(store, sinks, clock)
    for attempt in range(5):
        await drain(worker, clock)  # the sql sink's chain moves on; the webhook's heads fail once
        # only the head of each (sink, call) chain is tried: c-a:1 and c-b:1 over HTTP (sql took all)
        webhook = [r for r in await outbox_rows(store_url) if r["sink"] == "crm_webhook"]
        heads = [r for r in webhook if r["version"] == 1]
        assert all(r["attempts"] == attempt + 1 for r in heads)
        assert all(r["attempts"] == 0 for r in webhook if r["version"] == 2)
        ceiling = min(300.0, 1.0 * 2**attempt)
        now = clock.time()
        for head in heads:
            wait = head["next_attempt_at"].timestamp() - now
            assert ceiling / 2 - 0.01 <= wait <= ceiling + 0.01, (attempt, wait)
            assert head["last_error"] == "HTTP 503"
        clock.advance(ceiling / 2 - 0.05)
        assert await worker.run_once() == 0  # nothing is due before its back-off ends
        clock.advance(ceiling / 2 + 0.06)
    assert server.taken == {}
    server.mode = "up"
    await drain(worker, clock)
    assert server.order.index("c-a:1") < server.order.index("c-a:2")
    assert sorted(server.order) == ["c-a:1", "c-a:2", "c-b:1"]
    assert len(server.attempts) == 5 * 2 + 3  # five failed rounds of two heads, then one success each
    assert all(
        r["delivered_at"] is not None and r["last_error"] is None for r in await outbox_rows(store_url)
    )


async def test_a_refused_entry_stays_failing_and_holds_its_calls_later_notes(
    store: Store, sinks: dict[str, Sink], server: SinkServer, store_url: str
) -> None:
    """A 422 is retried at the slow ceiling (never dropped); its call's next note waits behind it."""
    await call(store, "c-r")
    server.mode = "refuse"
    await note(store, "c-r", "one")
    await note(store, "c-r", "two")
    clock = ManualClock()
    worker = SinkWorker(store, sinks, clock)
    await drain(worker, clock)
    backlog = await store.sink_backlog()
    assert backlog["crm_webhook"].pending == 2
    assert backlog["crm_webhook"].failing == 1
    assert backlog["crm_webhook"].last_error == "refused: HTTP 422"
    assert "crm_log" not in backlog  # the sql sink took both meanwhile
    clock.advance(299)
    assert await worker.run_once() == 0
    server.mode = "up"
    clock.advance(2)
    await drain(worker, clock)
    assert server.order == ["c-r:1", "c-r:2"]
    assert await store.sink_backlog() == {}
    assert len(await outbox_rows(store_url)) == 4


async def test_a_lease_left_by_a_killed_instance_runs_out_and_the_entry_is_delivered(
    store: Store, sinks: dict[str, Sink], server: SinkServer
) -> None:
    """An entry leased by an instance that died is not taken while the lease runs, then delivered once."""
    await call(store, "c-l")
    await note(store, "c-l", "held")
    clock = ManualClock()
    now = datetime.fromtimestamp(clock.time(), UTC)
    held = await store.claim_deliveries("dead-instance", now, 60.0, 10, SINKS)
    assert sorted(e.delivery.sink for e in held) == sorted(SINKS)
    worker = SinkWorker(store, sinks, clock)
    assert await worker.run_once() == 0  # leased by the dead instance
    clock.advance(59)
    assert await worker.run_once() == 0
    clock.advance(2)
    await drain(worker, clock)
    assert server.order == ["c-l:1"]
    assert await store.sink_backlog() == {}


async def test_notes_saved_at_once_on_one_call_get_distinct_versions(
    store: Store, sinks: dict[str, Sink], server: SinkServer, sink_db_url: str
) -> None:
    """Ten notes saved concurrently on one call are versions 1..10, each delivered once, in order."""
    await call(store, "c-c")
    await asyncio.gather(*(note(store, "c-c", f"n{i}") for i in range(10)))
    clock = ManualClock()
    await drain(SinkWorker(store, sinks, clock), clock)
    expected = [f"c-c:{v}" for v in range(1, 11)]
    assert server.order == expected
    rows = await sink_rows(sink_db_url)
    assert [r["idempotency_key"] for r in rows] == expected
    assert [r["version"] for r in rows] == list(range(1, 11))
