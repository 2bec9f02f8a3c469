"""The audit trail's write-behind queue.

Every card version delivered to every agent is audited (security officers
ask who saw a customer's credit limit), which makes auditing the busiest
write screenpop does.  The hot path therefore only appends a row to a
buffer; one background task writes the buffer in batches with one
``executemany``, at most ``interval_s`` after the first queued row or as
soon as ``batch_rows`` are waiting.  A write that fails for a reason time
can cure puts the rows back and is retried with exponential back-off and
jitter, so a database outage delays the audit trail rather than losing it.
Rows are given up, counted through the ``DropObserver`` (``/metrics``) and
logged, only when more than ``max_rows`` are queued (the oldest), when the
database refuses a row itself (that row alone), or at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from screenpop.retry import Backoff, DropObserver, NoObserver, is_transient

log = logging.getLogger(__name__)

QUEUE = "audit"
"""The name this queue's retries and drops are counted under."""
MAX_STATEMENT_ROWS = 1000


class AuditQueue:
    """Buffers audit rows in memory and hands them to ``write`` (one transaction) in batches."""

    def __init__(
        self,
        write: Callable[[list[dict[str, Any]]], Awaitable[None]],
        *,
        interval_s: float = 0.05,
        batch_rows: int = 200,
        max_rows: int = 100_000,
        observer: DropObserver | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._write = write
        self._observer = observer or NoObserver()
        self._backoff = backoff or Backoff(initial_s=0.25, max_s=10.0)
        self._attempt = 0
        self._interval_s = interval_s
        self._batch_rows = batch_rows
        self._max_rows = max_rows
        self._rows: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._stop = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0
        self.batches = 0

    def start(self) -> None:
        """Start the background writer on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="screenpop-audit-writer")

    def put(self, row: dict[str, Any]) -> None:
        """Queue one row; never waits and never touches the database."""
        if len(self._rows) >= self._max_rows:
            self._rows.popleft()
            self._give_up(1, "queue_full")
        self._rows.append(row)
        if len(self._rows) == 1:
            self._wake.set()
        if len(self._rows) >= self._batch_rows:
            self._full.set()

    def take(self) -> list[dict[str, Any]]:
        """The rows queued now (up to one statement's worth), for another writer's transaction.

        That writer hands them back (``give_back``) if its transaction does
        not store them, or reports them ``written``.
        """
        count = min(len(self._rows), MAX_STATEMENT_ROWS)
        return [self._rows.popleft() for _ in range(count)]

    def give_back(self, rows: list[dict[str, Any]]) -> None:
        """Taken rows that were not written: queued again, ahead of newer ones, for this queue's writer."""
        if rows:
            self._requeue(rows)
            self._wake.set()

    def written(self, rows: list[dict[str, Any]]) -> None:
        """Taken rows that another writer's transaction stored."""
        if rows:
            self.batches += 1

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def flush(self) -> None:
        """Write everything queued now; on a failure time may cure the rows stay queued and it raises."""
        async with self._flushing:
            while self._rows:
                count = min(len(self._rows), MAX_STATEMENT_ROWS)
                rows = [self._rows.popleft() for _ in range(count)]
                try:
                    await self._write(rows)
                except Exception as exc:
                    if is_transient(exc):
                        self._requeue(rows)
                        raise
                    await self._write_each(rows)  # refused: find the row(s) at fault
                except BaseException:
                    self._requeue(rows)
                    raise
                self.batches += 1

    async def _write_each(self, rows: list[dict[str, Any]]) -> None:
        """Each row alone, so a row the database refuses loses only itself (given up, counted)."""
        for index, row in enumerate(rows):
            try:
                await self._write([row])
            except Exception as exc:
                if is_transient(exc):
                    self._requeue(rows[index:])
                    raise
                log.error("audit trail: a row was refused (%s)", type(exc).__name__)
                self._give_up(1, "rejected")
            except BaseException:
                self._requeue(rows[index:])
                raise

    def _give_up(self, count: int, reason: str) -> None:
        """Count (always) and log (the first, then every thousandth) rows that will never be written."""
        before, self.dropped = self.dropped, self.dropped + count
        self._observer.dropped(QUEUE, reason, count)
        if reason != "queue_full" or before // 1000 != self.dropped // 1000 or before == 0:
            log.error("audit trail: gave up %d rows (%s; %d in all)", count, reason, self.dropped)

    async def close(self) -> None:
        """Stop the writer and write what is still queued (logged if that fails)."""
        self._closing = True
        self._stop.set()
        self._wake.set()
        self._full.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception as exc:  # given up: counted and logged, shutdown goes on
            log.error("audit trail: could not write at shutdown (%s)", type(exc).__name__)
            self._give_up(self.pending, "shutdown")
            self._rows.clear()

    def _requeue(self, rows: list[dict[str, Any]]) -> None:
        """Put unwritten rows back in front of newer ones, within ``max_rows``."""
        combined = rows + list(self._rows)
        overflow = max(0, len(combined) - self._max_rows)
        if overflow:
            self._give_up(overflow, "queue_full")
        self._rows = deque(combined[overflow:])

    async def _run(self) -> None:
        """Wait for rows, let a batch gather for ``interval_s``, write it; until close."""
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval_s):
                    await self._full.wait()
            self._full.clear()
            if self._closing:
                return
            await self._write_or_back_off()

    async def _write_or_back_off(self) -> None:
        try:
            await self.flush()
            self._attempt = 0
        except Exception as exc:  # the rows are back in the queue: wait, then try again
            # the exception's type only: its text may carry SQL and the rows' values
            log.warning(
                "audit trail: write failed (%s), %d rows kept for retry", type(exc).__name__, self.pending
            )
            self._observer.retried(QUEUE)
            await self._pause(self._backoff.wait(self._attempt))
            self._attempt += 1
            self._wake.set()

    async def _pause(self, sleep: Awaitable[None]) -> None:
        """The back-off's sleep, cut short by ``close`` (which writes what is left itself)."""
        pause = asyncio.ensure_future(sleep)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({pause, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (pause, stop):
                waiter.cancel()
