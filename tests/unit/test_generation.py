"""Generations: what a call pins, and when a replaced generation's connectors are closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from screenpop.generation import Generation, Generations, Shared, build_generation
from screenpop.lookup import MemoryCache
from screenpop.testing import make_settings
from tests.support.waiting import wait_for

SCRIPTED = "screenpop.testing:ScriptedConnector"
WITHIN_S = 5.0


def settings_with(**delays: int) -> Any:
    return make_settings([{"name": name, "kind": SCRIPTED, "delay_ms": d} for name, d in delays.items()])


@pytest.fixture
async def shared() -> AsyncIterator[Shared]:
    async with aiohttp.ClientSession() as http:
        yield Shared(http=http, cache=MemoryCache(), observer=None)


async def build(settings: Any, shared: Shared, previous: Generation | None = None) -> Generation:
    return await build_generation(settings, shared, previous)


async def test_a_connector_carried_over_then_removed_stays_open_while_an_older_call_uses_it(
    shared: Shared,
) -> None:
    """`a`, kept by reload 2 and dropped by reload 3, closes only when the call on generation 1 ends."""
    first = await build(settings_with(a=0, b=0), shared)
    generations = Generations(first)
    a: Any = first.connectors["a"]
    old_b: Any = first.connectors["b"]
    with generations.pinned() as pinned:  # a call in progress on generation 1
        second = await build(settings_with(a=0, b=5), shared, first)
        generations.replace(second)
        third = await build(settings_with(b=5), shared, second)
        generations.replace(third)
        await wait_for(lambda: generations.alive == 2, WITHIN_S, "generation 2 retired")
        assert generations.current is pinned is first
        assert second.connectors["a"] is a and a.started and old_b.started
    await wait_for(lambda: generations.alive == 1, WITHIN_S, "generation 1 retired once its call ended")
    new_b: Any = third.connectors["b"]
    assert not a.started and not old_b.started
    assert new_b is second.connectors["b"] and new_b.started
    assert generations.current is third
    await generations.close()
    assert not new_b.started


async def test_a_task_spawned_inside_a_call_keeps_its_generation_and_holds_it(shared: Shared) -> None:
    """A task created while pinned sees the pinned generation after a reload, and holds it until done."""
    first = await build(settings_with(a=0), shared)
    generations = Generations(first)
    go = asyncio.Event()
    seen: list[Generation] = []

    async def fan_out() -> None:
        await go.wait()
        seen.append(generations.current)

    with generations.pinned():
        task = asyncio.create_task(fan_out())
        generations.held_task(task)
    second = await build(settings_with(a=1), shared, first)
    generations.replace(second)
    still_held = first.users
    go.set()
    await task
    await wait_for(lambda: generations.alive == 1, WITHIN_S, "generation 1 retired after the task")
    old_a: Any = first.connectors["a"]
    assert seen == [first] and still_held == 1 and generations.current is second
    assert not old_a.started
    await generations.close()


async def test_a_later_event_of_a_call_pins_the_calls_generation_until_it_is_retired(shared: Shared) -> None:
    """pinned(own) gives the call's generation while it is still held, and the latest once it was retired."""
    first = await build(settings_with(a=0), shared)
    generations = Generations(first)
    first.hold()  # the call's card is being built on generation 1 (its fan-out task holds it)
    second = await build(settings_with(a=1), shared, first)
    generations.replace(second)
    with generations.pinned(first) as during:  # a transfer of that call meanwhile
        pass
    with generations.pinned() as other:  # another call's event
        pass
    first.release()
    await wait_for(lambda: first.retired, WITHIN_S, "generation 1 retired")
    with generations.pinned(first) as after:
        pass
    assert during is first and other is second and after is second
    await generations.close()
