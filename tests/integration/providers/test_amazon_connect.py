"""Amazon Connect: flow events and EventBridge contact events, HMAC or static-header authenticated."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadRequest, BadSignature, ConfigError
from screenpop.model import CallEvent, EventKind
from screenpop.providers.amazon_connect import AmazonConnectProvider
from screenpop.providers.base import WebhookRequest
from tests.support.signers import sign

SECRET = "connect-shared-secret"
NOW = 1_763_800_000.0
AGENT_ARN = "arn:aws:connect:us-east-1:111122223333:instance/i/agent/a1"
# The flow event of the AWS Lambda developer guide ("Using Lambda with Amazon Connect").
FLOW_EVENT = {
    "Name": "ContactFlowEvent",
    "Details": {
        "Parameters": {},
        "ContactData": {
            "Channel": "VOICE",
            "ContactId": "4a573372-1f28-4e26-b97b-XXXXXXXXXXX",
            "InitialContactId": "4a573372-1f28-4e26-b97b-XXXXXXXXXXX",
            "InitiationMethod": "INBOUND",
            "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/9308c2a1",
            "Attributes": {},
            "CustomerEndpoint": {"Address": "+1234567890", "Type": "TELEPHONE_NUMBER"},
            "SystemEndpoint": {"Address": "+1234567890", "Type": "TELEPHONE_NUMBER"},
            "Queue": {
                "ARN": "arn:aws:connect:eu-west-2:111111111111:instance/cccccccc/queue/aaaaaaaa",
                "Name": "PasswordReset",
            },
        },
    },
}


def contact_event(event_type: str, **detail: object) -> bytes:
    """An EventBridge ``Amazon Connect Contact Event`` as the admin guide shows it."""
    return json.dumps(
        {
            "version": "0",
            "id": "abcabcab-abca-abca-abca-abcabcabcabc",
            "detail-type": "Amazon Connect Contact Event",
            "source": "aws.connect",
            "account": "111122223333",
            "time": "2026-11-22T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventType": event_type,
                "contactId": "c-connect-1",
                "initialContactId": "c-connect-1",
                "channel": "VOICE",
                "instanceArn": "arn:aws:connect:us-east-1:111122223333:instance/i",
                "initiationMethod": "INBOUND",
                **detail,
            },
        }
    ).encode()


def hmac_header(body: bytes, t: float = NOW, secret: str = SECRET) -> str:
    return sign(body, secret, int(t))


def provider(**extra: object) -> AmazonConnectProvider:
    settings = ProviderSettings.model_validate(
        {
            "name": "connect",
            "kind": "amazon_connect",
            "secret": SECRET,
            "agents": {AGENT_ARN: "agent-1"},
            **extra,
        }
    )
    return AmazonConnectProvider(settings, ServerSettings())


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest(
        url="http://localhost:8080/webhooks/connect",
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        content_type="application/json",
        now=NOW,
    )


def signed(body: bytes, t: float = NOW) -> WebhookRequest:
    return request(body, {"Screenpop-Signature": hmac_header(body, t)})


def test_flow_event_rings_the_queue() -> None:
    """The documented flow event is ringing in the screenpop queue named by Queue.Name."""
    body = json.dumps(FLOW_EVENT).encode()
    assert provider().verify_and_parse(signed(body)) == [
        CallEvent(
            provider="connect",
            call_id="4a573372-1f28-4e26-b97b-XXXXXXXXXXX",
            event=EventKind.RINGING,
            from_raw="+1234567890",
            to="+1234567890",
            queue="PasswordReset",
        )
    ]


def test_contact_event_life_cycle() -> None:
    """QUEUED (with the caller), CONNECTED_TO_AGENT and DISCONNECTED are ringing, answered, ended."""
    p = provider()
    agent = {"agentArn": AGENT_ARN, "connectedToAgentTimestamp": "2026-11-22T10:00:09Z"}
    bodies = [
        contact_event(
            "QUEUED",
            customerEndpoint={"address": "+14155550132", "type": "TELEPHONE_NUMBER"},
            queueInfo={"queueArn": "arn:q", "queueType": "STANDARD"},
        ),
        contact_event("CONNECTED_TO_AGENT", agentInfo=agent),
        contact_event("DISCONNECTED", agentInfo=agent, disconnectTimestamp="2026-11-22T10:05:00Z"),
    ]
    events = [e for b in bodies for e in p.verify_and_parse(signed(b))]
    assert [(e.event, e.agent, e.call_id) for e in events] == [
        (EventKind.RINGING, None, "c-connect-1"),
        (EventKind.ANSWERED, "agent-1", "c-connect-1"),
        (EventKind.ENDED, None, "c-connect-1"),
    ]
    assert events[0].from_raw == "+14155550132"
    assert events[1].at is not None
    assert events[1].at.isoformat() == "2026-11-22T10:00:09+00:00"


def test_capitalised_agent_info_and_unknown_agent(caplog: pytest.LogCaptureFixture) -> None:
    """The admin guide's ``AgentInfo.AgentArn`` spelling is read; an unmapped ARN answers as no one."""
    p = provider()
    known = contact_event("CONNECTED_TO_AGENT", AgentInfo={"AgentArn": AGENT_ARN})
    other = contact_event("CONNECTED_TO_AGENT", AgentInfo={"AgentArn": "arn:aws:connect:x:agent/zz"})
    assert p.verify_and_parse(signed(known))[0].agent == "agent-1"
    with caplog.at_level(logging.WARNING):
        assert p.verify_and_parse(signed(other))[0].agent is None
    assert "agent/zz" in caplog.text


def test_unanswered_disconnect_is_missed_and_quiet_events_ignored() -> None:
    """A contact disconnected before any agent is missed; INITIATED and a numberless QUEUED say nothing."""
    p = provider()
    assert p.verify_and_parse(signed(contact_event("DISCONNECTED")))[0].event is EventKind.MISSED
    assert p.verify_and_parse(signed(contact_event("INITIATED"))) == []
    assert p.verify_and_parse(signed(contact_event("QUEUED", queueInfo={"queueArn": "arn:q"}))) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda b: request(b, {}), "missing Screenpop-Signature"),
        (lambda b: request(b, {"Screenpop-Signature": hmac_header(b, secret="wrong")}), "does not match"),
        (lambda b: request(b + b" ", {"Screenpop-Signature": hmac_header(b)}), "does not match"),
        (lambda b: signed(b, t=NOW - 301), "old"),
    ],
    ids=["missing", "wrong", "tampered", "stale"],
)
def test_hmac_refusals(make: object, message: str) -> None:
    """Without a header secret, the generic HMAC guards the endpoint."""
    with pytest.raises(BadSignature, match=message) as caught:
        provider().verify_and_parse(make(json.dumps(FLOW_EVENT).encode()))  # type: ignore[operator]
    assert SECRET not in str(caught.value)


def test_static_header_secret() -> None:
    """With ``header: {name: X-Api-Key}`` the header must equal a configured secret."""
    p = provider(header={"name": "X-Api-Key"}, secrets=["older-key"])
    body = contact_event("DISCONNECTED")
    assert p.verify_and_parse(request(body, {"X-Api-Key": SECRET}))
    assert p.verify_and_parse(request(body, {"X-Api-Key": "older-key"}))
    with pytest.raises(BadSignature, match="does not match") as caught:
        p.verify_and_parse(request(body, {"X-Api-Key": "guess"}))
    assert SECRET not in str(caught.value)
    with pytest.raises(BadSignature, match="missing X-Api-Key"):
        p.verify_and_parse(request(body, {"Screenpop-Signature": hmac_header(body)}))


def test_unknown_shape_is_400() -> None:
    """JSON that is neither a flow event nor a contact event is a 400 that says what was expected."""
    with pytest.raises(BadRequest, match="ContactData"):
        provider().verify_and_parse(signed(b'{"hello": "world"}'))
    with pytest.raises(BadRequest, match="ContactId"):
        provider().verify_and_parse(signed(b'{"Details": {"ContactData": {}}}'))


def test_example_request_verifies_independently() -> None:
    """``screenpop call``'s flow event carries an HMAC that hand-written hmac accepts, and parses."""
    p = provider()
    example = p.example_request("+14155550132", "c-77", None, "support", NOW)
    t = example.headers["Screenpop-Signature"].split(",")[0][2:]
    assert example.headers["Screenpop-Signature"] == hmac_header(example.body, float(t))
    event = p.verify_and_parse(request(example.body, dict(example.headers)))[0]
    assert (event.event, event.call_id, event.from_raw, event.queue) == (
        EventKind.RINGING,
        "c-77",
        "+14155550132",
        "support",
    )


def test_example_request_with_header_secret() -> None:
    """With a static header, the example carries that header instead of an HMAC."""
    p = provider(header={"name": "X-Api-Key"})
    example = p.example_request("+14155550132", "c-78", None, None, NOW)
    assert example.headers["X-Api-Key"] == SECRET
    assert p.verify_and_parse(request(example.body, dict(example.headers)))[0].call_id == "c-78"


def test_example_request_refuses_an_agent() -> None:
    """Connect rings queues; asking it to ring one agent is explained, not faked."""
    with pytest.raises(ConfigError, match="queue"):
        provider().example_request("+14155550132", "c-1", "agent-1", None, NOW)


def lambda_from_doc() -> dict[str, Any]:
    """Load the Lambda exactly as docs/amazon-connect-lambda.md shows it."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "amazon-connect-lambda.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "amazon-connect-lambda.md", "exec"), namespace)  # noqa: S102 - our own doc
    return namespace


async def test_documented_lambda_reaches_a_real_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doc's Lambda posts the flow event to a real HTTP server, where the provider accepts it."""
    p = provider()
    received: list[CallEvent] = []

    async def handle(http: web.Request) -> web.Response:
        body = await http.read()
        req = WebhookRequest(
            url=str(http.url),
            headers={k.lower(): v for k, v in http.headers.items()},
            body=body,
            content_type=http.content_type,
            now=time.time(),
        )
        events = p.verify_and_parse(req)
        received.extend(events)
        reply = p.reply(events)
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    app = web.Application()
    app.router.add_post("/webhooks/connect", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        monkeypatch.setenv("SCREENPOP_URL", f"http://127.0.0.1:{port}/webhooks/connect")
        monkeypatch.setenv("SCREENPOP_SECRET", SECRET)
        handler = lambda_from_doc()["lambda_handler"]
        assert await asyncio.to_thread(handler, FLOW_EVENT, None) == {}
    finally:
        await runner.cleanup()
    assert [(e.event, e.call_id, e.queue) for e in received] == [
        (EventKind.RINGING, "4a573372-1f28-4e26-b97b-XXXXXXXXXXX", "PasswordReset")
    ]
