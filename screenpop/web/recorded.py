"""Writes on a call that another instance has just popped: its record is written behind that 202.

The instance that takes a ringing answers the phone system, publishes the
card, and records the call in the store a few tens of milliseconds later
(longer under load).  A note or a suggestion's answer sent to *another*
instance in that window found no call and was a 404, though every agent
already had its card.  The broker knows the call from the pop on (its
holders' set), so such a write waits, bounded, for the record to land.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

import screenpop.web.app_keys as app_keys
from screenpop.errors import NotFound, Unavailable
from screenpop.transfers import recipients_key

T = TypeVar("T")

RECORD_WAIT_S = 2.0
"""How long a write waits for a popped call's record; then ``503 unavailable`` (send again)."""
POLL_S = 0.05


async def on_recorded_call(app: web.Application, call_id: str, write: Callable[[], Awaitable[T]]) -> T:
    """``write()``, tried again while the store lacks a call the broker says has popped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_WAIT_S
    while True:
        try:
            return await write()
        except NotFound:
            if not await _popped(app, call_id):
                raise
            if loop.time() >= deadline:
                raise Unavailable("the call is still being recorded; send it again in a moment") from None
        await asyncio.sleep(POLL_S)  # the write changed nothing: the store had no such call


async def _popped(app: web.Application, call_id: str) -> bool:
    """Whether some provider's call of this id has holders in the broker (it rang someone)."""
    broker = app[app_keys.BROKER]
    for provider in app[app_keys.GENERATIONS].latest.settings.providers:
        if await broker.members(recipients_key(provider.name, call_id)):
            return True
    return False
