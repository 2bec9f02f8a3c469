"""The audit trail's write-behind queue.

Every card version delivered to every agent is audited (security officers
ask who saw a customer's credit limit), which makes auditing the busiest
write screenpop does.  The hot path therefore only appends a row to a
buffer; one background task writes the buffer in batches with one
``executemany``, at most ``interval_s`` after the first queued row or as
soon as ``batch_rows`` are waiting.  A failed write puts the rows back and
is retried, so a database hiccup delays the audit trail rather than losing
it; only beyond ``max_rows`` queued rows are the oldest dropped, and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

RETRY_S = 1.0
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
    ) -> None:
        self._write = write
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
            self.dropped += 1
        self._rows.append(row)
        if len(self._rows) == 1:
            self._wake.set()
        if len(self._rows) >= self._batch_rows:
            self._full.set()

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def flush(self) -> None:
        """Write everything queued now; on failure the rows stay queued and it raises."""
        async with self._flushing:
            while self._rows:
                count = min(len(self._rows), MAX_STATEMENT_ROWS)
                rows = [self._rows.popleft() for _ in range(count)]
                try:
                    await self._write(rows)
                except BaseException:
                    self._requeue(rows)
                    raise
                self.batches += 1

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
        except Exception:
            log.exception("audit trail: %d rows could not be written at shutdown", self.pending)

    def _requeue(self, rows: list[dict[str, Any]]) -> None:
        """Put unwritten rows back in front of newer ones, within ``max_rows``."""
        combined = rows + list(self._rows)
        overflow = max(0, len(combined) - self._max_rows)
        self.dropped += overflow
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
        except Exception:
            log.exception("audit trail: write failed, %d rows kept for retry", self.pending)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY_S):
                    await self._stop.wait()
            self._wake.set()
