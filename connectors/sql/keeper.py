"""When the number index is rebuilt, and what a failed rebuild leaves in place.

The keeper holds the current ``PhoneIndex`` and swaps in a complete new one,
so a lookup never sees a half-built index and a failed refresh keeps serving
the previous one (``index.py`` says how an index is built).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from screenpop.stopping import cancel_and_wait

from .changes import changed_numbers
from .index import PhoneIndex

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 30.0


class IndexKeeper:
    """Holds the current index and refreshes it every ``every_s`` in one background task.

    ``load(previous)`` returns a complete new index: a full read when
    ``previous`` is None, else (if the source supports it) ``previous``
    updated with the rows changed since. Every ``full_every``-th refresh is a
    full one, which also forgets rows deleted outright. The keeper only
    decides when, swaps the result in, and logs failures without the
    database URL; a failure is retried sooner than a normal refresh.
    ``on_change`` gets the numbers a refresh changed, after the new index is
    in place (``changes.py``), so that their cached answers can go.
    """

    def __init__(
        self,
        name: str,
        load: Callable[[PhoneIndex | None], Awaitable[PhoneIndex]],
        every_s: float,
        full_every: int = 1,
        on_change: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._name = name
        self._load = load
        self._every_s = every_s
        self._full_every = max(1, full_every)
        self._since_full = 0
        self._on_change = on_change
        self.index: PhoneIndex | None = None
        self.error: str | None = None
        self.last_kind: str | None = None
        """``full`` or ``incremental``: what the last successful refresh did."""
        self.distinct_numbers = 0
        """How many different numbers the current index holds (what /readyz and the status show)."""
        self.refreshed_at: float | None = None
        """Wall time of the last successful refresh."""
        self.failing_since: float | None = None
        """Wall time of the first failed refresh since the last successful one."""
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Build the first index now, then keep refreshing in the background."""
        await self.refresh()
        self._task = asyncio.create_task(self._refresh_forever(), name=f"sql-index-{self._name}")

    async def refresh(self, *, full: bool = False) -> bool:
        """Build a new index and swap it in; on failure keep the old one and remember why."""
        previous = replaced = self.index
        if full or previous is None or self._since_full + 1 >= self._full_every:
            previous = None
        try:
            index = await self._load(previous)
        except Exception as exc:
            self.error = _short(exc)
            self.failing_since = self.failing_since or time.time()
            log.warning(
                "connector %s: index refresh failed, keeping the previous index: %s", self._name, self.error
            )
            return False
        self._since_full = 0 if previous is None else self._since_full + 1
        self.last_kind = "full" if previous is None else "incremental"
        self.index, self.error = index, None
        self.refreshed_at, self.failing_since = time.time(), None
        self.distinct_numbers = index.distinct_numbers  # a pass over every entry: counted once per index
        keyless = f", {index.keyless} rows with a NULL key left out" if index.keyless else ""
        log.info(  # counts only: the unreadable numbers themselves are customer data
            "connector %s: index (%s) holds %d numbers from %d rows (%d stored numbers unreadable%s)",
            self._name,
            self.last_kind,
            self.distinct_numbers,
            index.rows,
            index.unreadable,
            keyless,
        )
        if replaced is not None and self._on_change is not None:
            await self._changed(replaced, index)
        return True

    async def _changed(self, replaced: PhoneIndex, index: PhoneIndex) -> None:
        """Tell ``on_change`` what changed; a failure there never fails the refresh that succeeded."""
        assert self._on_change is not None
        try:
            numbers = await asyncio.to_thread(changed_numbers, replaced, index)
            if numbers:
                await self._on_change(numbers)
        except Exception:  # cached answers then expire with their TTL, as before this hook existed
            log.exception("connector %s: could not drop the cached answers of changed numbers", self._name)

    def problem(self) -> str | None:
        """What IT must know about the index in one phrase (None when it is current): stale, or none yet."""
        if self.error is None:
            return None
        since = iso_time(self.failing_since)
        if self.index is None:
            return f"no number index yet: refresh failing since {since}"
        built = iso_time(self.refreshed_at)
        return f"serving a stale number index (refreshed {built}): refresh failing since {since}"

    async def close(self) -> None:
        await cancel_and_wait(self._task)  # its refreshes talk to Redis, which can swallow a plain cancel
        self._task = None

    async def _refresh_forever(self) -> None:
        ok = self.error is None
        while True:  # ends when close() cancels the task
            await asyncio.sleep(self._every_s if ok else min(self._every_s, RETRY_AFTER_FAILURE_S))
            ok = await self.refresh()


def iso_time(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _short(exc: BaseException) -> str:
    """The loader already turns database errors into safe text; keep only its first line."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
