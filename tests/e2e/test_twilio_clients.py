"""A call from one Twilio Voice SDK client to another (``From=client:alice``), through the real app.

Requests are signed with twilio's own ``RequestValidator`` over
``server.public_url``, as Twilio signs them.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.config import settings_from_mapping
from tests.support.agents import agents
from tests.support.service import base_config, running

PUBLIC = "https://screenpop.example.com"
TOKEN = "twilio-auth-token-for-clients"


async def post_twilio(base: str, params: dict[str, str]) -> int:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + "/webhooks/twilio", params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + "/webhooks/twilio", data=urlencode(params), headers=headers) as reply,
    ):
        return reply.status


async def test_a_client_calling_a_client_is_named_on_the_card(tmp_path: Path) -> None:
    """alice's app rings bob (<Dial><Client>): bob's card names alice as the caller, and no connector runs."""
    config = base_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        server={"public_url": PUBLIC, "allowed_origins": ["http://agents.example"]},
        providers=[{"name": "twilio", "kind": "twilio", "auth_token": TOKEN, "agents": {"bob": "agent-2"}}],
    )
    settings = settings_from_mapping(config, source="<test>", environ={})
    leg = {
        "AccountSid": "AC0",
        "CallSid": "CA-leg-bob",
        "ParentCallSid": "CA-from-alice",
        "From": "client:alice",
        "To": "client:bob",
        "CallStatus": "ringing",
        "Direction": "outbound-dial",
    }
    async with running(settings) as base, agents(base, settings, "agent-2") as socks:
        assert await post_twilio(base, leg) == 200  # an empty <Response/>, which Twilio accepts
        card = (await socks["agent-2"].card_until_complete("CA-from-alice"))[-1]["card"]
    caller = card["caller"]
    assert (caller["name"], caller["raw"], caller["e164"]) == ("alice", "client:alice", None)
    assert {s["status"] for s in card["sections"].values()} == {"skipped"}


async def test_an_agent_dialling_another_client_gets_a_card_named_after_it(tmp_path: Path) -> None:
    """alice's own call to client:bob (no ParentCallSid) pops alice's outbound card, named bob."""
    config = base_config(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        server={"public_url": PUBLIC, "allowed_origins": ["http://agents.example"]},
        providers=[{"name": "twilio", "kind": "twilio", "auth_token": TOKEN, "agents": {"alice": "agent-1"}}],
    )
    settings = settings_from_mapping(config, source="<test>", environ={})
    call = {"AccountSid": "AC0", "CallSid": "CA-alice-out", "From": "client:alice", "To": "client:bob"}
    async with running(settings) as base, agents(base, settings, "agent-1") as socks:
        assert await post_twilio(base, {**call, "CallStatus": "ringing", "Direction": "inbound"}) == 200
        card = (await socks["agent-1"].card_until_complete("CA-alice-out"))[-1]["card"]
    assert (card["direction"], card["caller"]["name"], card["caller"]["raw"]) == (
        "outbound",
        "bob",
        "client:bob",
    )
