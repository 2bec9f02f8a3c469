"""What a 404 or 403 quotes of what the client sent: the start of it, never all of it."""

from __future__ import annotations

from pathlib import Path

from tests.support.service import api, event_body, make, post_event, running
from tests.support.tokens import token_for

HUGE_ID = "c-" + "9" * 6000  # fits aiohttp's request line, and is no call
LONGEST_QUOTE = 120


async def test_a_huge_call_id_is_quoted_clipped_in_every_call_endpoint(tmp_path: Path) -> None:
    """Notes and attributes for an unknown 6,000-character id: a 404 quoting its start (feedback: 400)."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    async with running(settings) as base:
        token = token_for(settings, "agent-1")
        bodies = {
            "notes": {"disposition": "resolved"},
            "attributes": {"attributes": {"account_id": "A-1"}},
            "feedback": {"section": "accounting", "product": "SKU-1", "outcome": "accepted"},
        }
        answers = {
            path: await api(base, "POST", f"/api/calls/{HUGE_ID}/{path}", token, json=body)
            for path, body in bodies.items()
        }
    expected = {"notes": 404, "attributes": 404, "feedback": 400}  # feedback checks the id's length first
    for path, (status, reply) in answers.items():
        assert status == expected[path], (path, reply)
        message = reply["error"]["message"]
        assert len(message) <= LONGEST_QUOTE, (path, len(message))
        assert "c-999" in message or "call_id" in message, (path, message)


async def test_a_call_received_by_someone_else_is_refused_quoting_a_clipped_id(tmp_path: Path) -> None:
    """A 403 for a call the agent never received names the call by the start of its id only."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    long_id = "c-" + "7" * 250  # as long as a provider may send (255)
    async with running(settings) as base:
        assert (await post_event(base, event_body(long_id, agent="agent-1")))[0] == 202
        token = token_for(settings, "agent-2")
        body = {"attributes": {"account_id": "A-1"}}
        status, reply = await api(base, "POST", f"/api/calls/{long_id}/attributes", token, json=body)
        if status == 503:  # the card is not kept yet; the store's answer comes with the next try
            status, reply = await api(base, "POST", f"/api/calls/{long_id}/attributes", token, json=body)
    assert (status, reply["error"]["code"]) == (403, "forbidden")
    assert len(reply["error"]["message"]) <= LONGEST_QUOTE


async def test_a_widget_file_that_does_not_exist_is_quoted_clipped(tmp_path: Path) -> None:
    """`/widget/<4,000 characters>.js` is a 404 whose message quotes the start of the name."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    async with running(settings) as base:
        status, reply = await api(base, "GET", "/widget/" + "x" * 4000 + ".js")
    assert (status, reply["error"]["code"]) == (404, "not_found")
    assert len(reply["error"]["message"]) <= LONGEST_QUOTE
