"""A ``resume_from`` past anything the broker holds for the agent (made elsewhere) is no position here.

Ids are times: an instance whose clock ran ahead while Redis was down, a
broker since replaced, or a process restarted with its clock set back, gives
a tab ids above what the broker now issues.  The socket took such an id as
its position and dropped every call message below it (answered, ended), so
the tab kept showing a taken call ringing.  On the memory and Redis brokers.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import websockets

from tests.support.agents import call_status, read_until, seen
from tests.support.service import agent_socket, api, event_body, make, post_event, running, token_for

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


UNREADABLE = ["abc", "*", "-", "+", "-1-0", "1-0\u0000", "9" * 5000 + "-0"]


@pytest.mark.parametrize(
    "resume_from", UNREADABLE, ids=["word", "star", "dash", "plus", "negative", "nul", "huge"]
)
async def test_an_unreadable_resume_id_is_never_given_back_as_the_position(
    store_url: str, broker_url: str, resume_from: str
) -> None:
    """The welcome's event_id is where the tab stands: junk sent as resume_from was echoed there.

    The widget keeps the welcome's id and resumes from it after the next
    drop, so the junk came back on every reconnect (``recovered: false``
    each time, and a full refetch of ``/api/calls``).
    """
    settings = make(store_url, broker={"url": broker_url})
    async with running(settings) as base:
        async with agent_socket(base, settings, "agent-2", resume_from=resume_from) as junk:
            assert junk.welcome["recovered"] is False
            position = junk.welcome["event_id"]
            assert re.fullmatch(r"[0-9]+-[0-9]+", position), position
        await post_event(base, event_body("c-junk", queue="support"))
        async with agent_socket(base, settings, "agent-2", resume_from=position) as back:
            assert back.welcome["recovered"] is True
            await back.card_until_complete("c-junk")


@pytest.mark.parametrize("resume_from", [1796448721240, {"id": "1-0"}, ["1-0"], True])
async def test_a_resume_id_that_is_not_text_says_not_recovered(
    store_url: str, broker_url: str, resume_from: object
) -> None:
    """SPEC 5: where resume_from was given, the welcome says whether all was recovered.

    A client that kept the id as a number (or wrapped it) gave one, and got a
    welcome without ``recovered``: it could not tell that it must refetch.
    """
    settings = make(store_url, broker={"url": broker_url})
    async with running(settings) as base:
        url = base.replace("http://", "ws://") + "/ws"
        async with websockets.connect(url) as ws:
            token = token_for(settings, "agent-2")
            await ws.send(json.dumps({"type": "hello", "token": token, "resume_from": resume_from}))
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert welcome["type"] == "welcome"
    assert welcome["recovered"] is False
    assert re.fullmatch(r"[0-9]+-[0-9]+", welcome["event_id"])


async def test_the_last_possible_id_as_resume_from_leaves_redis_up(store_url: str, redis_url: str) -> None:
    """Redis refused the replay's range after its last possible id, and that counted as Redis down.

    Any agent's hello could make the instance answer 503 on /readyz (a
    load balancer takes it out) and send its cards through the local
    fallback, once per hello.
    """
    settings = make(store_url, broker={"url": redis_url})
    last = "18446744073709551615-18446744073709551615"
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-2", resume_from=last) as agent,
    ):
        assert agent.welcome["recovered"] is False
        status, report = await api(base, "GET", "/readyz")
        assert (status, report["broker"]) == (200, "ok")
        await post_event(base, event_body("c-last", queue="support"))
        await agent.card_until_complete("c-last")


@pytest.mark.parametrize("resume_from", ["abc", "18446744073709551616-0"], ids=["word", "past-the-last-id"])
async def test_a_resume_id_no_broker_could_issue_gets_the_window_again(
    store_url: str, broker_url: str, resume_from: str
) -> None:
    """Both brokers send every message still in the window for an id that is no position.

    The memory broker read ``2^64-0`` as a position past everything and sent
    nothing, where Redis sent the window: the same tab recovered differently
    on one instance and on several.
    """
    settings = make(store_url, broker={"url": broker_url})
    async with running(settings) as base:
        async with agent_socket(base, settings, "agent-2") as first:
            await post_event(base, event_body("c-window", queue="support"))
            await first.card_until_complete("c-window")
        async with agent_socket(base, settings, "agent-2", resume_from=resume_from) as back:
            assert back.welcome["recovered"] is False
            frames = await back.card_until_complete("c-window")
    assert frames[0]["version"] == 1


@pytest.mark.parametrize("resume_from", ["0-0", "1-0"], ids=["zero", "before-the-window"])
async def test_a_resume_id_older_than_the_broker_is_not_handed_back(
    store_url: str, broker_url: str, resume_from: str
) -> None:
    """A welcome for "0-0" or an id before the window names the broker's latest id, not the client's.

    It handed the client's id back as ``event_id``: the widget resumed from
    it after the next drop and got ``recovered: false`` (and the whole window
    again) on every reconnect, though nothing had been missed since.
    """
    settings = make(store_url, broker={"url": broker_url})
    async with running(settings) as base:
        async with agent_socket(base, settings, "agent-2") as first:
            await post_event(base, event_body("c-old", queue="support"))
            last = (await first.card_until_complete("c-old"))[-1]["event_id"]
        async with agent_socket(base, settings, "agent-2", resume_from=resume_from) as old:
            assert old.welcome["recovered"] is False
            assert old.welcome["event_id"] == last
            await old.card_until_complete("c-old")
        async with agent_socket(base, settings, "agent-2", resume_from=last) as back:
            assert back.welcome["recovered"] is True
            assert back.welcome["event_id"] == last
