"""Notes waiting for a sink that a restart no longer configures stay visible to IT.

SPEC 3 keeps every note until its sink took it, and docs/sinks.md lists a
removed sink's waiting entries in ``/readyz`` as ``not configured``.  After
a restart with the sink taken out of the config, ``/readyz`` and
``/metrics`` said nothing of them: the backlog was read only by a delivery
worker, which does not run without sinks.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.sinks import http_sink, sink_server
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


async def test_a_restart_without_the_sink_lists_its_waiting_notes(tmp_path: Path) -> None:
    """A note the sink never took is listed as ``not configured`` and counted pending after the restart."""
    url = f"sqlite+aiosqlite:///{tmp_path}/screenpop.db"
    async with sink_server() as server:
        server.mode = "down"
        settings = make(url, sinks=[http_sink("crm_webhook", server.url)])
        token = token_for(settings, "agent-1")
        async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
            await post_event(base, event_body("c-r", agent="agent-1"))
            await agent.card_until_complete("c-r")
            status, _ = await api(base, "POST", "/api/calls/c-r/notes", token, json={"notes": "call back"})
            assert status == 201
            await wait_for(lambda: server.attempts, 10, "a failed attempt")
    async with running(make(url)) as base:
        _, ready = await api(base, "GET", "/readyz")
        _, page = await api(base, "GET", "/metrics")
    assert ready["sinks"] == {"crm_webhook": "not configured: 1 entries wait for it"}
    assert 'screenpop_sink_pending{sink="crm_webhook"} 1.0' in page
