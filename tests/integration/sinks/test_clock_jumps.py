"""The wall clock going back (an NTP step, a VM restored) does not park the outbox's retries.

A failed attempt's next one is set at most 5 minutes ahead; after the clock
went back an hour, that time read an hour and five minutes off, so every
entry waiting for a retry (and every note saved before the step) sat
undelivered for the hour, while the sink was back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from screenpop.model import CallEvent, EventKind
from screenpop.sink_api import SinkContext
from screenpop.sinks import SinkWorker
from screenpop.sinks.http import HttpSink, HttpSinkOptions
from screenpop.store import Store
from screenpop.testing import ManualClock
from tests.support.sinks import SinkServer, sink_server

ADA = "+14155550132"


@pytest.fixture
async def server() -> AsyncIterator[SinkServer]:
    async with sink_server() as running:
        yield running


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(store_url, sinks=("crm_webhook",))
    try:
        yield opened
    finally:
        await opened.close()


async def test_entries_waiting_for_a_retry_are_due_once_the_clock_went_back_an_hour(
    store: Store, server: SinkServer
) -> None:
    """A failed entry and one never tried, both saved before the clock went back, go once the sink is up."""
    for call_id in ("c-1", "c-2"):
        await store.record_event(CallEvent("pbx", call_id, EventKind.RINGING, from_raw=ADA), ADA)
    await store.save_note("c-1", "agent-1", "resolved", "before the step", may_annotate_any=True)
    clock = ManualClock()
    async with aiohttp.ClientSession() as http:
        sink = HttpSink("crm_webhook", HttpSinkOptions(url=server.url), SinkContext(http))
        await sink.start()
        worker = SinkWorker(store, {"crm_webhook": sink}, clock)
        server.mode = "down"
        assert await worker.run_once() == 1  # fails: its next attempt is set about 1 s ahead
        await store.save_note("c-2", "agent-1", "resolved", "never tried", may_annotate_any=True)
        clock.now -= 3600.0
        server.mode = "up"
        claimed = await worker.run_once()
        await sink.close()
    assert claimed == 2
    assert sorted(server.taken) == ["c-1:1", "c-2:1"]
