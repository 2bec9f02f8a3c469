"""A transfer's move of a call's holders: ``replace_members``, atomic on Redis, the same in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from screenpop.broker import MemoryBroker, Moved
from screenpop.broker.redis import RedisBroker

pytestmark = pytest.mark.redis


async def test_racing_transfers_each_see_a_whole_set(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """Two instances moving one call at once: each earlier holder is answered to exactly one of them."""
    a, b = pair
    for n in range(20):
        key = f"recipients:pbx:c-{n}"
        await a.add_members(key, ["agent-1", "agent-2"], 60)
        first, second = await asyncio.gather(
            a.replace_members(key, ["agent-3"], 60), b.replace_members(key, ["agent-4", "agent-5"], 60)
        )
        # as if one ran wholly before the other: it saw the ringing holders, the other exactly its set
        a_first = (first, second) == (["agent-1", "agent-2"], ["agent-3"])
        b_first = (first, second) == (["agent-4", "agent-5"], ["agent-1", "agent-2"])
        assert a_first or b_first, (first, second)
        assert await b.members(key) == (["agent-4", "agent-5"] if a_first else ["agent-3"])


async def test_replace_tells_an_unknown_set_from_an_empty_one(redis_url: str) -> None:
    """No set before: None; a set emptied by a transfer to nobody: [] (and it stays known)."""
    for broker in (MemoryBroker(60), RedisBroker(redis_url, 60)):
        await broker.start()
        try:
            assert await broker.replace_members("recipients:pbx:c-new", ["agent-1"], 60) is None
            assert await broker.replace_members("recipients:pbx:c-new", [], 60) == ["agent-1"]
            assert await broker.members("recipients:pbx:c-new") == []
            assert await broker.add_members("recipients:pbx:c-new", ["agent-1"], 60) == ["agent-1"]
        finally:
            await broker.close()


async def test_a_move_stamped_before_the_latest_applied_changes_nothing(redis_url: str) -> None:
    """A later move applied first wins; an older one late is refused and sets no state; an equal or
    unstamped one applies."""
    for broker in (MemoryBroker(60), RedisBroker(redis_url, 60)):
        await broker.start()
        name = type(broker).__name__
        call = Call(broker, f"recipients:pbx:c-at-{name}", f"transfer-at:pbx:c-at-{name}", f"s:{name}")
        try:
            assert await call.move(["agent-3"], 9.0) == Moved(True, None)
            assert await call.move(["agent-2"], 5.0) == Moved(False)
            assert await broker.members(call.key) == ["agent-3"]
            assert await broker.get(call.state) == "to:['agent-3']@9.0"
            assert await call.move(["agent-1"], 9.0) == Moved(True, ["agent-3"])
            assert await call.move(["agent-2"], None) == Moved(True, ["agent-1"])
            assert await call.move(["agent-3"], 8.0) == Moved(False)
            assert await broker.members(call.key) == ["agent-2"]
            assert await broker.get(call.state) == "to:['agent-2']@None"
        finally:
            await broker.close()


@dataclass
class Call:
    """One call's holders, newest-move time and state keys on one broker."""

    broker: MemoryBroker | RedisBroker
    key: str
    latest: str
    state: str

    async def move(self, members: list[str], at: float | None) -> Moved:
        state = (self.state, f"to:{members}@{at}")
        return await self.broker.move_members(self.key, members, 60, self.latest, at, state)


async def test_racing_moves_leave_the_latest_stamped_one(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """Two instances taking a call's two transfers at once: whatever the order, the later-stamped holds it."""
    a, b = pair
    for n in range(20):
        key, latest = f"recipients:pbx:c-race-{n}", f"transfer-at:pbx:c-race-{n}"
        await a.add_members(key, ["agent-1"], 60)
        early, late = await asyncio.gather(
            a.move_members(key, ["agent-2"], 60, latest, 5.0, (f"state-{n}", "early")),
            b.move_members(key, ["agent-3"], 60, latest, 9.0, (f"state-{n}", "late")),
        )
        assert late.applied and await a.members(key) == ["agent-3"], (early, late)
        assert await a.get(f"state-{n}") == "late"  # the call state says what the holders set does
        assert await a.get(f"state-{n}") == "late"  # the call state says what the holders set does


async def test_put_newer_never_replaces_a_newer_version(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """An older version, or a second value of the same version, is refused; a newer one replaces it."""
    a, b = pair
    memory = MemoryBroker(60)
    for one, other in ((a, b), (memory, memory)):
        assert await one.put_newer("card:pbx:c-v", "five", 5, 60)
        assert not await other.put_newer("card:pbx:c-v", "four", 4, 60)
        assert not await other.put_newer("card:pbx:c-v", "five again", 5, 60)
        assert await one.get("card:pbx:c-v") == "five"
        assert await other.put_newer("card:pbx:c-v", "six", 6, 60)
        assert await one.get("card:pbx:c-v") == "six"
