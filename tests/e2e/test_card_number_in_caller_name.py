"""A card number a phone system puts in the caller's name is masked before it pops, is stored or listed."""

from __future__ import annotations

from typing import Any

from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for

TYPED = "IVR 4111  1111  1111  1111"
SHOWN = "IVR ****  ****  ****  1111"


async def test_a_card_number_in_the_caller_name_shows_only_its_last_four(pg_url: str) -> None:
    """Every card frame and ``/api/calls`` (the stored call row) hold the caller name masked to the last four.

    An IVR that writes what the caller keyed into the display name put a
    full card number on every agent's screen and into the store's call row.
    """
    settings = make(pg_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, _ = await post_event(base, event_body("c-pan", agent="agent-1", caller_name=TYPED))
        frames: list[dict[str, Any]] = await agent.card_until_complete("c-pan")
        _, listed = await api(base, "GET", "/api/calls", token)
    assert status == 202
    assert {frame["card"]["caller"]["name"] for frame in frames} == {SHOWN}
    [call] = [c for c in listed["calls"] if c["call_id"] == "c-pan"]
    assert call["caller"]["name"] == SHOWN
