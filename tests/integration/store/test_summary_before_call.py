"""A card's summary that reaches the store before its call's row is written once the row is there.

With two instances, the one that took the ringing writes the call's row after
its writer gets to it; one that ran a mid-call update meanwhile writes the newer
summary.  When that summary came first, its UPDATE found no row and it was
dropped without a word: ``/api/calls`` listed the older summary for good (a
two-instance test failed so, once in a fresh-clone run).
"""

from __future__ import annotations

import pytest

import screenpop.store.call_records as call_records
from screenpop.model import CallEvent, EventKind
from screenpop.store import CallRecorder, EventWrite, Store, SummaryWrite
from tests.support.waiting import wait_for

NEWER = {"customer": {"name": "Caller A-5"}}


async def test_record_batch_hands_back_a_summary_of_no_call(store: Store) -> None:
    early = SummaryWrite("pbx", "c-late", NEWER, 4)
    assert await store.record_batch([early]) == [early]
    ringing = CallEvent(provider="pbx", call_id="c-late", event=EventKind.RINGING)
    await store.record_event(ringing, "+14155550132")
    assert await store.record_batch([early]) == []
    assert [(c["call_id"], c["summary"]) for c in await store.recent_calls(None, 10)] == [("c-late", NEWER)]


async def test_a_summary_before_its_calls_event_in_one_batch_is_handed_back(store: Store) -> None:
    """Written in order, it came before the row its call's event then created: it found none."""
    early = SummaryWrite("pbx", "c-late", NEWER, 4)
    answered = CallEvent(provider="pbx", call_id="c-late", event=EventKind.ANSWERED, agent="agent-1")
    assert await store.record_batch([early, EventWrite(answered, None)]) == [early]
    placed = SummaryWrite("pbx", "c-late", NEWER, 5)
    assert await store.record_batch([early, EventWrite(answered, None), placed]) == []


async def test_the_writer_writes_it_again_once_the_call_is_there(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_records, "UNPLACED_RETRY_S", 0.05)
    recorder = CallRecorder(store)
    recorder.start()
    try:
        recorder.summary("pbx", "c-late", NEWER, 4)
        await recorder.flush()  # written once: no call yet
        assert [c["call_id"] for c in await store.recent_calls(None, 10)] == []
        other = CallRecorder(store)  # the instance that took the ringing, later
        other.start()
        ringing = CallEvent(provider="pbx", call_id="c-late", event=EventKind.RINGING)
        other.record(ringing, "+14155550132", ["agent-1"])
        await other.close()

        async def listed() -> object:
            return [c["summary"] for c in await store.recent_calls(None, 10)] == [NEWER]

        await wait_for(listed, 5, "the early summary written once the call's row is there")
    finally:
        await recorder.close()
    assert recorder.dropped == 0


async def test_a_summary_whose_call_never_comes_is_given_up_and_counted(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_records, "UNPLACED_RETRY_S", 0.01)
    monkeypatch.setattr(call_records, "UNPLACED_TRIES", 3)
    recorder = CallRecorder(store)
    recorder.start()
    try:
        recorder.summary("pbx", "c-never", NEWER, 4)
        await wait_for(lambda: recorder.dropped == 1, 5, "the summary given up")
    finally:
        await recorder.close()
