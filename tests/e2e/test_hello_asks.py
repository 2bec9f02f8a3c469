"""What a hello gets beyond SPEC 5 only when it asks: the calls still ringing for it (``live_calls``).

The widget asks, so that a tab reloaded while a call rings keeps its card.
A client written to SPEC 5 alone does not, and its first message after a
welcome without ``resume_from`` is the next one published: a ringing call's
card arriving unasked there read as that next message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.service import agent_socket, event_body, make, post_event, running


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


@pytest.mark.parametrize("asks", [None, {"live_calls": False}])
async def test_a_hello_that_does_not_ask_gets_only_what_is_published_after_it(
    tmp_path: Path, broker_url: str, asks: dict[str, bool] | None
) -> None:
    """c-1 still rings for agent-1; a plain hello's first message is c-2's card, published after it."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db", broker={"url": broker_url})
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as earlier:
        assert (await post_event(base, event_body("c-1", agent="agent-1")))[0] == 202
        await earlier.card_until_complete("c-1")  # no version of c-1 is published after the hello below
        async with agent_socket(base, settings, "agent-1", asks=asks) as agent:
            assert "recovered" not in agent.welcome
            assert (await post_event(base, event_body("c-2", agent="agent-1")))[0] == 202
            first = await agent.next()
    assert (first["type"], first["call_id"]) == ("card", "c-2")


async def test_a_hello_that_asks_for_live_calls_gets_the_ringing_card_first(
    tmp_path: Path, broker_url: str
) -> None:
    """The widget's hello: the card of c-1, still ringing for agent-1, comes right after the welcome."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db", broker={"url": broker_url})
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as earlier:
        assert (await post_event(base, event_body("c-1", agent="agent-1")))[0] == 202
        await earlier.card_until_complete("c-1")
        async with agent_socket(base, settings, "agent-1", asks={"live_calls": True}) as agent:
            first = await agent.next()
    assert (first["type"], first["call_id"], first["complete"]) == ("card", "c-1", True)
