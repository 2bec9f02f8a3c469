"""Every phone-system kind through the real app on loopback, signed by code that is not screenpop's.

Twilio requests are signed with twilio's own ``RequestValidator``, Telnyx
requests with a PyNaCl key pair, generic and Amazon Connect requests with
``hmac`` as SPEC section 4 states the scheme, and Asterisk speaks through a
local asyncio AMI server.  ``server.public_url`` is the URL the phone
systems are told to call (``https://screenpop.example.com``) while the
tests post to the loopback port, exactly as a reverse proxy forwards them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from nacl.signing import SigningKey
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.config import Settings, settings_from_mapping
from tests.support.agents import (
    agents,
    assert_one_card,
    call_status,
    complete_card,
    has_had,
    read_until,
    seen,
)
from tests.support.ami import CALLER, QUEUE_CALL, SECRET, USERNAME, FakeAmi, member, wait_link_state
from tests.support.service import Agent, api, base_config, running
from tests.support.signers import sign, telnyx_headers
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

PUBLIC = "https://screenpop.example.com"
ORIGIN = "http://agents.example"
TWILIO_TOKEN = "twilio-auth-token-for-e2e"
PBX_SECRET = "pbx-webhook-secret"
CONNECT_SECRET = "connect-lambda-secret"
CONNECT_KEY = "eventbridge-api-key"
TELNYX_KEY = SigningKey(bytes(range(32)))
ARN = "arn:aws:connect:us-east-1:111122223333:instance/i-1/agent/"

LIVE_MS = 300  # how long a life-cycle test's card stays in the making
Hook = tuple[str, bytes, dict[str, str]]  # path, body, headers


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def settings_for(store_url: str, ami_port: int = 0, card_ms: int = 0) -> Settings:
    """Agents 1 and 2 in queue support, agent 3 in PasswordReset; one provider block per kind.

    ``card_ms`` slows the credit connector so that a card stays in the making
    that long: a second leg's ringing then joins the live card, whatever the
    machine's load (a leg ringing after the card is complete is another test).
    """
    providers: list[dict[str, Any]] = [
        {"name": "pbx", "kind": "generic", "secret": PBX_SECRET},
        {"name": "twilio", "kind": "twilio", "auth_token": TWILIO_TOKEN, "agents": CLIENTS},
        {"name": "telnyx", "kind": "telnyx", "public_key": telnyx_public_key()},
        {"name": "connect", "kind": "amazon_connect", "secret": CONNECT_SECRET, "agents": ARNS},
        {
            "name": "connect_events",
            "kind": "amazon_connect",
            "secret": CONNECT_KEY,
            "header": {"name": "X-Api-Key"},
            "agents": ARNS,
        },
    ]
    if ami_port:
        providers.append(
            {
                "name": "asterisk",
                "kind": "asterisk_ami",
                "host": "127.0.0.1",
                "port": ami_port,
                "username": USERNAME,
                "secret": SECRET,
                "agents": {"PJSIP/1001": "agent-1", "Bob": "agent-2"},
            }
        )
    config = base_config(
        store_url,
        server={"public_url": PUBLIC, "allowed_origins": [ORIGIN]},
        providers=providers,
    )
    config["agents"]["directory"][2]["queues"] = ["sales", "PasswordReset"]
    if card_ms:
        config["connectors"][1]["delay_ms"] = card_ms
    return settings_from_mapping(config, source="<test>", environ={})


CLIENTS = {"alice": "agent-1", "bob": "agent-2", "carol": "agent-3"}
ARNS = {ARN + "a1": "agent-1", ARN + "a2": "agent-2"}


# --- independent signers -------------------------------------------------------------------


def generic(body: dict[str, Any], at: int | None = None, secret: str = PBX_SECRET) -> Hook:
    raw = json.dumps(body).encode()
    return (
        "/webhooks/pbx",
        raw,
        {"Content-Type": "application/json", "Screenpop-Signature": sign(raw, secret, at)},
    )


def twilio(
    params: dict[str, str],
    path: str = "/webhooks/twilio",
    signed_url: str | None = None,
    token: str = TWILIO_TOKEN,
) -> Hook:
    """A form POST signed by twilio's RequestValidator over the URL Twilio was told to call."""
    signature = RequestValidator(token).compute_signature(signed_url or PUBLIC + path, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return path, urlencode(params).encode(), headers


def telnyx_public_key() -> str:
    return base64.b64encode(bytes(TELNYX_KEY.verify_key)).decode()


def telnyx(body: dict[str, Any], at: int | None = None, key: SigningKey = TELNYX_KEY) -> Hook:
    """Ed25519 over ``"{timestamp}|{body}"``, as Telnyx signs with its private key.

    Signed as the telnyx-python SDK's own webhook tests sign (``tests/test_webhook.py``: PyNaCl,
    ``timestamp + b"|" + payload``, base64 of the detached signature); Telnyx publishes no fixed vector.
    """
    raw = json.dumps(body).encode()
    stamp = int(time.time()) if at is None else at
    headers = {"Content-Type": "application/json", **telnyx_headers(key, raw, stamp)}
    return "/webhooks/telnyx", raw, headers


def connect(body: dict[str, Any], at: int | None = None, secret: str = CONNECT_SECRET) -> Hook:
    """What the Lambda of docs/amazon-connect-lambda.md posts: the event, HMAC-signed."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    return (
        "/webhooks/connect",
        raw,
        {"Content-Type": "application/json", "Screenpop-Signature": sign(raw, secret, at)},
    )


def api_destination(body: dict[str, Any], key: str | None = CONNECT_KEY) -> Hook:
    """An EventBridge API destination with an API-key connection: a static header, no signature."""
    headers = {"Content-Type": "application/json", **({"X-Api-Key": key} if key else {})}
    return "/webhooks/connect_events", json.dumps(body).encode(), headers


async def post(base: str, hook: Hook) -> tuple[int, Any]:
    path, body, headers = hook
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + path, data=body, headers=headers) as reply,
    ):
        text = await reply.text()
        try:
            return reply.status, json.loads(text)
        except ValueError:
            return reply.status, text


async def post_all(base: str, *hooks: Hook) -> None:
    for hook in hooks:
        status, reply = await post(base, hook)
        assert status in (200, 202), reply


# --- provider payloads (shapes from /work/shared/reference/phone-systems.md) ---------------


def twilio_leg(client: str, status: str, parent: str = "CA-parent") -> dict[str, str]:
    """A <Dial><Client> child-leg status callback."""
    return {
        "AccountSid": "AC0",
        "CallSid": f"CA-{client}-{parent}",
        "ParentCallSid": parent,
        "From": "+14158675309",
        "To": f"client:{client}",
        "CallStatus": status,
        "Direction": "outbound-dial",
    }


def reservation(event: str, worker: str, call_sid: str = "CA-task") -> dict[str, str]:
    """A TaskRouter Workspace event callback about one worker's reservation of a voice task."""
    attributes = {"from": "+14158675309", "to": "+18005551212", "call_sid": call_sid}
    return {
        "EventType": event,
        "AccountSid": "AC0",
        "WorkspaceSid": "WS0",
        "ResourceType": "reservation",
        "Timestamp": str(int(time.time())),
        "TaskSid": "WT0",
        "TaskAttributes": json.dumps(attributes),
        "TaskQueueName": "support",
        "WorkerName": worker,
        "ReservationSid": f"WR-{worker}",
    }


def telnyx_event(event_type: str, call_id: str = "v3:d14dbcee", attempt: int = 1) -> dict[str, Any]:
    """The envelope of Telnyx's receiving-webhooks example."""
    return {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": f"0ccc7b54-{event_type}-{attempt}",
            "occurred_at": "2026-11-22T10:00:00.521992Z",
            "payload": {
                "call_control_id": call_id,
                "connection_id": "7267",
                "call_leg_id": "d14dbcee-leg",
                "call_session_id": "428c31b6",
                "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
                "from": "+1-202-555-0133",
                "to": "+12025550131",
                "direction": "incoming",
                "state": "parked",
            },
        },
        "meta": {"attempt": attempt, "delivered_to": f"{PUBLIC}/webhooks/telnyx"},
    }


def flow_event(contact_id: str, queue: str, number: str = "+14155550132") -> dict[str, Any]:
    """The AWS Lambda developer guide's ContactFlowEvent (its `+1234567890` is not a real number)."""
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "Parameters": {},
            "ContactData": {
                "Channel": "VOICE",
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/i-1",
                "Attributes": {},
                "CustomerEndpoint": {"Address": number, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"},
                "Queue": {
                    "ARN": "arn:aws:connect:us-east-1:111122223333:instance/i-1/queue/q",
                    "Name": queue,
                },
            },
        },
    }


def contact_event(contact_id: str, event_type: str, agent: str | None = None) -> dict[str, Any]:
    """An EventBridge `Amazon Connect Contact Event` (admin guide, contact events)."""
    detail: dict[str, Any] = {
        "eventType": event_type,
        "contactId": contact_id,
        "initialContactId": contact_id,
        "channel": "VOICE",
        "initiationMethod": "INBOUND",
        "instanceArn": "arn:aws:connect:us-east-1:111122223333:instance/i-1",
    }
    if agent:
        detail["agentInfo"] = {"agentArn": ARN + agent, "connectedToAgentTimestamp": "2026-11-22T10:00:05Z"}
    return {
        "version": "0",
        "id": f"evt-{contact_id}-{event_type}",
        "detail-type": "Amazon Connect Contact Event",
        "source": "aws.connect",
        "account": "111122223333",
        "time": "2026-11-22T10:00:05Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


# --- (a) each provider's documented example pops the card for the right agents -------------

TWILIO_REFERENCE = {  # twilio-python's request-validator example, as a ringing voice request
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "CallStatus": "ringing",
    "Direction": "inbound",
}
SPEC_GENERIC = {
    "event": "ringing",
    "call_id": "c-1001",
    "from": "+1 (415) 555-0132",
    "to": "+18005550100",
    "caller_name": "ADA L",
    "agent": "agent-1",
    "queue": "support",
    "at": "2026-11-22T10:00:00Z",
}
EXAMPLES: dict[str, tuple[Callable[[], Hook], str, str, set[str]]] = {
    # kind: (signed request, call id, e164, agents it rings; the others must stay silent)
    "generic": (lambda: generic(SPEC_GENERIC), "c-1001", "+14155550132", {"agent-1"}),
    "twilio-voice": (
        lambda: twilio(TWILIO_REFERENCE, path="/webhooks/twilio?foo=1&bar=2"),
        "CA1234567890ABCDE",
        "+14158675309",
        {"agent-1", "agent-2"},
    ),
    "twilio-dial-client": (
        lambda: twilio(twilio_leg("alice", "ringing")),
        "CA-parent",
        "+14158675309",
        {"agent-1"},
    ),
    "twilio-taskrouter": (
        lambda: twilio(reservation("reservation.created", "bob")),
        "CA-task",
        "+14158675309",
        {"agent-2"},
    ),
    "telnyx": (
        lambda: telnyx(telnyx_event("call.initiated")),
        "v3:d14dbcee",
        "+12025550133",
        {"agent-1", "agent-2"},
    ),
    "amazon_connect": (
        lambda: connect(flow_event("4a573372", "PasswordReset")),
        "4a573372",
        "+14155550132",
        {"agent-3"},
    ),
}


@pytest.mark.parametrize("kind", list(EXAMPLES))
async def test_documented_example_pops_card_for_its_agents(store_url: str, kind: str) -> None:
    """A documented ringing request, signed independently, pops the normalised card for its agents only."""
    make_hook, call_id, e164, receivers = EXAMPLES[kind]
    settings = settings_for(store_url)
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2", "agent-3") as socks:
        status, reply = await post(base, make_hook())
        assert status in (200, 202), reply
        if status == 202:
            assert reply == {"call_id": call_id, "status": "accepted"}
        else:
            assert reply.endswith("<Response/>")
        for agent_id in sorted(receivers):
            await read_until(socks[agent_id], complete_card(call_id))
            cards = assert_one_card(socks[agent_id], call_id, e164)
            assert cards[-1]["card"]["caller"]["valid"] is True
            assert cards[-1]["card"]["customer"]["name"] == (
                "Ada Lovelace" if e164 == "+14155550132" else None
            )
        assert all(await asyncio.gather(*(socks[a].silent_for(0.2) for a in set(socks) - receivers)))
    if kind == "generic":
        assert cards[0]["card"]["caller"]["name"] == "ADA L"
        assert cards[0]["card"]["caller"]["national"] == "(415) 555-0132"


# --- (b) life cycles: ring, duplicate, answer, out-of-order, hang-up ------------------------


async def ring_then(
    base: str, socks: dict[str, Agent], call_id: str, rings: list[Hook], then: list[Hook]
) -> None:
    """Post the rings, wait until every agent's card is complete, then post the rest in order."""
    await post_all(base, *rings)
    await asyncio.gather(*(read_until(a, complete_card(call_id)) for a in socks.values()))
    await post_all(base, *then)


async def finish(socks: dict[str, Agent], call_id: str, withdrawn: str | None = None) -> None:
    """Read until each agent has the call's last message, then expect silence (nothing doubled).

    The last message is ``ended``, or ``withdrawn`` for the ``withdrawn`` agent, who may or may
    not hear the ``ended`` too (see the report on phone systems): what follows is kept for asserts.
    """
    ended, gone = call_status(call_id, "ended"), call_status(call_id, "withdrawn")
    await asyncio.gather(*(has_had(a, gone if i == withdrawn else ended) for i, a in socks.items()))
    if withdrawn:
        with contextlib.suppress(TimeoutError):
            await read_until(socks[withdrawn], ended, within=0.25)
    assert all(await asyncio.gather(*(a.silent_for(0.25) for a in socks.values())))


async def test_generic_life_cycle(store_url: str) -> None:
    """Generic: a queue call, a re-signed duplicate and a ringing after the answer pop one card each."""
    settings = settings_for(store_url, card_ms=LIVE_MS)
    ring = {"event": "ringing", "call_id": "g-1", "from": "415 555 0132", "queue": "support"}
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        await ring_then(
            base,
            socks,
            "g-1",
            [generic(ring)],
            [
                generic(ring, at=int(time.time()) - 30),  # the sender's retry, signed again
                generic({"event": "answered", "call_id": "g-1", "agent": "agent-2"}),
                generic({**ring, "agent": "agent-1"}),  # a ringing delivered after the answer
                generic({"event": "ended", "call_id": "g-1"}),
            ],
        )
        await finish(socks, "g-1")
    for agent in socks.values():
        assert_one_card(agent, "g-1", "+14155550132")
        assert seen(agent)[1] == [("g-1", "answered", "agent-2"), ("g-1", "ended", None)]


async def test_twilio_dial_client_life_cycle(store_url: str) -> None:
    """<Dial><Client>: two legs ring, one answers, the other is withdrawn, a late leg pops nothing."""
    settings = settings_for(store_url, card_ms=LIVE_MS)

    def alice(status: str) -> Hook:
        return twilio(twilio_leg("alice", status))

    def bob(status: str) -> Hook:
        return twilio(twilio_leg("bob", status))

    parent_done = twilio({"CallSid": "CA-parent", "From": "+14158675309", "CallStatus": "completed"})
    async with (
        running(settings) as base,
        agents(base, settings, "agent-1", "agent-2") as socks,
        agents(base, settings, "agent-3") as late,
    ):
        await ring_then(
            base,
            socks,
            "CA-parent",
            [alice("ringing"), bob("ringing")],
            [
                alice("ringing"),  # Twilio's retry of the same callback
                bob("in-progress"),
                twilio(twilio_leg("carol", "ringing")),  # a third leg's ringing delivered after the answer
                alice("canceled"),
                bob("completed"),
                parent_done,  # the same end, from the caller's own status callback
            ],
        )
        await finish(socks, "CA-parent", withdrawn="agent-1")
        assert await late["agent-3"].silent_for(0.05)
    for agent in socks.values():
        assert_one_card(agent, "CA-parent", "+14158675309")
    assert seen(socks["agent-2"])[1] == [("CA-parent", "answered", "agent-2"), ("CA-parent", "ended", None)]
    one = seen(socks["agent-1"])[1]
    assert one[:2] == [("CA-parent", "answered", "agent-2"), ("CA-parent", "withdrawn", "agent-1")]
    assert one[2:] in ([], [("CA-parent", "ended", None)])


async def test_twilio_taskrouter_life_cycle(store_url: str) -> None:
    """TaskRouter: two reservations, a duplicate, one accepted, the other rescinded, a late one ignored."""
    settings = settings_for(store_url, card_ms=LIVE_MS)
    done = twilio({"CallSid": "CA-task", "From": "+14158675309", "CallStatus": "completed"})
    async with (
        running(settings) as base,
        agents(base, settings, "agent-1", "agent-2") as socks,
        agents(base, settings, "agent-3") as late,
    ):
        await ring_then(
            base,
            socks,
            "CA-task",
            [
                twilio(reservation("reservation.created", "alice")),
                twilio(reservation("reservation.created", "bob")),
            ],
            [
                twilio(reservation("reservation.created", "alice")),
                twilio(reservation("reservation.accepted", "bob")),
                twilio(reservation("reservation.created", "carol")),  # reordered: after the accept
                twilio(reservation("reservation.rescinded", "alice")),
                done,
            ],
        )
        await finish(socks, "CA-task", withdrawn="agent-1")
        assert await late["agent-3"].silent_for(0.05)
    for agent in socks.values():
        assert_one_card(agent, "CA-task", "+14158675309")
    assert seen(socks["agent-2"])[1] == [("CA-task", "answered", "agent-2"), ("CA-task", "ended", None)]
    one = seen(socks["agent-1"])[1]
    assert one[:2] == [("CA-task", "answered", "agent-2"), ("CA-task", "withdrawn", "agent-1")]
    assert one[2:] in ([], [("CA-task", "ended", None)])


async def test_a_withdrawal_that_overtakes_its_ring_keeps_that_ring_from_popping(store_url: str) -> None:
    """Reordered callbacks: each ring's end arrives before the ring itself; a later ring still pops.

    A TaskRouter reservation that timed out at once, and a <Dial><Client> leg
    its phone rejected, can be reported before they are reported ringing.
    The late ring is that same ring (same ReservationSid, same leg CallSid),
    over already: it pops nothing, as a ring after an answer pops nothing.
    The worker's next reservation, a new ring, pops.
    """
    settings = settings_for(store_url)
    timed_out = reservation("reservation.timeout", "alice", call_sid="CA-order")
    created = reservation("reservation.created", "alice", call_sid="CA-order")
    next_round = {**created, "ReservationSid": "WR-alice-2"}
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        await post_all(base, twilio(timed_out), twilio(created))
        await post_all(
            base,
            twilio(twilio_leg("bob", "no-answer", parent="CA-legs")),
            twilio(twilio_leg("bob", "ringing", parent="CA-legs")),
        )
        assert await socks["agent-1"].silent_for(0.3)
        assert await socks["agent-2"].silent_for(0.05)
        await post_all(base, twilio(next_round))
        await read_until(socks["agent-1"], complete_card("CA-order"))
    assert_one_card(socks["agent-1"], "CA-order", "+14158675309")
    assert seen(socks["agent-1"])[1] == []


async def test_telnyx_life_cycle(store_url: str) -> None:
    """Telnyx: a redelivered call.initiated and a call answered before its initiated pop nothing more."""
    settings = settings_for(store_url, card_ms=LIVE_MS)
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        await ring_then(
            base,
            socks,
            "v3:one",
            [telnyx(telnyx_event("call.initiated", "v3:one"))],
            [
                telnyx(telnyx_event("call.initiated", "v3:one", attempt=2)),  # Telnyx's retry
                telnyx(telnyx_event("call.answered", "v3:two")),  # another call, out of order
                telnyx(telnyx_event("call.initiated", "v3:two")),
                telnyx(telnyx_event("call.answered", "v3:one")),
                telnyx(telnyx_event("call.hangup", "v3:one")),
            ],
        )
        await finish(socks, "v3:one")
    for agent in socks.values():
        assert_one_card(agent, "v3:one", "+12025550133")
        assert seen(agent)[1] == [("v3:one", "answered", None), ("v3:one", "ended", None)]


async def test_amazon_connect_life_cycle(store_url: str) -> None:
    """Connect: the flow event pops in Queue.Name, its retry does not, CONNECTED_TO_AGENT answers."""
    settings = settings_for(store_url, card_ms=LIVE_MS)
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        await ring_then(
            base,
            socks,
            "ct-1",
            [connect(flow_event("ct-1", "support"))],
            [
                connect(flow_event("ct-1", "support"), at=int(time.time()) - 2),  # the Lambda retried
                connect(contact_event("ct-2", "CONNECTED_TO_AGENT", "a1")),  # before its own flow event
                connect(flow_event("ct-2", "support")),
                connect(contact_event("ct-1", "CONNECTED_TO_AGENT", "a2")),
                connect(contact_event("ct-1", "DISCONNECTED", "a2")),
            ],
        )
        await read_until(socks["agent-1"], call_status("ct-2", "answered"))
        await finish(socks, "ct-1")
    for agent in socks.values():
        assert_one_card(agent, "ct-1", "+14155550132")
        assert seen(agent, "ct-1")[1] == [("ct-1", "answered", "agent-2"), ("ct-1", "ended", None)]
    assert seen(socks["agent-1"], "ct-2")[1] == [("ct-2", "answered", "agent-1")]
    assert seen(socks["agent-2"], "ct-2")[1] == []


# --- (c) what a forger or a misconfigured proxy sends is refused --------------------------


def tampered(hook: Hook, old: bytes, new: bytes) -> Hook:
    path, body, headers = hook
    assert old in body
    return path, body.replace(old, new), headers


def without(hook: Hook, header: str) -> Hook:
    path, body, headers = hook
    return path, body, {k: v for k, v in headers.items() if k != header}


REPLAY_WINDOW_S = 300  # the providers' default tolerance (SPEC section 4)
MARGIN_S = 60  # far enough past the window that neither the truncation nor a slow request can straddle it


def stale() -> int:
    """A signature time well before the replay window, however long the request takes to arrive."""
    return int(time.time()) - REPLAY_WINDOW_S - MARGIN_S


def future() -> int:
    """A signature time well after the replay window (``int()`` truncates down, so add the margin)."""
    return int(time.time()) + REPLAY_WINDOW_S + MARGIN_S


RING = {"event": "ringing", "call_id": "bad-1", "from": "+14155550132", "queue": "support"}
FORGERIES: dict[str, tuple[list[Callable[[str], Hook]], Callable[[], Hook], str]] = {
    # kind: (refused requests, given the loopback base URL; the good request; its call id)
    "generic": (
        [
            lambda base: generic(RING, secret="not-the-secret"),
            lambda base: tampered(generic(RING), b"+14155550132", b"+14155550199"),
            lambda base: generic(RING, at=stale()),
            lambda base: generic(RING, at=future()),
            lambda base: without(generic(RING), "Screenpop-Signature"),
        ],
        lambda: generic(RING),
        "bad-1",
    ),
    "twilio": (
        [
            lambda base: twilio(TWILIO_REFERENCE, token="not-the-auth-token"),
            lambda base: twilio(TWILIO_REFERENCE, signed_url=base + "/webhooks/twilio"),  # the proxy's URL
            lambda base: tampered(twilio(TWILIO_REFERENCE), b"%2B14158675309", b"%2B14158675300"),
            lambda base: without(twilio(TWILIO_REFERENCE), "X-Twilio-Signature"),
        ],
        lambda: twilio(TWILIO_REFERENCE),
        "CA1234567890ABCDE",
    ),
    "telnyx": (
        [
            lambda base: telnyx(telnyx_event("call.initiated"), key=SigningKey(bytes(32))),
            lambda base: tampered(
                telnyx(telnyx_event("call.initiated")), b"+1-202-555-0133", b"+1-202-555-0199"
            ),
            lambda base: telnyx(telnyx_event("call.initiated"), at=stale()),
            lambda base: without(telnyx(telnyx_event("call.initiated")), "telnyx-signature-ed25519"),
        ],
        lambda: telnyx(telnyx_event("call.initiated")),
        "v3:d14dbcee",
    ),
    "amazon_connect": (
        [
            lambda base: connect(flow_event("bad-c", "support"), secret="not-the-secret"),
            lambda base: tampered(connect(flow_event("bad-c", "support")), b"+14155550132", b"+14155550199"),
            lambda base: connect(flow_event("bad-c", "support"), at=stale()),
            lambda base: api_destination(flow_event("bad-c", "support"), key="not-the-key"),
            lambda base: api_destination(flow_event("bad-c", "support"), key=None),
        ],
        lambda: api_destination(flow_event("bad-c", "support")),
        "bad-c",
    ),
}


@pytest.mark.parametrize("kind", list(FORGERIES))
async def test_forged_requests_are_refused_and_pop_nothing(store_url: str, kind: str) -> None:
    """A wrong key or URL, a tampered body or a stale timestamp is 401 bad_signature and pops no card."""
    refused, good, call_id = FORGERIES[kind]
    settings = settings_for(store_url)
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        for make_hook in refused:
            status, reply = await post(base, make_hook(base))
            assert (status, reply["error"]["code"]) == (401, "bad_signature"), reply
        assert all(await asyncio.gather(*(a.silent_for(0.25) for a in socks.values())))
        status, _ = await post(base, good())  # the same request, signed right, does pop
        assert status in (200, 202)
        await asyncio.gather(*(read_until(a, complete_card(call_id)) for a in socks.values()))


# --- Asterisk: a local AMI server, a recorded queue call, a PBX restart ---------------------

AMI_CALL = "1763800000.101"
RINGS, ANSWER_AND_HANGUP = QUEUE_CALL.split("Event: AgentConnect")
ANSWER_AND_HANGUP = "Event: AgentConnect" + ANSWER_AND_HANGUP


async def test_asterisk_queue_call_and_pbx_restart(store_url: str, ami: FakeAmi) -> None:
    """AMI: both members get the card, the other sees it taken, and after a PBX restart it pops again."""
    settings = settings_for(store_url, ami.port)
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        report = await wait_link_state(base, lambda link: link == "connected")
        assert report["phone_links"] == {"asterisk": "connected"}
        assert ami.logins == [(USERNAME, SECRET)]
        await ami.send(RINGS)
        await asyncio.gather(*(read_until(a, complete_card(AMI_CALL)) for a in socks.values()))
        await ami.send(ANSWER_AND_HANGUP)
        await finish(socks, AMI_CALL)
        for agent in socks.values():
            assert_one_card(agent, AMI_CALL, "+14155550132")
            assert seen(agent)[1] == [(AMI_CALL, "answered", "agent-2"), (AMI_CALL, "ended", None)]

        await ami.stop()
        await wait_link_state(base, lambda link: link.startswith("down: "))
        await ami.start()
        await wait_link_state(base, lambda link: link == "connected")
        assert len(ami.logins) == 2
        await ami.send(QUEUE_CALL.replace(AMI_CALL, "1763800099.7"))
        await asyncio.gather(*(read_until(a, call_status("1763800099.7", "ended")) for a in socks.values()))
        for agent in socks.values():
            cards = [c for c in seen(agent)[0] if c["call_id"] == "1763800099.7"]
            assert cards and cards[0]["version"] == 1


async def test_asterisk_ring_no_answer_withdraws_from_that_member(store_url: str, ami: FakeAmi) -> None:
    """AgentRingNoAnswer takes the card from that member only; the other member goes on to answer it."""
    settings = settings_for(store_url, ami.port)
    no_answer = f"Event: AgentRingNoAnswer\n{CALLER}\n{member('1001', 'Alice')}\nRingTime: 15\n\n"
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        await wait_link_state(base, lambda link: link == "connected")
        await ami.send(RINGS)
        await asyncio.gather(*(read_until(a, complete_card(AMI_CALL)) for a in socks.values()))
        await ami.send(no_answer)
        await read_until(socks["agent-1"], call_status(AMI_CALL, "withdrawn"))
        assert await socks["agent-2"].silent_for(0.1)
        await ami.send(ANSWER_AND_HANGUP)
        await read_until(socks["agent-2"], call_status(AMI_CALL, "ended"))
    assert seen(socks["agent-1"])[1][0] == (AMI_CALL, "withdrawn", "agent-1")
    assert seen(socks["agent-2"])[1] == [(AMI_CALL, "answered", "agent-2"), (AMI_CALL, "ended", None)]


async def test_asterisk_member_rung_again_gets_the_card_again(store_url: str, ami: FakeAmi) -> None:
    """A queue rings a member again after a ring timeout (ringall retry): the card comes back to them."""
    settings = settings_for(store_url, ami.port)
    alice = member("1001", "Alice")
    no_answer = f"Event: AgentRingNoAnswer\n{CALLER}\n{alice}\nRingTime: 15\n\n"
    # each ring of a member is a new channel of its own (a new DestUniqueid), as Asterisk makes it
    rung_again = alice.replace("PJSIP/1001-00000001", "PJSIP/1001-00000002").replace(".1001\n", ".2001\n")
    assert rung_again != alice
    again = f"Event: AgentCalled\n{CALLER}\n{rung_again}\n\n"
    async with running(settings) as base, agents(base, settings, "agent-1") as socks:
        await wait_link_state(base, lambda link: link == "connected")
        await ami.send(RINGS)
        await read_until(socks["agent-1"], complete_card(AMI_CALL))
        await ami.send(no_answer)
        await read_until(socks["agent-1"], call_status(AMI_CALL, "withdrawn"))
        await ami.send(again)
        await read_until(socks["agent-1"], lambda f: f["type"] == "card", within=1.0)


async def _summary_stored(base: str, settings: Settings, call_id: str) -> bool:
    """Is the call's finished card summary in the store (written behind the pop)?"""
    status, body = await api(base, "GET", "/api/calls", token_for(settings, "agent-1"))
    return status == 200 and any(c["call_id"] == call_id and c["summary"] for c in body["calls"])


async def test_leg_ringing_after_first_card_completed_keeps_first_agent_informed(store_url: str) -> None:
    """A second leg ringing after the first card completed still leaves the first agent told of the answer."""
    settings = settings_for(store_url)
    async with running(settings) as base, agents(base, settings, "agent-1", "agent-2") as socks:
        await post_all(base, twilio(twilio_leg("alice", "ringing")))
        await read_until(socks["agent-1"], complete_card("CA-parent"))
        await wait_for(lambda: _summary_stored(base, settings, "CA-parent"), 5, "the first card stored")
        await post_all(base, twilio(twilio_leg("bob", "ringing")))
        await read_until(socks["agent-2"], complete_card("CA-parent"))
        await post_all(base, twilio(twilio_leg("bob", "in-progress")), twilio(twilio_leg("bob", "completed")))
        await read_until(socks["agent-2"], call_status("CA-parent", "ended"))
        with contextlib.suppress(TimeoutError):
            await read_until(socks["agent-1"], call_status("CA-parent", "ended"), within=0.5)
    assert seen(socks["agent-1"])[1] == [("CA-parent", "answered", "agent-2"), ("CA-parent", "ended", None)]
