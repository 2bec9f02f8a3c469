"""Write-behind for the call records: the pop never waits for the store.

Every call event, recipient list and card summary is queued here and written
by one worker, in arrival order, several at a time in one transaction.  One
writer means SQLite never has two transactions fighting for its write lock
(which costs sleeps, not microseconds); batching means one BEGIN/COMMIT for
everything that arrived meanwhile.  On shutdown the queue is drained before
the store closes, so a call that was answered 202 is still recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from screenpop.model import JSON, CallEvent
from screenpop.store import CallWrite, EventWrite, Store, SummaryWrite

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100_000
BATCH_LIMIT = 200
LINGER_S = 0.05
"""How long the writer gathers writes before a transaction: one COMMIT for a few calls, not one each."""


class CallRecorder:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: asyncio.Queue[CallWrite] = asyncio.Queue(QUEUE_LIMIT)
        self._worker: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    def record(self, event: CallEvent, e164: str | None, recipients: Iterable[str] = ()) -> None:
        """Queue the event (and, for a pop, who received the card)."""
        self._put(EventWrite(event, e164, tuple(recipients)))

    def summary(self, provider: str, call_id: str, summary: JSON) -> None:
        self._put(SummaryWrite(provider, call_id, summary))

    def _put(self, write: CallWrite) -> None:
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("store writes are %d behind; dropped one for call %s", QUEUE_LIMIT, _call_of(write))

    async def flush(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(LINGER_S)
            while len(batch) < BATCH_LIMIT and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[CallWrite]) -> None:
        """The batch in one transaction; if that fails, each write alone, so one bad row loses only itself."""
        try:
            await self._store.record_batch(batch)
            return
        except Exception as exc:
            if len(batch) == 1:
                log.warning("could not record call %s: %s", _call_of(batch[0]), exc)
                return
        for write in batch:
            await self._write([write])

    async def close(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker


def _call_of(write: CallWrite) -> str:
    return write.event.call_id if isinstance(write, EventWrite) else write.call_id
