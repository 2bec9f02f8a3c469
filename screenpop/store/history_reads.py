"""The cards' history reads, gathered so that a burst of calls costs a few read transactions, not one each.

On SQLite a read is a hop to the reader thread, and a thread woken from
sleep pays for its cold caches: measured in a burst of 200 calls a
second, ~300 µs of the reader's CPU per hop against ~15 µs for the
statement itself.  So at most one read transaction starts per
``window_s``: a read asked for while none started in the last window
starts at once (a quiet system adds no delay), and reads asked for within
the window wait for its end and go together, each its own statement in
one transaction.  A card's history is needed only when its sections are
complete, which the connectors' round trips already take longer than the
window to reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import sqlalchemy as sa

from screenpop.errors import Unavailable
from screenpop.model import HistoryEntry

WINDOW_S = 0.02
"""At most one history transaction per this many seconds; under load, the longest a read waits."""

Request = tuple[str, int, tuple[str | None, str] | None]
Answer = tuple[HistoryEntry, ...]


class HistoryReads:
    """Gathers history reads into one read transaction per window (``run`` runs one)."""

    def __init__(
        self, run: Callable[[Sequence[Request]], Awaitable[list[Answer]]], window_s: float = WINDOW_S
    ) -> None:
        self._run = run
        self._window_s = window_s
        self._waiting: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._last_start = -window_s
        self._batches: set[asyncio.Task[None]] = set()
        self._closed = False
        self.transactions = 0

    async def read(self, request: Request) -> Answer:
        """The history for one card, read with whatever else is asked for in the same window."""
        if self._closed:
            raise Unavailable("store: closed")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self._waiting.append((request, answer))
        if self._timer is None:
            delay = max(0.0, self._last_start + self._window_s - loop.time())
            self._timer = loop.call_later(delay, self._start)
        return await answer

    def _start(self) -> None:
        self._timer = None
        batch, self._waiting = [(r, a) for r, a in self._waiting if not a.done()], []
        if not batch:
            return  # every card that asked has finished without it
        self._last_start = asyncio.get_running_loop().time()
        self.transactions += 1
        task = asyncio.create_task(self._answer(batch))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _answer(self, batch: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self._run([request for request, _ in batch])
        except Exception as exc:  # every card of the batch is told; each shows no history
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_, answer), entries in zip(batch, answers, strict=True):
            if not answer.done():
                answer.set_result(entries)

    async def close(self) -> None:
        """Refuse new reads, answer the waiting ones with ``Unavailable``, let running ones finish."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, answer in self._waiting:
            if not answer.done():
                answer.set_exception(Unavailable("store: closed"))
        self._waiting = []
        if self._batches:
            await asyncio.wait(set(self._batches))


def read_all(
    read_one: Callable[[sa.Connection, str, int, tuple[str | None, str] | None], Answer],
) -> Callable[[sa.Connection, Sequence[Request]], list[Answer]]:
    """One transaction's function answering every request of a batch with ``read_one``."""

    def run(conn: sa.Connection, requests: Sequence[Request]) -> list[Answer]:
        return [read_one(conn, *request) for request in requests]

    return run
