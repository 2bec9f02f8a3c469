"""How the cards' history reads are gathered into transactions (the SQL side: tests/integration/store)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from screenpop.errors import Unavailable
from screenpop.model import HistoryEntry
from screenpop.store.history_reads import Answer, HistoryReads, Request


class Reader:
    """Answers each request with one entry naming its number; remembers the batches it was given."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def run(self, requests: Sequence[Request]) -> list[Answer]:
        self.batches.append([number for number, _, _ in requests])
        await asyncio.sleep(0)  # allow-sleep: one turn of the loop, not a wait
        if self.fail is not None:
            raise self.fail
        return [(HistoryEntry(number, "", None, None, None),) for number, _, _ in requests]


def request(number: str) -> Request:
    return (number, 5, None)


async def test_reads_asked_for_together_share_one_transaction_and_keep_their_answers() -> None:
    """Three reads asked for in one turn of the loop are one batch, and each gets its own entries."""
    reader = Reader()
    reads = HistoryReads(reader.run, window_s=60)

    answers = await asyncio.gather(*(reads.read(request(n)) for n in ("+1", "+2", "+3")))

    assert reader.batches == [["+1", "+2", "+3"]]
    assert [a[0].call_id for a in answers] == ["+1", "+2", "+3"]
    assert reads.transactions == 1
    await reads.close()


async def test_a_read_within_the_window_waits_for_it_and_close_answers_it_unavailable() -> None:
    """A read asked for right after a batch started waits for the window; closing the store ends the wait."""
    reader = Reader()
    reads = HistoryReads(reader.run, window_s=60)
    assert (await reads.read(request("+1")))[0].call_id == "+1"

    later = asyncio.ensure_future(reads.read(request("+2")))
    await asyncio.sleep(0)  # allow-sleep: one turn of the loop, not a wait
    await asyncio.sleep(0)  # allow-sleep: one turn of the loop, not a wait
    assert not later.done() and reader.batches == [["+1"]]
    await reads.close()

    with pytest.raises(Unavailable):
        await later
    with pytest.raises(Unavailable):
        await reads.read(request("+3"))


async def test_a_card_that_stops_waiting_is_left_out_of_the_batch() -> None:
    """A read whose card gave up before its batch started is not read; the others are."""
    reader = Reader()
    reads = HistoryReads(reader.run, window_s=60)
    gone = asyncio.ensure_future(reads.read(request("+1")))
    kept = asyncio.ensure_future(reads.read(request("+2")))
    await asyncio.sleep(0)  # allow-sleep: one turn of the loop, not a wait
    gone.cancel()

    assert (await kept)[0].call_id == "+2"
    assert reader.batches == [["+2"]]
    await reads.close()


async def test_a_failed_batch_fails_every_read_in_it() -> None:
    """When the transaction fails, each card of the batch gets the error (and shows no history)."""
    reader = Reader(fail=OSError("database away"))
    reads = HistoryReads(reader.run, window_s=60)

    results = await asyncio.gather(
        reads.read(request("+1")), reads.read(request("+2")), return_exceptions=True
    )

    assert [type(r) for r in results] == [OSError, OSError]
    await reads.close()
