"""Write-behind for the call records: the pop never waits for the store.

Every call event, recipient list and card summary is queued here and written
by one worker, in arrival order.  One writer means SQLite never has two
transactions fighting for its write lock (which costs sleeps, not
microseconds), and PostgreSQL gets the same order of writes per call.  On
shutdown the queue is drained before the store closes, so a call that was
answered 202 is still recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from screenpop.model import JSON, CallEvent
from screenpop.store import Store

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[None]]
QUEUE_LIMIT = 100_000


class CallRecorder:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: asyncio.Queue[tuple[str, Write]] = asyncio.Queue(QUEUE_LIMIT)
        self._worker: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    def record(self, event: CallEvent, e164: str | None, recipients: Iterable[str] = ()) -> None:
        """Queue the event (and, for a pop, who received the card)."""
        agents = list(recipients)

        async def write() -> None:
            await self._store.record_event(event, e164)
            if agents:
                await self._store.add_recipients(event.provider, event.call_id, agents)

        self._put(f"call {event.call_id} {event.event.value}", write)

    def summary(self, provider: str, call_id: str, summary: JSON) -> None:
        self._put(f"call {call_id} summary", lambda: self._store.save_summary(provider, call_id, summary))

    def _put(self, what: str, write: Write) -> None:
        try:
            self._queue.put_nowait((what, write))
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("store writes are %d behind; dropped: %s", QUEUE_LIMIT, what)

    async def flush(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            what, write = await self._queue.get()
            try:
                await write()
            except Exception as exc:
                log.warning("could not record %s: %s", what, exc)
            finally:
                self._queue.task_done()

    async def close(self, timeout_s: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.flush()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
