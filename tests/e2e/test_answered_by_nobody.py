"""An ``answered`` that names no agent (Telnyx never names one) and the agents who hold the card.

Every widget took such an answer as its own: with a call ringing one agent
that was right, and the server's records still said nobody answered it
(``/api/calls``, the history's agent, the sinks).  With a call ringing a
queue, every agent's tab said "On call".  The server now names the agent
when the card was with exactly one; otherwise the answer names nobody, and
the widget shows it as answered without claiming it (tests/widget).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agents import call_status, read_until, seen
from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def test_an_answer_naming_nobody_names_the_one_agent_who_had_the_card(store_url: str) -> None:
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-one", agent="agent-1"))
        await agent.card_until_complete("c-one")
        await post_event(base, event_body("c-one", "answered"))
        await read_until(agent, call_status("c-one", "answered"))
        assert seen(agent, "c-one")[1] == [("c-one", "answered", "agent-1")]
        status, listed = await api(base, "GET", "/api/calls", token_for(settings, "agent-1"))
    assert status == 200
    (call,) = [c for c in listed["calls"] if c["call_id"] == "c-one"]
    assert call["answered_by"] == "agent-1"


async def test_an_answer_naming_nobody_names_nobody_when_a_queue_had_the_card(store_url: str) -> None:
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as first,
        agent_socket(base, settings, "agent-2") as second,
    ):
        await post_event(base, event_body("c-queue", queue="support"))
        for agent in (first, second):
            await agent.card_until_complete("c-queue")
        await post_event(base, event_body("c-queue", "answered"))
        for agent in (first, second):
            await read_until(agent, call_status("c-queue", "answered"))
            assert seen(agent, "c-queue")[1] == [("c-queue", "answered", None)]
