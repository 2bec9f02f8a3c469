"""A call holds at most 50 attributes however they arrive: at the ring or in mid-call updates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


async def test_an_update_that_would_pass_50_attributes_is_400_and_changes_nothing(store_url: str) -> None:
    """40 at the ring, then 10 new keys is fine; one more new key is a 400 and no new card version.

    Each update was checked alone, so a call grew by 50 keys per POST without
    bound, and every recipient got the whole card again each time.
    """
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    path = "/api/calls/c-attr/attributes"
    ringing = {f"r{i}": i for i in range(40)}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-attr", agent="agent-1", attributes=ringing))
        await agent.card_until_complete("c-attr")
        ten_new = {f"u{i}": i for i in range(10)} | {"r0": 7}  # r0 is held already: not a new key
        fits = await api(base, "POST", path, token, json={"attributes": ten_new})
        full = (await agent.card_until_complete("c-attr"))[-1]
        over = await api(base, "POST", path, token, json={"attributes": {"r1": 8, "one_more": 1}})
        assert await agent.silent_for(0.3)
        again = await api(base, "POST", path, token, json={"attributes": {"r1": 9}})
    assert fits[0] == 200 and len(full["card"]["attributes"]) == 50, fits
    assert (over[0], over[1]["error"]["code"]) == (400, "bad_request"), over
    assert "50" in over[1]["error"]["message"]
    assert again[0] == 200 and again[1]["version"] == full["version"] + 1, json.dumps(again)
