"""An integer a browser cannot hold exactly (beyond ±2^53 - 1) reaches a client as its digits in text.

``JSON.parse`` rounds 12345678901234567891 to 12345678901234567000 and
reads a 400-digit integer as ``Infinity``: a database's BIGINT account id or
a CRM's 19-digit record number would be shown wrong, silently.  Through the
real app on loopback, the agent's card frame and ``/api/lookup``.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.service import ADA, SCRIPTED, agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for

BIG = 12345678901234567891
LARGEST = 2**53 - 1


async def test_a_sources_big_integer_is_sent_as_its_digits(tmp_path: Path) -> None:
    """A connector's 20-digit integer is its digits in the card and the lookup; 2^53 - 1 stays a number."""
    row = {"account": BIG, "negative": -BIG, "largest": LARGEST, "huge": 10**400}
    connectors = [{"name": "ledger", "kind": SCRIPTED, "delay_ms": 5, "rows": {ADA: row}}]
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=connectors, roles={})
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        assert (await post_event(base, event_body("c-big", agent="agent-1")))[0] == 202
        card = (await agent.card_until_complete("c-big"))[-1]["card"]
        token = token_for(settings, "agent-3")  # the supervisor: may look up
        status, looked_up = await api(base, "GET", "/api/lookup?number=%2B14155550132", token)
    assert status == 200, looked_up
    expected = {"account": str(BIG), "negative": str(-BIG), "largest": LARGEST, "huge": str(10**400)}
    assert card["sections"]["ledger"]["data"] == expected
    assert looked_up["sections"]["ledger"]["data"] == expected
