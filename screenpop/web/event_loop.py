"""Which event loop ``screenpop serve`` runs on (``server.event_loop``).

Every call is a webhook read, three or more connector requests, a 202 and
card frames: socket reads, writes and task switches, nearly all of them in
the event loop's own code.  uvloop runs that code in C on libuv, and a burst
of calls costs the server about a sixth less CPU on it (docs/performance.md)
with nothing in screenpop written differently: aiohttp, redis-py and
SQLAlchemy's async drivers only see ``asyncio``'s interfaces.

``auto`` (the default) takes uvloop where it is installed (it is a
dependency on Linux and macOS) and the standard loop elsewhere; ``asyncio``
is there for whoever must rule out the loop while chasing a problem.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from typing import Literal

from screenpop.errors import ConfigError

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class EventLoopUnavailable(ConfigError):
    """``server.event_loop: uvloop`` on a machine where uvloop cannot be imported."""


def loop_factory(choice: EventLoopChoice) -> LoopFactory | None:
    """The factory ``asyncio.Runner`` should use, or None for the standard loop."""
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError as exc:
        if choice == "uvloop":
            raise EventLoopUnavailable(
                f"server.event_loop is uvloop, but uvloop cannot be imported ({exc}); "
                "install it (pip install uvloop) or set server.event_loop: auto"
            ) from exc
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: named in the start-up line, so a report says which loop ran."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
