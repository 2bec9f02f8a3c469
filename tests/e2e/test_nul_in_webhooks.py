"""A NUL character in a webhook's text does not cost the call its record: PostgreSQL cannot store one."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for

FIELDS = ["caller_name", "from", "to", "queue", "agent"]


@pytest.mark.parametrize("field", FIELDS)
async def test_a_nul_in_a_text_field_pops_and_the_call_is_recorded_without_it(
    pg_url: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``x\\u0000y`` in a text field pops the card; the call is listed (the NUL dropped) and takes a note.

    The card popped, then PostgreSQL refused the call record behind the 202:
    the call was missing from ``/api/calls`` and every note on it was a 404.
    """
    settings = make(pg_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        routed = {"agent": "agent-1"} if field == "queue" else {"queue": "support"}  # a bad agent: unrouted
        status, _ = await post_event(base, event_body("c-nul", **{**routed, field: "x\x00y"}))
        assert status == 202
        await agent.card_until_complete("c-nul")
        status, saved = await api(base, "POST", "/api/calls/c-nul/notes", token, json={"notes": "kept"})
        _, listed = await api(base, "GET", "/api/calls", token)
    assert status == 201, saved
    [call] = [c for c in listed["calls"] if c["call_id"] == "c-nul"]
    shown = {"caller_name": call["caller"]["name"], "from": call["caller"]["raw"], "to": call["to"]}
    assert shown.get(field, "xy") == "xy" and (field != "queue" or call["queue"] == "xy")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], json.dumps(errors)


async def test_a_call_id_with_a_nul_is_refused_by_every_kind(pg_url: str) -> None:
    """An id cannot drop a character as a name can: a NUL in it is a 400 before anything pops."""
    settings = make(pg_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, reply = await post_event(base, event_body("c-\x00-1", agent="agent-1"))
        assert await agent.silent_for(0.3)
    assert (status, reply["error"]["code"]) == (400, "bad_request") and "call_id" in reply["error"]["message"]
