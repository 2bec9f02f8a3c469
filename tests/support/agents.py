"""Reading what agents see: several sockets at once, frames read until one matches, what was received."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from screenpop.config import Settings
from tests.support.service import Agent, agent_socket


@contextlib.asynccontextmanager
async def agents(base: str, settings: Settings, *ids: str) -> AsyncIterator[dict[str, Agent]]:
    """Websockets for these agents, all connected before anything is posted."""
    async with contextlib.AsyncExitStack() as stack:
        yield {i: await stack.enter_async_context(agent_socket(base, settings, i)) for i in ids}


async def read_until(agent: Agent, done: Callable[[dict[str, Any]], bool], within: float = 5.0) -> None:
    """Read new frames (kept in ``agent.raw``) until one satisfies ``done``."""
    deadline = time.monotonic() + within
    while not done(await agent.next(max(0.01, deadline - time.monotonic()))):
        pass


async def has_had(agent: Agent, done: Callable[[dict[str, Any]], bool], within: float = 5.0) -> None:
    """Like ``read_until``, but a frame received earlier counts too."""
    if not any(done(json.loads(text)) for text in agent.raw):
        await read_until(agent, done, within)


def complete_card(call_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "card" and f["call_id"] == call_id and f["complete"]


def call_status(call_id: str, status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "call" and f["call_id"] == call_id and f["status"] == status


def seen(
    agent: Agent, call_id: str | None = None
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str | None]]]:
    """What the agent received (about one call): card frames, and call messages as (call, status, agent).

    Events of different calls are handled concurrently, so only the order within a call is kept.
    """
    frames = [json.loads(text) for text in agent.raw]
    frames = [f for f in frames if call_id is None or f.get("call_id") == call_id]
    cards = [f for f in frames if f["type"] == "card"]
    calls = [(f["call_id"], f["status"], f["agent"]) for f in frames if f["type"] == "call"]
    return cards, calls


def assert_one_card(agent: Agent, call_id: str, e164: str) -> list[dict[str, Any]]:
    """Exactly one card: one call id, versions rising with at most one version 1, the last complete."""
    cards, _ = seen(agent)
    assert {c["call_id"] for c in cards} == {call_id}, [c["call_id"] for c in cards]
    versions = [c["version"] for c in cards]
    assert versions == sorted(set(versions)) and versions.count(1) <= 1, versions
    assert all(c["card"]["caller"]["e164"] == e164 for c in cards)
    return cards
