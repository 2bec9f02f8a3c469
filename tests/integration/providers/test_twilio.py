"""Twilio callbacks: signatures made by the ``twilio`` package's own RequestValidator.

Twilio signatures carry no timestamp, so there is no stale-signature case:
replays are absorbed by the upstream dedupe on (provider, call id, event).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadSignature, ConfigError, UnsupportedMediaType
from screenpop.model import CallEvent, EventKind
from screenpop.providers.base import WebhookRequest
from screenpop.providers.twilio import TwilioProvider

TOKEN = "12345"
REF_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
REF_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
PUBLIC = "https://screenpop.example.com"
URL = f"{PUBLIC}/webhooks/twilio"
FORM = "application/x-www-form-urlencoded"
validator = RequestValidator(TOKEN)


def provider(public_url: str = PUBLIC) -> TwilioProvider:
    settings = ProviderSettings(
        name="twilio", kind="twilio", auth_token=TOKEN, agents={"alice": "agent-1", "bob": "agent-2"}
    )
    return TwilioProvider(settings, ServerSettings(public_url=public_url))


def request(
    url: str, body: bytes, signature: str | None, content_type: str = FORM, **headers: str
) -> WebhookRequest:
    all_headers = {k.replace("_", "-"): v for k, v in headers.items()}
    if signature is not None:
        all_headers["x-twilio-signature"] = signature
    return WebhookRequest(
        url=url,
        headers=all_headers,
        body=body,
        content_type=content_type,
    )


def form(params: dict[str, str], url: str = URL, sign_url: str | None = None) -> WebhookRequest:
    """A form POST signed by twilio's RequestValidator over ``sign_url`` (default: the URL called)."""
    signature = validator.compute_signature(sign_url or url, params)
    return request(url, urlencode(params).encode(), signature)


def parse(params: dict[str, str]) -> list[CallEvent]:
    return list(provider().verify_and_parse(form(params)))


def test_reference_vector_is_accepted() -> None:
    """The twilio-python test vector (and its :443 twin) verifies; a Gather-style callback pops nothing."""
    body = urlencode(REF_PARAMS).encode()
    assert provider().verify_and_parse(request(REF_URL, body, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")) == []
    assert provider().verify_and_parse(request(REF_URL, body, "kvajT1Ptam85bY51eRf/AJRuM3w=")) == []


def test_reference_call_ringing_is_parsed() -> None:
    """The reference call with ``CallStatus=ringing`` becomes a ringing event for CallSid."""
    events = provider().verify_and_parse(form({**REF_PARAMS, "CallStatus": "ringing"}, url=REF_URL))
    assert events == [
        CallEvent(
            provider="twilio",
            call_id="CA1234567890ABCDE",
            event=EventKind.RINGING,
            from_raw="+14158675309",
            to="+18005551212",
        )
    ]


def test_status_callback_fields() -> None:
    """CallerName, ForwardedFrom and the RFC 2822 Timestamp are carried over."""
    event = parse(
        {
            "CallSid": "CA1",
            "CallStatus": "ringing",
            "From": "+14155550132",
            "To": "+18005550100",
            "CallerName": "LOVELACE ADA",
            "ForwardedFrom": "+14155550000",
            "Timestamp": "Sun, 22 Nov 2026 10:00:00 +0000",
        }
    )[0]
    assert (event.caller_name, event.forwarded_from) == ("LOVELACE ADA", "+14155550000")
    assert event.at is not None
    assert event.at.isoformat() == "2026-11-22T10:00:00+00:00"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: request(URL, b"CallSid=CA1&CallStatus=ringing", None), "missing X-Twilio-Signature"),
        (lambda: request(URL, b"CallSid=CA1&CallStatus=ringing", "bm90IGl0"), "does not match"),
        (lambda: form({"CallSid": "CA1", "CallStatus": "ringing"}, sign_url=URL + "x"), "does not match"),
        (
            lambda: form(
                {"CallSid": "CA1", "CallStatus": "ringing"}, sign_url="https://other.example/webhooks/twilio"
            ),
            "public_url",
        ),
    ],
    ids=["missing", "wrong", "wrong-path", "wrong-host"],
)
def test_bad_signatures(make: object, message: str) -> None:
    """A missing or wrong signature, or one made for another URL, is refused."""
    with pytest.raises(BadSignature, match=message) as caught:
        provider().verify_and_parse(make())  # type: ignore[operator]
    assert TOKEN not in str(caught.value)


def test_tampered_body_is_refused() -> None:
    """Changing one parameter after signing breaks the signature."""
    good = form({"CallSid": "CA1", "CallStatus": "ringing", "From": "+14155550132"})
    tampered = request(URL, good.body.replace(b"0132", b"0133"), good.headers["x-twilio-signature"])
    with pytest.raises(BadSignature):
        provider().verify_and_parse(tampered)


def test_default_port_variants() -> None:
    """A signature over the URL with :443 is accepted for a public_url without a port, and vice versa."""
    params = {"CallSid": "CA1", "CallStatus": "ringing"}
    with_port = "https://screenpop.example.com:443/webhooks/twilio"
    assert provider().verify_and_parse(form(params, url=URL, sign_url=with_port))
    assert provider().verify_and_parse(form(params, url=with_port, sign_url=URL))


def test_repeated_parameters() -> None:
    """Repeated form keys are signed Twilio's way (each value, sorted) and verify."""
    pairs = [("CallSid", "CA1"), ("CallStatus", "ringing"), ("Tag", "b"), ("Tag", "a")]
    signed_string = URL + "CallSidCA1CallStatusringingTagaTagb"
    digest = hmac.new(TOKEN.encode(), signed_string.encode(), hashlib.sha1).digest()
    signature = base64.b64encode(digest).decode()
    assert provider().verify_and_parse(request(URL, urlencode(pairs).encode(), signature))


def test_body_sha256_reference_vector() -> None:
    """The JSON variant's reference vector verifies (bodySHA256 in the URL, no parameters signed)."""
    body = b'{"property": "value", "boolean": true}'
    url = REF_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert validator.validate(url, body.decode(), "a9nBmqA0ju/hNViExpshrM61xv4=")
    req = request(url, body, "a9nBmqA0ju/hNViExpshrM61xv4=", content_type="application/json")
    assert provider().verify_and_parse(req) == []


def test_body_sha256_json_callback_and_tampering() -> None:
    """A JSON status callback signed with bodySHA256 parses; a changed body fails the hash."""
    body = json.dumps({"CallSid": "CA9", "CallStatus": "ringing", "From": "+14155550132"}).encode()
    url = f"{URL}?bodySHA256={validator.compute_hash(body.decode())}"
    signature = validator.compute_signature(url, {})
    events = provider().verify_and_parse(request(url, body, signature, content_type="application/json"))
    assert [(e.call_id, e.event, e.from_raw) for e in events] == [("CA9", EventKind.RINGING, "+14155550132")]
    with pytest.raises(BadSignature, match="bodySHA256"):
        provider().verify_and_parse(request(url, body + b" ", signature, content_type="application/json"))


def test_shared_key_sha256_variant() -> None:
    """With the signature-settings header naming HMAC_SHA256, the SHA-256 signature is checked."""
    params = {"CallSid": "CA1", "CallStatus": "ringing"}
    signature = validator.compute_signature(URL, params, algorithm="HMAC_SHA256")
    req = request(
        URL,
        urlencode(params).encode(),
        signature,
        x_twilio_webhooks_signature_settings="key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    )
    assert provider().verify_and_parse(req)
    with pytest.raises(BadSignature):
        provider().verify_and_parse(request(URL, urlencode(params).encode(), signature))


def test_json_without_body_hash_is_415() -> None:
    """JSON without bodySHA256 is not a Twilio format."""
    with pytest.raises(UnsupportedMediaType):
        provider().verify_and_parse(request(URL, b"{}", "x", content_type="application/json"))


def test_call_life_cycle() -> None:
    """ringing, in-progress and completed of the caller's call are ringing, answered, ended."""
    base = {"CallSid": "CA100", "From": "+14155550132", "To": "+18005550100"}
    events = [parse({**base, "CallStatus": s})[0] for s in ("ringing", "in-progress", "completed")]
    assert [e.event for e in events] == [EventKind.RINGING, EventKind.ANSWERED, EventKind.ENDED]
    assert {e.call_id for e in events} == {"CA100"}


@pytest.mark.parametrize("status", ["busy", "no-answer", "canceled", "failed"])
def test_unanswered_call_is_missed(status: str) -> None:
    """A caller's call that ends unanswered is missed; ``queued`` says nothing."""
    assert parse({"CallSid": "CA1", "CallStatus": status})[0].event is EventKind.MISSED
    assert parse({"CallSid": "CA1", "CallStatus": "queued"}) == []


def test_withheld_caller_stays_raw() -> None:
    """Twilio's withheld-number marker +266696687 stays raw for the number parser upstream."""
    event = parse({"CallSid": "CA1", "CallStatus": "ringing", "From": "+266696687"})[0]
    assert event.from_raw == "+266696687"


def test_dial_client_child_legs() -> None:
    """<Dial><Client> legs ring, are answered by and withdrawn from their agent, under the parent CallSid."""
    leg = {"ParentCallSid": "CA-parent", "From": "+14155550132", "Direction": "outbound-dial"}
    alice = {**leg, "CallSid": "CA-alice", "To": "client:alice"}
    bob = {**leg, "CallSid": "CA-bob", "To": "client:bob"}
    events = [
        *parse({**alice, "CallStatus": "ringing"}),
        *parse({**bob, "CallStatus": "ringing"}),
        *parse({**bob, "CallStatus": "in-progress"}),
        *parse({**alice, "CallStatus": "canceled"}),
        *parse({**bob, "CallStatus": "completed"}),
    ]
    assert [(e.call_id, e.event, e.agent) for e in events] == [
        ("CA-parent", EventKind.RINGING, "agent-1"),
        ("CA-parent", EventKind.RINGING, "agent-2"),
        ("CA-parent", EventKind.ANSWERED, "agent-2"),
        ("CA-parent", EventKind.WITHDRAWN, "agent-1"),
        ("CA-parent", EventKind.ENDED, None),
    ]
    assert events[0].from_raw == "+14155550132"
    assert events[0].to is None


@pytest.mark.parametrize("status", ["no-answer", "busy", "canceled", "failed"])
def test_child_leg_that_stops_ringing_withdraws_from_its_agent(status: str) -> None:
    """A client leg ending unanswered withdraws the call from that client's agent only."""
    leg = {"CallSid": "CA-a", "ParentCallSid": "CA-p", "To": "client:alice", "CallStatus": status}
    assert [(e.call_id, e.event, e.agent) for e in parse(leg)] == [("CA-p", EventKind.WITHDRAWN, "agent-1")]


def test_unmapped_or_number_leg_that_stops_ringing_says_nothing() -> None:
    """A withdrawal from a leg no agent maps to (an unknown client, a <Number>) yields no event."""
    carol = {"CallSid": "CA-c", "ParentCallSid": "CA-p", "To": "client:carol", "CallStatus": "no-answer"}
    pstn = {"CallSid": "CA-n", "ParentCallSid": "CA-p", "To": "+14155550199", "CallStatus": "busy"}
    assert parse(carol) == []
    assert parse(pstn) == []


def test_unknown_client_rings_nobody_in_particular(caplog: pytest.LogCaptureFixture) -> None:
    """A client name missing from ``agents`` gives agent None and a log line naming it."""
    with caplog.at_level(logging.WARNING):
        leg = {"CallSid": "CA2", "ParentCallSid": "CA1", "To": "client:carol", "CallStatus": "ringing"}
        event = parse(leg)[0]
    assert event.agent is None
    assert "'carol'" in caplog.text


def reservation(event_type: str, worker: str = "alice", **extra: str) -> dict[str, str]:
    attributes = {"from": "+14155550132", "to": "+18005550100", "call_sid": "CA-task", "caller_name": "ADA L"}
    return {
        "EventType": event_type,
        "AccountSid": "AC0",
        "WorkspaceSid": "WS0",
        "Timestamp": "1795341600",
        "TaskSid": "WT1",
        "TaskAttributes": json.dumps(attributes),
        "TaskQueueName": "support",
        "WorkerName": worker,
        "ReservationSid": "WR1",
        **extra,
    }


def test_taskrouter_reservation_life_cycle() -> None:
    """reservation.created rings the worker with the task's caller; accepted is answered by them."""
    ring = parse(reservation("reservation.created"))
    take = parse(reservation("reservation.accepted"))
    assert ring == [
        CallEvent(
            provider="twilio",
            call_id="CA-task",
            event=EventKind.RINGING,
            from_raw="+14155550132",
            to="+18005550100",
            caller_name="ADA L",
            agent="agent-1",
            queue="support",
            at=ring[0].at,
            leg="WR1",
        )
    ]
    assert ring[0].at is not None
    assert ring[0].at.isoformat() == "2026-11-22T10:00:00+00:00"
    assert [(e.event, e.agent, e.call_id) for e in take] == [(EventKind.ANSWERED, "agent-1", "CA-task")]


@pytest.mark.parametrize(
    "event_type",
    ["reservation.rejected", "reservation.timeout", "reservation.rescinded", "reservation.canceled"],
)
def test_taskrouter_reservation_ending_unaccepted_withdraws(event_type: str) -> None:
    """A reservation that ends unaccepted withdraws the call from that worker's agent only."""
    events = parse(reservation(event_type, worker="bob"))
    assert [(e.call_id, e.event, e.agent, e.queue) for e in events] == [
        ("CA-task", EventKind.WITHDRAWN, "agent-2", "support")
    ]


@pytest.mark.parametrize("event_type", ["task.canceled", "workflow.timeout"])
def test_taskrouter_task_gone_unanswered_is_missed(event_type: str) -> None:
    """The task itself going away (caller hung up, workflow ran out) is missed for everyone."""
    params = reservation(event_type)
    del params["WorkerName"]
    assert [(e.event, e.agent) for e in parse(params)] == [(EventKind.MISSED, None)]


def test_taskrouter_other_events_and_unmapped_withdrawals_say_nothing() -> None:
    """Worker activity changes and withdrawals from unmapped workers yield no event."""
    assert parse(reservation("worker.activity.update")) == []
    assert parse(reservation("reservation.timeout", worker="dave")) == []


def test_taskrouter_unknown_worker_keeps_queue() -> None:
    """A worker missing from ``agents`` rings nobody in particular but keeps the queue."""
    event = parse(reservation("reservation.created", worker="dave"))[0]
    assert (event.agent, event.queue) == (None, "support")


def test_taskrouter_non_voice_task_is_ignored() -> None:
    """A task without call_sid (chat, e-mail) is not a call."""
    params = reservation("reservation.created")
    params["TaskAttributes"] = json.dumps({"channel": "chat"})
    assert parse(params) == []


def test_reply_is_empty_twiml() -> None:
    """The answer is an empty TwiML document, which Twilio accepts for any callback."""
    reply = provider().reply([])
    assert (reply.status, reply.content_type, reply.body.endswith(b"<Response/>")) == (200, "text/xml", True)


@pytest.mark.parametrize(
    ("agent", "queue", "expected"),
    [
        (None, None, ("c-42", None, None)),
        ("agent-1", None, ("c-42", "agent-1", None)),
        ("agent-2", "support", ("c-42", "agent-2", "support")),
    ],
    ids=["call", "dial-client", "taskrouter"],
)
def test_example_request_verifies_with_twilio(
    agent: str | None, queue: str | None, expected: tuple[str, str | None, str | None]
) -> None:
    """``screenpop call``'s request passes twilio's own validator and parses to the ringing it means."""
    public = "http://localhost:8080"
    p = provider(public_url=public)
    example = p.example_request("+14155550132", "c-42", agent, queue, 1_763_805_600.0)
    url = public + example.path
    params = dict(parse_qsl(example.body.decode()))
    assert validator.validate(url, params, example.headers["X-Twilio-Signature"])
    req = request(url, example.body, example.headers["X-Twilio-Signature"], example.headers["Content-Type"])
    event = p.verify_and_parse(req)[0]
    assert event.event is EventKind.RINGING
    assert event.from_raw == "+14155550132"
    assert (event.call_id, event.agent, event.queue) == expected


def test_example_request_needs_a_mapped_agent() -> None:
    """An agent no Twilio name maps to cannot be rung by a Twilio request: a clear ConfigError."""
    with pytest.raises(ConfigError, match="agent-9"):
        provider().example_request("+14155550132", "c-1", "agent-9", None, 0.0)
