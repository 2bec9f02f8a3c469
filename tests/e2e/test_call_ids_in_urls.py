"""Every call id a webhook accepts can be named in the API's URLs (percent-encoded as clients do)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


IDS = ["{c-1}", "c}{1", "a/b", "50%", "q?x#y", "with space", "ünï"]


@pytest.mark.parametrize("call_id", IDS)
async def test_notes_attributes_and_feedback_reach_any_call_id(store_url: str, call_id: str) -> None:
    """A popped call whose id holds braces, a slash or URL delimiters takes a note, attributes and feedback.

    Braces were accepted by the webhook but refused by the router's default
    pattern: the card popped and every note on it answered 404.
    """
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    path = f"/api/calls/{quote(call_id, safe='')}"
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, accepted = await post_event(base, event_body(call_id, agent="agent-1"))
        assert (status, accepted["call_id"]) == (202, call_id)
        await agent.card_until_complete(call_id)
        note = await api(base, "POST", f"{path}/notes", token, json={"disposition": "resolved", "notes": "x"})
        attrs = await api(base, "POST", f"{path}/attributes", token, json={"attributes": {"acct": "1"}})
        answer = {"section": "accounting", "product": "SKU-1", "outcome": "accepted"}
        feedback = await api(base, "POST", f"{path}/feedback", token, json=answer)
    assert (note[0], note[1]["call_id"]) == (201, call_id), note
    assert (attrs[0], attrs[1]["call_id"]) == (200, call_id), attrs
    assert (feedback[0], feedback[1]["call_id"]) == (201, call_id), feedback
