"""Frames two real Redis brokers hand their listeners, and bounded waits on them (broker tests)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from screenpop.broker import Delivery, Message
from screenpop.broker.redis import RedisBroker
from tests.support.waiting import wait_for

Received = list[tuple[str, str, str]]


def text(message: Message) -> str:
    """The frame a socket that hides nothing would be sent."""
    picked = message.frame_for(frozenset())
    assert picked is not None
    return picked[0]


def recorder() -> tuple[Received, Callable[[Message], None]]:
    got: Received = []

    def handler(message: Message) -> None:
        got.append((message.agent_id, message.event_id, text(message)))

    return got, handler


async def until(condition: Callable[[], bool], within_s: float = 5.0) -> bool:
    """Wait (bounded) for ``condition``; the caller asserts the result."""
    with contextlib.suppress(AssertionError):
        return bool(await wait_for(condition, within_s, "the condition", every=0.01))
    return False


def card(n: int) -> Delivery:
    return Delivery("agent-1", json.dumps({"type": "card", "n": n}))


async def until_health(
    a: RedisBroker, b: RedisBroker, wanted: Callable[[str], bool], within_s: float
) -> bool:
    """Wait (bounded) until both brokers' health satisfies ``wanted``; the caller asserts the result."""

    async def both() -> bool:
        return wanted(await a.health()) and wanted(await b.health())

    with contextlib.suppress(AssertionError):
        return bool(await wait_for(both, within_s, "the health state", every=0.02))
    return False
