"""A withdrawal that arrives after the agent's newer ring, stamped before it, leaves the card up.

TaskRouter makes a new reservation for the same worker once one timed out
(a small queue), and its callbacks come out of order: the old reservation's
``timeout`` can arrive after the new one's ``created``.  It took the card
from an agent whose phone was ringing.  Requests are signed by twilio's own
``RequestValidator`` and by the SPEC's HMAC formula; memory and Redis brokers.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.config import Settings
from tests.support.agents import call_status, complete_card, read_until, seen
from tests.support.service import ADA, Agent, agent_socket, event_body, make, post_event, running
from tests.support.signers import WEBHOOK_SECRET

PUBLIC = "https://screenpop.example.com"
TOKEN = "twilio-token-for-stale-withdrawals"
TASK_CALL = "CA0123456789abcdef0123456789abcdef"


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    broker = "memory://" if request.param == "memory" else str(request.getfixturevalue("redis_url"))
    twilio = {"name": "twilio", "kind": "twilio", "auth_token": TOKEN, "agents": {"alice": "agent-1"}}
    return make(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        server={"public_url": PUBLIC, "allowed_origins": ["http://agents.example"]},
        broker={"url": broker},
        providers=[{"name": "pbx", "kind": "generic", "secret": WEBHOOK_SECRET}, twilio],
    )


async def reservation(base: str, event: str, sid: str, at: int) -> None:
    params = {
        "EventType": event,
        "Timestamp": str(at),
        "WorkerName": "alice",
        "TaskQueueName": "support",
        "ReservationSid": sid,
        "TaskAttributes": json.dumps({"from": ADA, "call_sid": TASK_CALL}),
    }
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/webhooks/twilio", params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/webhooks/twilio", data=urlencode(params), headers=headers) as reply,
    ):
        assert reply.status == 200, await reply.text()


async def fence(base: str, agent: Agent, call_id: str) -> list[tuple[str, str, str | None]]:
    """The call messages the agent got before a later call's card: what the events so far sent it."""
    await post_event(base, event_body(call_id, agent="agent-1"))
    await read_until(agent, complete_card(call_id))
    return seen(agent)[1]


async def test_an_old_reservation_timing_out_late_leaves_the_new_ring(settings: Settings) -> None:
    """created WR1, created WR2 (same worker), then WR1's timeout: the card stays; WR2's timeout takes it."""
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await reservation(base, "reservation.created", "WR1", 1_800_000_000)
        await read_until(agent, complete_card(TASK_CALL))
        await reservation(base, "reservation.created", "WR2", 1_800_000_020)
        await reservation(base, "reservation.created", "WR0", 1_799_999_990)  # an older ring, late too
        await reservation(base, "reservation.timeout", "WR1", 1_800_000_019)
        assert await fence(base, agent, "c-fence") == []
        await reservation(base, "reservation.timeout", "WR2", 1_800_000_040)
        await read_until(agent, call_status(TASK_CALL, "withdrawn"))
    assert seen(agent, TASK_CALL)[1] == [(TASK_CALL, "withdrawn", "agent-1")]


async def test_a_generic_withdrawal_stamped_before_a_newer_ring_changes_nothing(settings: Settings) -> None:
    """ring at :00, ring again at :30, then a withdrawal stamped :20: ignored; one stamped :40 withdraws."""
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-stale", agent="agent-1", at="2026-12-05T01:00:00Z"))
        await read_until(agent, complete_card("c-stale"))
        await post_event(base, event_body("c-stale", agent="agent-1", at="2026-12-05T01:00:30Z"))
        await post_event(base, event_body("c-stale", "withdrawn", agent="agent-1", at="2026-12-05T01:00:20Z"))
        assert await fence(base, agent, "c-fence") == []
        await post_event(base, event_body("c-stale", "withdrawn", agent="agent-1", at="2026-12-05T01:00:40Z"))
        await read_until(agent, call_status("c-stale", "withdrawn"))
    assert seen(agent, "c-stale")[1] == [("c-stale", "withdrawn", "agent-1")]


async def test_a_late_withdrawal_leaves_a_card_transferred_to_the_agent_since(settings: Settings) -> None:
    """Rung :00, answered by another, transferred to the agent at 1:00: a withdrawal stamped :05 is stale."""
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-moved", queue="support", at="2026-12-05T01:00:00Z"))
        await read_until(agent, complete_card("c-moved"))
        await post_event(base, event_body("c-moved", "answered", agent="agent-2", at="2026-12-05T01:00:05Z"))
        moved = event_body(
            "c-moved", "transferred", agent="agent-1", from_agent="agent-2", at="2026-12-05T01:01:00Z"
        )
        await post_event(base, moved)
        await post_event(base, event_body("c-moved", "withdrawn", agent="agent-1", at="2026-12-05T01:00:05Z"))
        assert await fence(base, agent, "c-fence") == [("c-moved", "answered", "agent-2")]
