"""Retention runs every interval of elapsed time, even when the wall clock is stepped back meanwhile.

The wait between purges ended when the wall clock reached "start + 1 h";
stepped back a day (an NTP correction, a restored VM), the next purge came
a day and an hour later instead of the SPEC's "at least hourly".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from screenpop.store import Store
from screenpop.store.retention import PurgeReport, RetentionPolicy
from screenpop.store.retention_loop import run_retention
from tests.support.waiting import wait_for


class SteppedClock:
    """The machine's clocks, with a wall clock that a test steps back (timers run on the event loop)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() - self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, when - self.time()), callback)


async def test_the_next_purge_comes_one_interval_after_the_last_when_the_clock_went_back(
    tmp_path: Path,
) -> None:
    """Two purges 0.2 s apart of elapsed time, with the wall clock stepped back a day between them."""
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/screenpop.db")
    clock = SteppedClock()
    purges: list[PurgeReport] = []
    policy = RetentionPolicy(calls_days=30)
    loop = asyncio.create_task(run_retention(store, lambda: policy, clock, "me", purges.append, 0.2))
    try:
        await wait_for(lambda: len(purges) == 1, 5, "the purge at start")
        clock.offset = 86400.0
        await wait_for(lambda: len(purges) == 2, 5, "the next purge, an interval later")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await store.close()
