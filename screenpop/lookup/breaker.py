"""A circuit breaker and a concurrency limit per connector.

A connector that hangs would otherwise cost every card its full timeout; once
it has failed ``failures`` times in a row the breaker opens and the card skips
it at once (section ``error``: "circuit open") until ``reset_s`` has passed,
then lets one probe through.  Each instance keeps its own breakers: a
connector unreachable from one machine may be fine from another.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

from screenpop.clock import SYSTEM_CLOCK, Clock
from screenpop.config import CircuitSettings


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """``clock`` times the open state, so a test can move past ``reset_s`` without sleeping."""

    def __init__(self, settings: CircuitSettings, max_concurrency: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._failures_to_open = settings.failures
        self._reset_s = settings.reset_s
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._state = CircuitState.CLOSED
        self.slots = asyncio.Semaphore(max_concurrency)

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock.monotonic() - self._opened_at >= self._reset_s:
            return CircuitState.HALF_OPEN
        return self._state

    @property
    def reopens_in_s(self) -> float:
        """Seconds until an open circuit lets a probe through (0 unless open)."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._reset_s - (self._clock.monotonic() - self._opened_at))

    def allow(self) -> bool:
        """May a lookup run now?  In half-open, only one probe at a time."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        self._state = CircuitState.CLOSED

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._failures_to_open:
            self._state = CircuitState.OPEN
            self._opened_at = self._clock.monotonic()
        self._probing = False
