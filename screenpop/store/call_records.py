"""Write-behind for the call records: the pop never waits for the store.

Every call event, recipient list and card summary is queued here and written
by one worker, in arrival order, several at a time in one transaction.  One
writer means SQLite never has two transactions fighting for its write lock
(which costs sleeps, not microseconds); batching means one BEGIN/COMMIT for
everything that arrived meanwhile.  A write that finds nothing behind it is
written at once: waiting ``LINGER_S`` for company that is not coming only
moved each call's transaction to 50 ms after it, onto the next call of a
steady 20 calls/s (docs/performance.md).  Writes that queue up behind one
another (a burst, a batch webhook) are gathered for ``LINGER_S``, as before.

On shutdown the queue is drained before the store closes, so a call that
was answered 202 is still recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from screenpop.model import JSON, CallEvent
from screenpop.retry import Backoff, DropObserver, NoObserver, is_transient, worth_logging
from screenpop.store.connections import failure_reason
from screenpop.store.facade import Store
from screenpop.store.rows import CallWrite, EventWrite, SummaryWrite

LOGGED_ID_CHARS = 80

log = logging.getLogger(__name__)

QUEUE = "call_records"
"""The name this queue's retries and drops are counted under."""
QUEUE_LIMIT = 100_000
BATCH_LIMIT = 200
LINGER_S = 0.05
"""How long the writer gathers writes while they come faster than it writes them: one COMMIT for many."""
UNPLACED_RETRY_S = 0.5
UNPLACED_TRIES = 60
"""A summary whose call has no row yet is written again every 0.5 s for 30 s, then given up."""


class CallRecorder:
    """Writes call records behind the pop; retries through database outages, counts what it gives up.

    A batch that fails for a reason time can cure (the database restarting
    or locked) is retried with back-off until it is written: writes queue up
    meanwhile, and only those beyond ``queue_limit`` are given up.  A batch
    the database refuses is written one record at a time, so a bad record
    loses only itself.  Every record given up (queue full, refused, still
    queued at shutdown) is counted through ``observer`` and logged.
    """

    def __init__(
        self,
        store: Store,
        observer: DropObserver | None = None,
        *,
        backoff: Backoff | None = None,
        queue_limit: int = QUEUE_LIMIT,
    ) -> None:
        self._store = store
        self._observer = observer or NoObserver()
        self._backoff = backoff or Backoff()
        self._queue: asyncio.Queue[CallWrite] = asyncio.Queue(queue_limit)
        self._worker: asyncio.Task[None] | None = None
        self._writing: list[CallWrite] = []  # the batch the worker holds, not yet known to be written
        # summaries waiting for their call's row, by (provider, call id, version): writes so far
        self._tries: dict[tuple[str, str, int], int] = {}
        self.dropped = 0

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run())

    def record(self, event: CallEvent, e164: str | None, recipients: Iterable[str] = ()) -> None:
        """Queue the event (and, for a pop, who received the card)."""
        self._put(EventWrite(event, e164, tuple(recipients)))

    def summary(self, provider: str, call_id: str, summary: JSON, version: int) -> None:
        """Queue a complete card's summary; ``version`` is the card's (the store keeps the latest)."""
        self._put(SummaryWrite(provider, call_id, summary, version))

    def _put(self, write: CallWrite) -> None:
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            self._give_up([write], "queue_full", f"{self._queue.maxsize} writes are waiting")

    async def flush(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # held from the moment it leaves the queue: a shutdown while it gathers counts it as given up
            self._writing = batch
            try:
                if not self._queue.empty():  # more behind it already: gather them (a burst, a batch webhook)
                    await asyncio.sleep(LINGER_S)
                while len(batch) < BATCH_LIMIT and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                await self._write(batch)
            finally:
                self._writing = []
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[CallWrite]) -> None:
        """The batch in one transaction, retried while the database is away; refused, each write alone."""
        refusal = await self._write_or_retry(batch)
        if refusal is None:
            return
        if len(batch) == 1:
            # the type only: a refusal's text may quote the values (a caller's number)
            self._give_up(batch, "rejected", type(getattr(refusal, "orig", None) or refusal).__name__)
            return
        for write in batch:
            await self._write([write])

    async def _write_or_retry(self, batch: list[CallWrite]) -> Exception | None:
        """None once written; the exception when the database refuses the batch itself."""
        attempt = 0
        while True:
            try:
                unplaced = await self._store.record_batch(batch)
            except Exception as exc:  # sorted below: retried, or handed back as a refusal
                if not is_transient(exc):
                    return exc
                # the reason only: never the SQL or its parameters (a caller's number)
                log.warning(
                    "call records: writing %d failed (%s); retry %d",
                    len(batch),
                    failure_reason(exc),
                    attempt + 1,
                )
            else:
                self._again_later(batch, unplaced)
                return None
            self._observer.retried(QUEUE)
            await self._backoff.wait(attempt)
            attempt += 1

    def _again_later(self, batch: list[CallWrite], unplaced: list[SummaryWrite]) -> None:
        """Write again, a little later, the summaries whose call had no row yet; give up after a while.

        The instance that took the ringing writes the call; one that ran a
        mid-call update may reach the store first with the newer summary,
        which would otherwise be lost and leave the older one listed.
        """
        waiting = {_summary_key(w) for w in unplaced}
        for write in batch:
            if isinstance(write, SummaryWrite) and _summary_key(write) not in waiting:
                self._tries.pop(_summary_key(write), None)
        loop = asyncio.get_running_loop()
        for write in unplaced:
            key = _summary_key(write)
            tries = self._tries.get(key, 0) + 1
            if tries >= UNPLACED_TRIES:
                self._tries.pop(key, None)
                waited = f"no call row within {UNPLACED_TRIES * UNPLACED_RETRY_S:g} s"
                self._give_up([write], "no_call", waited)
                continue
            self._tries[key] = tries
            loop.call_later(UNPLACED_RETRY_S, self._put, write)

    def _give_up(self, writes: list[CallWrite], reason: str, why: str) -> None:
        """Count (always) and log (the first, then every thousandth) records that will never be written."""
        self.dropped += len(writes)
        self._observer.dropped(QUEUE, reason, len(writes))
        if reason != "queue_full" or worth_logging(self.dropped):
            first = _call_of(writes[0])
            log.error(
                "call records: gave up %d (%s: %s; %d in all), first for call %s",
                len(writes),
                reason,
                why,
                self.dropped,
                first,
            )

    async def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (up to ``timeout_s``), then stop; what is still unwritten is counted."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.flush()
        # at most: a batch cut off while written record by record may be partly stored
        cut_off = self._writing
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        left = cut_off + [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        if left:
            self._give_up(left, "shutdown", f"not written within {timeout_s:g} s of shutdown")


def _summary_key(write: SummaryWrite) -> tuple[str, str, int]:
    return write.provider, write.call_id, write.version


def _call_of(write: CallWrite) -> str:
    """The call id to log, clipped: a refused one may be any length (it was refused for that)."""
    call_id = write.event.call_id if isinstance(write, EventWrite) else write.call_id
    return call_id if len(call_id) <= LOGGED_ID_CHARS else call_id[:LOGGED_ID_CHARS] + "…"
