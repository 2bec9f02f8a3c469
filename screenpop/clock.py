"""Wall-clock time as an object, so that behaviour tied to a deadline can be tested without waiting.

A token's ``exp`` is seconds since the epoch, set by another machine: the
hub compares it with ``Clock.time()`` and arms a timer for it with
``Clock.call_at()``.  Production uses ``SystemClock``; tests give the app a
``screenpop.testing.ManualClock`` and move it forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch, as in a JWT's ``exp``."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` once ``time()`` reaches ``when``.

        It may come early when the wall clock was stepped back meanwhile:
        callers compare ``time()`` again and arm a new timer if so.
        """
        ...


class SystemClock:
    """The machine's wall clock; timers are the event loop's (a handle each, no task)."""

    def time(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, when - time.time()), callback)
