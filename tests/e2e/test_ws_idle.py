"""What an idle agent socket keeps on the server: no task of its own, and a 101 with nothing to spare."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import agent_socket, event_body, make, post_event, running
from tests.support.waiting import wait_for

WITHIN_S = 5.0  # a bound on waiting for an event, never an assertion about speed


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def senders() -> list[asyncio.Task[object]]:
    """The tasks of the hub's sockets now running (a sender per socket that has frames waiting)."""
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").startswith("AgentSocket.")
    ]


async def test_a_sender_runs_only_while_frames_wait(store_url: str) -> None:
    """A welcomed idle socket has no sender task; cards still arrive, and the sender ends after each burst."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as idle,
    ):
        assert senders() == []
        for call_id in ("c-1", "c-2"):  # the second burst needs a new sender: the first one has ended
            await post_event(base, event_body(call_id, agent="agent-1"))
            frames = await one.card_until_complete(call_id)
            assert [f["version"] for f in frames] == list(range(1, len(frames) + 1))
            await wait_for(lambda: not senders(), WITHIN_S, "the sender ending once its frames are out")
        assert await idle.silent_for(0.2)


async def test_a_reading_agent_gets_its_cards_without_any_sender_task(store_url: str) -> None:
    """Frames to a socket that keeps up are written from the publisher's call: no task is made for them."""
    loop = asyncio.get_running_loop()
    made: list[str] = []
    default = loop.get_task_factory()

    def recording(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        made.append(getattr(coro, "__qualname__", ""))
        if default is not None:
            return default(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as one:
        loop.set_task_factory(recording)
        try:
            for call_id in ("c-1", "c-2"):
                await post_event(base, event_body(call_id, agent="agent-1"))
                await one.card_until_complete(call_id)
        finally:
            loop.set_task_factory(default)
    assert made, "the calls made their tasks (fan-out, records) through the recording factory"
    assert [name for name in made if name.startswith("AgentSocket.")] == []


async def test_two_tabs_of_one_agent_get_the_same_frames(store_url: str) -> None:
    """A body encoded once for a publish reaches every socket of the agent, byte for byte the same."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as tab1,
        agent_socket(base, settings, "agent-1") as tab2,
    ):
        await post_event(base, event_body("c-t", agent="agent-1"))
        await tab1.card_until_complete("c-t")
        await tab2.card_until_complete("c-t")
    assert tab1.raw[1:] == tab2.raw[1:]  # after each tab's own welcome


async def test_the_101_names_only_screenpop(store_url: str) -> None:
    """The upgrade answer says ``Server: screenpop`` and no aiohttp or Python version, like every answer."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        headers = agent.ws.response.headers
    assert headers["Server"] == "screenpop"
    assert "aiohttp" not in str(headers).lower()
