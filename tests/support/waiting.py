"""The suite's one polling wait: a bounded wait for an observable condition, never a bare sleep.

``wait_for`` is for tests and helpers on an event loop; ``wait_until`` is the
same wait for code that has no loop to yield to (the session's server
fixtures start PostgreSQL and Redis synchronously).  Both poll ``check``
every ``every`` seconds, return its first truthy answer, and fail naming
``what`` (and the last answer) once ``within`` seconds have passed.  A check
may raise to give up at once (a server process that died).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


def _gave_up(what: str, within: float, last: Any) -> AssertionError:
    return AssertionError(f"{what} not seen within {within} s (last: {last!r})")


async def wait_for(check: Callable[[], Any], within: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` (plain or async) until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(every)  # allow-sleep: poll interval of wait_for, a bounded wait for a condition
    raise _gave_up(what, within, last)


def wait_until(check: Callable[[], Any], within: float, what: str, every: float = 0.05) -> Any:
    """``wait_for`` for code with no event loop: blocks the thread between polls."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)  # allow-sleep: poll interval of wait_until, a bounded wait for a condition
    raise _gave_up(what, within, last)
