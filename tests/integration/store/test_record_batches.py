"""When the call records are written: as a call's card completes, or when nothing is being built.

The recorder gathers writes into one transaction while cards are being built,
and writes once none is.  A fixed linger from the first write landed the
transaction at the clock's moment instead of the call's: at a steady 20
calls/s exactly as the next webhook arrived.  Each test gives the recorder a
linger of a minute, so that a write seen within seconds was not waiting for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from screenpop.model import CallEvent, EventKind
from screenpop.store import CallRecorder, CallWrite, Store
from tests.support.waiting import wait_for

LINGER_S = 60.0
WITHIN_S = 5.0


def event(call_id: str, kind: EventKind = EventKind.RINGING) -> CallEvent:
    return CallEvent(provider="pbx", call_id=call_id, event=kind, from_raw="+14155550132", agent="ada")


class Batches:
    """The store's own ``record_batch``, with each transaction's writes kept for the test to count."""

    def __init__(self, store: Store) -> None:
        self.seen: list[Sequence[CallWrite]] = []
        self._write = store.record_batch

    async def record_batch(self, writes: Sequence[CallWrite]) -> None:
        await self._write(writes)
        self.seen.append(list(writes))


@pytest.fixture
async def recorded(store: Store) -> AsyncIterator[tuple[CallRecorder, Batches]]:
    batches = Batches(store)
    store.record_batch = batches.record_batch  # type: ignore[method-assign]
    recorder = CallRecorder(store, linger_s=LINGER_S)
    recorder.start()
    try:
        yield recorder, batches
    finally:
        await recorder.close()


async def stored_ids(store: Store) -> set[str]:
    return {row["call_id"] for row in await store.recent_calls(None, 10)}


async def test_a_call_is_written_in_one_transaction_as_its_card_completes(
    store: Store, recorded: tuple[CallRecorder, Batches]
) -> None:
    recorder, batches = recorded
    recorder.record(event("c-1"), "+14155550132", ["ada"], building=True)
    recorder.summary("pbx", "c-1", {"customer": None})
    recorder.built("pbx", "c-1")
    await wait_for(lambda: batches.seen, WITHIN_S, "the call's records written")
    assert [len(batch) for batch in batches.seen] == [2]  # the ringing and its summary, one COMMIT
    assert await stored_ids(store) == {"c-1"}


async def test_writes_wait_while_another_card_is_still_being_built(
    store: Store, recorded: tuple[CallRecorder, Batches]
) -> None:
    recorder, batches = recorded
    recorder.record(event("c-1"), "+14155550132", ["ada"], building=True)
    recorder.record(event("c-2"), "+14155550133", ["ada"], building=True)
    recorder.summary("pbx", "c-1", {"customer": None})
    recorder.built("pbx", "c-1")
    with pytest.raises(TimeoutError):  # c-2's card is still being built: the batch gathers on
        async with asyncio.timeout(0.3):
            await recorder.flush()
    assert batches.seen == []
    recorder.built("pbx", "c-2")  # given up without a summary (a failed fan-out) counts as built
    await wait_for(lambda: batches.seen, WITHIN_S, "both calls' records written")
    assert [len(batch) for batch in batches.seen] == [3]
    assert await stored_ids(store) == {"c-1", "c-2"}


async def test_an_event_is_written_at_once_when_no_card_is_being_built(
    store: Store, recorded: tuple[CallRecorder, Batches]
) -> None:
    recorder, batches = recorded
    recorder.record(event("c-3", EventKind.ANSWERED), "+14155550132")
    await wait_for(lambda: batches.seen, WITHIN_S, "the answered event written")
    assert await stored_ids(store) == {"c-3"}


async def test_a_call_built_twice_waits_for_both(
    store: Store, recorded: tuple[CallRecorder, Batches]
) -> None:
    """Two builds of one call id (a retry after a failed one) are counted, not merged."""
    recorder, batches = recorded
    recorder.record(event("c-4"), "+14155550132", ["ada"], building=True)
    recorder.record(event("c-4"), "+14155550132", ["bob"], building=True)
    recorder.built("pbx", "c-4")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await recorder.flush()
    recorder.built("pbx", "c-4")
    await wait_for(lambda: batches.seen, WITHIN_S, "the call's records written")
    assert await stored_ids(store) == {"c-4"}
