"""Who holds a call's card, shared by every instance: the broker's sets, raced for real on Redis.

The broker-level tests run two ``RedisBroker`` instances (two connections,
as two services would have) against the session's real Redis; the service
test runs two ``screenpop serve`` processes on that Redis and races the
legs of the same calls into both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from screenpop.broker import Delivery, MemoryBroker, id_key
from screenpop.broker.redis import RedisBroker
from tests.support.processes import agent_on, ring, service_config, services
from tests.support.service import Agent

pytestmark = pytest.mark.redis

CALLS = 24


async def test_racing_adds_tell_exactly_one_instance_each_member_is_new(
    pair: tuple[RedisBroker, RedisBroker],
) -> None:
    """Two instances adding the same members at once: each member is new to exactly one; all are kept."""
    a, b = pair
    agents = [f"agent-{n}" for n in range(40)]
    results = await asyncio.gather(
        *(
            broker.add_members(f"recipients:pbx:c-{n}", agents[n % 2 :: 1], 60)
            for n in range(20)
            for broker in (a, b)
        )
    )
    for n in range(20):
        first, second = results[2 * n], results[2 * n + 1]
        assert sorted(first + second) == sorted(agents[n % 2 :]), (first, second)
        assert await a.members(f"recipients:pbx:c-{n}") == sorted(agents[n % 2 :])


async def test_racing_removals_take_a_member_out_once(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """Of racing removals of one member only one is told it removed it; the emptied set stays known."""
    a, b = pair
    assert await a.members("recipients:pbx:c-gone") is None
    await a.add_members("recipients:pbx:c-gone", ["agent-1"], 60)
    removed = await asyncio.gather(
        *(x.remove_member("recipients:pbx:c-gone", "agent-1") for x in (a, b, a, b))
    )
    assert sorted(removed) == [False, False, False, True]
    assert await b.members("recipients:pbx:c-gone") == []
    assert await b.add_members("recipients:pbx:c-gone", ["agent-1", "agent-2"], 60) == ["agent-1", "agent-2"]


async def test_concurrent_publishes_reach_local_listeners_in_id_order(
    pair: tuple[RedisBroker, RedisBroker],
) -> None:
    """Publishes racing on one instance reach its listeners in event-id order (sockets drop older ids)."""
    a, _ = pair
    seen: list[str] = []
    a.listen(lambda message: seen.append(message.event_id))
    await asyncio.gather(*(a.publish([Delivery("agent-1", json.dumps({"n": n}))]) for n in range(60)))
    assert len(seen) == 60
    assert seen == sorted(seen, key=id_key), seen


async def test_memory_broker_sets_behave_alike() -> None:
    """memory:// keeps the same set semantics: new members once, removal once, an emptied set still known."""
    broker = MemoryBroker(300)
    assert await broker.members("k") is None
    assert await broker.add_members("k", ["b", "a", "a"], 60) == ["b", "a"]
    assert await broker.add_members("k", ["a", "c"], 60) == ["c"]
    assert [await broker.remove_member("k", "a"), await broker.remove_member("k", "a")] == [True, False]
    assert await broker.members("k") == ["b", "c"]


async def until_status(agent: Agent, status: str, calls: set[str]) -> set[str]:
    """Read the agent's frames until a ``status`` call message came for every call in ``calls``."""
    waiting = set(calls)
    with contextlib.suppress(TimeoutError):
        while waiting:
            frame = await agent.next(5.0)
            if frame.get("type") == "call" and frame["status"] == status:
                waiting.discard(frame["call_id"])
    return calls - waiting


async def test_legs_racing_into_two_instances_leave_every_agent_told_of_the_answer(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """One call's legs ring agent-1 on A and agent-2 on B at once; the answer then reaches both agents."""
    config = service_config(pg_url, redis_url)
    calls = {f"c-race-{n}" for n in range(CALLS)}
    async with (
        services(tmp_path, a=config, b=config) as started,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        a, b = started["a"], started["b"]
        async with agent_on(a, "agent-1") as one, agent_on(b, "agent-2") as two:
            legs: list[Any] = []
            for call_id in sorted(calls):
                legs += [
                    ring(a, call_id, session, agent="agent-1"),
                    ring(b, call_id, session, agent="agent-2"),
                ]
            assert {status for status, _ in await asyncio.gather(*legs)} == {202}
            complete = await asyncio.gather(*(until_complete(agent, calls) for agent in (one, two)))
            assert complete == [calls, calls]
            answers = [
                ring(a, call_id, session, event="answered", agent="agent-3") for call_id in sorted(calls)
            ]
            assert {status for status, _ in await asyncio.gather(*answers)} == {202}
            told = await asyncio.gather(
                until_status(one, "answered", calls), until_status(two, "answered", calls)
            )
    assert told[0] == calls, f"agent-1 was not told of {sorted(calls - told[0])}"
    assert told[1] == calls, f"agent-2 was not told of {sorted(calls - told[1])}"


async def until_complete(agent: Agent, calls: set[str]) -> set[str]:
    """Read the agent's frames until every call's card is complete (so no card is live any more)."""
    waiting = set(calls)
    with contextlib.suppress(TimeoutError):
        while waiting:
            frame = await agent.next(5.0)
            if frame.get("type") == "card" and frame["complete"]:
                waiting.discard(frame["call_id"])
    return calls - waiting
