"""A NUL character in a webhook's text is refused before the pop: PostgreSQL cannot store it."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for

FIELDS = ["caller_name", "from", "to", "queue", "agent", "forwarded_from"]


@pytest.mark.parametrize("field", FIELDS)
async def test_a_nul_in_a_text_field_is_400_and_the_clean_retry_is_recorded(
    pg_url: str, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``x\\u0000y`` in any text field is a 400 naming it; the sender's fixed retry pops and is listed.

    It was a 202 and a pop, then a call record PostgreSQL refused: the call
    was missing from ``/api/calls`` and its notes answered 404.
    """
    settings = make(pg_url)
    token = token_for(settings, "agent-1")
    hostile = {"agent": "agent-1", field: "x\x00y"}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, reply = await post_event(base, event_body("c-nul", **hostile))
        assert (status, reply["error"]["code"]) == (400, "bad_request"), reply
        assert f"`{field}`" in reply["error"]["message"] and "\x00" not in reply["error"]["message"]
        assert await agent.silent_for(0.3)
        status, _ = await post_event(base, event_body("c-nul", agent="agent-1"))
        assert status == 202
        await agent.card_until_complete("c-nul")
        status, saved = await api(base, "POST", "/api/calls/c-nul/notes", token, json={"notes": "kept"})
    assert status == 201, saved
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], json.dumps(errors)
