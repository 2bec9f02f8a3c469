"""A ``resume_from`` past anything the broker holds for the agent (made elsewhere) is no position here.

Ids are times: an instance whose clock ran ahead while Redis was down, a
broker since replaced, or a process restarted with its clock set back, gives
a tab ids above what the broker now issues.  The socket took such an id as
its position and dropped every call message below it (answered, ended), so
the tab kept showing a taken call ringing.  On the memory and Redis brokers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agents import call_status, read_until, seen
from tests.support.service import agent_socket, event_body, make, post_event, running

FAR_AHEAD = "99999999999999-0"  # year 5138: an id no broker here has reached


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def test_a_resume_id_ahead_of_the_broker_still_gets_every_call_message(
    store_url: str, broker_url: str
) -> None:
    """Resumed from an id ahead of the broker: recovered false, and the answer and end of a call arrive."""
    settings = make(store_url, broker={"url": broker_url})
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-2", resume_from=FAR_AHEAD) as agent,
    ):
        assert agent.welcome["recovered"] is False
        assert agent.welcome["event_id"] != FAR_AHEAD
        await post_event(base, event_body("c-ahead", queue="support"))
        await post_event(base, event_body("c-ahead", "answered", agent="agent-1"))
        await post_event(base, event_body("c-ahead", "ended"))
        await read_until(agent, call_status("c-ahead", "ended"))
    assert seen(agent)[1] == [("c-ahead", "answered", "agent-1"), ("c-ahead", "ended", None)]
