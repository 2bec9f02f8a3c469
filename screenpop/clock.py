"""The time source of everything whose behaviour depends on time passing.

Caches (TTL, stale window), circuit breakers (the half-open timer) and the
shared cache's rest after a Redis fault read the time through a ``Clock``
handed to them, so that a test can move time forward (``screenpop.testing.
ManualClock``) instead of sleeping past a boundary, and a boundary can never
be straddled by a slow machine.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (comparable across processes, e.g. a cache entry's age)."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go backwards (intervals inside one process, e.g. a breaker's reset)."""
        ...


class SystemClock:
    """The real clocks of this machine."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()
