"""When the records writer waits for company: only while writes queue up behind one another.

A fixed wait before every transaction put each call's records 50 ms after
the call, which at a steady 20 calls/s is the moment the next call arrives:
every webhook then shared its CPU with the last one's transaction.  A write
that comes alone goes at once; writes that find others waiting are
gathered into one transaction, as under a burst.
"""

from __future__ import annotations

import asyncio

import pytest

import screenpop.store.call_records as call_records
from screenpop.model import CallEvent, EventKind
from screenpop.store import CallRecorder, Store
from screenpop.store.rows import CallWrite


def _ringing(call_id: str) -> CallEvent:
    return CallEvent(provider="pbx", call_id=call_id, event=EventKind.RINGING)


async def test_a_write_that_comes_alone_is_written_without_waiting(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_records, "LINGER_S", 60.0)  # were it waited for, the flush below would time out
    recorder = CallRecorder(store)
    recorder.start()
    try:
        recorder.record(_ringing("c-alone"), "+14155550132", ["ada"])
        async with asyncio.timeout(10):
            await recorder.flush()
        assert [c["call_id"] for c in await store.recent_calls(None, 10)] == ["c-alone"]
    finally:
        await recorder.close(timeout_s=1)
    assert recorder.dropped == 0


async def test_writes_queued_together_are_gathered_into_one_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_records, "LINGER_S", 0.05)
    batches: list[int] = []
    write_batch = store.record_batch

    async def counted(writes: list[CallWrite]) -> object:
        batches.append(len(writes))
        return await write_batch(writes)

    monkeypatch.setattr(store, "record_batch", counted)
    recorder = CallRecorder(store)
    recorder.start()
    try:
        for i in range(30):  # one step of the loop: the writer finds 29 behind the first
            recorder.record(_ringing(f"c-{i}"), "+14155550132", ["ada"])
        async with asyncio.timeout(10):
            await recorder.flush()
    finally:
        await recorder.close(timeout_s=1)
    assert batches == [30]
    assert len(await store.recent_calls(None, 50)) == 30
