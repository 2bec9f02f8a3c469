"""Wall-clock time as an object, so that behaviour tied to a deadline can be tested without waiting.

A token's ``exp`` is seconds since the epoch, set by another machine: the
hub compares it with ``Clock.time()`` and waits for it with
``Clock.sleep_until()``.  Production uses ``SystemClock``; tests give the app a
``screenpop.testing.ManualClock`` and move it forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch, as in a JWT's ``exp``."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once ``time()`` has reached ``when`` (at once when it already has)."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def time(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        # Read the wall clock again after each sleep: it may have been stepped meanwhile,
        # and asyncio's timers follow the monotonic clock.
        while (left := when - time.time()) > 0:  # noqa: ASYNC110 - a moment to reach, not a flag to poll
            await asyncio.sleep(left)
