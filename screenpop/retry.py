"""Retrying accepted work instead of dropping it: back-off, what is worth retrying, who counts drops.

Call records, audit rows and AMI events have all been accepted (a 2xx
answered, an event read off the PBX's socket) by the time they are
written or handled, so a failure there must not lose them quietly: a
failure that time can cure (the database restarting, its file locked, the
broker down, the service momentarily full) is retried with exponential
back-off and jitter; what has to be given up (a bounded queue overflowing,
a row the database refuses, shutdown) is counted through a
``DropObserver`` (``Metrics`` in the app, so it shows in ``/metrics``) and
logged.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import redis.exceptions
import sqlalchemy as sa

from screenpop.errors import RateLimited, ScreenpopError, Unavailable

PERMANENT_DB_ERRORS = (
    sa.exc.IntegrityError,
    sa.exc.DataError,
    sa.exc.ProgrammingError,
    sa.exc.NotSupportedError,
)
"""The database refusing the row itself: the same row would be refused again."""
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
"""PostgreSQL: connection exception, transaction rollback (deadlock, serialization), insufficient
resources, operator intervention (shutdown, starting up), system error."""
TRANSIENT_SQLSTATES = frozenset({"55P03", "55006"})
"""Lock not available; object in use."""


class DropObserver(Protocol):
    """Told about every retry and every item given up, so both can be counted."""

    def retried(self, queue: str) -> None:
        """One more attempt at a write (or delivery) that failed for a reason time may cure."""
        ...

    def dropped(self, queue: str, reason: str, count: int = 1) -> None:
        """``count`` items of ``queue`` given up for ``reason``."""
        ...


class NoObserver:
    """Counts nothing (a store or recorder used without the app's metrics, e.g. the CLI)."""

    def retried(self, queue: str) -> None:
        """Nothing to count."""

    def dropped(self, queue: str, reason: str, count: int = 1) -> None:
        """Nothing to count; the caller logs the drop."""


@dataclass
class Backoff:
    """Exponential back-off with equal jitter, capped at ``max_s``; ``sleep`` is injectable for tests."""

    initial_s: float = 0.05
    max_s: float = 5.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def delay(self, attempt: int) -> float:
        """The pause before retry ``attempt`` (0 first), jittered so that retries do not march in step."""
        ceiling = min(self.max_s, self.initial_s * 2.0 ** min(attempt, 30))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def wait(self, attempt: int) -> None:
        await self.sleep(self.delay(attempt))


def worth_logging(dropped_so_far: int) -> bool:
    """Log the first drop and then every thousandth: an overflowing queue must not flood the log too."""
    return dropped_so_far <= 1 or dropped_so_far % 1000 == 0


def is_transient(exc: BaseException) -> bool:
    """True for a failure that retrying can cure: unreachable, restarting, locked, busy, timed out."""
    if isinstance(exc, ScreenpopError):
        return isinstance(exc, Unavailable | RateLimited)
    if isinstance(exc, sa.exc.DBAPIError):
        return _database_may_recover(exc)
    return isinstance(
        exc,
        OSError
        | TimeoutError
        | sa.exc.InvalidatePoolError
        | redis.exceptions.ConnectionError
        | redis.exceptions.TimeoutError,
    )


def _database_may_recover(exc: sa.exc.DBAPIError) -> bool:
    """A lost connection, a server shutting down or starting, a lock, a deadlock: yes; bad data: no.

    PostgreSQL says which with its SQLSTATE (asyncpg's errors reach
    SQLAlchemy mostly as a plain ``DBAPIError``, whatever the cause, so the
    exception class alone cannot tell); SQLite's busy and I/O errors are
    ``OperationalError``.
    """
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and state:
        return state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES
    if isinstance(exc, PERMANENT_DB_ERRORS):
        return False
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
