"""The call lifecycle over loopback: what a reader may see of a call, whose call a note is, free dispositions.

Each test runs the real application (``tests/service_helpers.running``) with
real agent websockets and signed webhooks; the store is SQLite in the test's
temporary directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from screenpop.auth import mint_token
from tests.service_helpers import agent_socket, api, event_body, make, post_event, running


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def test_without_configured_dispositions_any_short_text_is_a_disposition(store_url: str) -> None:
    """With no `card.dispositions`, a note's disposition is free text of 1-64 characters (SPEC release 2)."""
    settings = make(store_url)
    token = mint_token(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        assert agent.welcome["dispositions"] is None
        await post_event(base, event_body("c-free", agent="agent-1"))
        await agent.card_until_complete("c-free")
        note = {"disposition": "payment-promised", "notes": "pays Friday"}
        status, saved = await api(base, "POST", "/api/calls/c-free/notes", token, json=note)
        assert (status, saved["disposition"]) == (201, "payment-promised"), saved
        status, refused = await api(base, "POST", "/api/calls/c-free/notes", token, json={"disposition": ""})
        assert (status, refused["error"]["code"]) == (400, "bad_request")


async def test_configured_dispositions_are_the_only_ones_accepted(store_url: str) -> None:
    """With `card.dispositions` set, a note's disposition must be one of them."""
    settings = make(store_url, card={"deadline_ms": 1000, "dispositions": ["resolved"]})
    token = mint_token(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        assert agent.welcome["dispositions"] == ["resolved"]
        await post_event(base, event_body("c-list", agent="agent-1"))
        await agent.card_until_complete("c-list")
        path = "/api/calls/c-list/notes"
        status, refused = await api(base, "POST", path, token, json={"disposition": "payment-promised"})
        assert (status, refused["error"]["code"]) == (400, "bad_request")
        assert "resolved" in refused["error"]["message"]
        status, saved = await api(base, "POST", path, token, json={"disposition": "resolved"})
        assert status == 201, json.dumps(saved)
