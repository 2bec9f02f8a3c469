"""The generic webhook: HMAC checked with Python's own ``hmac``, JSON read into CallEvents."""

from __future__ import annotations

import hmac
import json
import time
from datetime import UTC, datetime

import pytest

from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadRequest, BadSignature, ConfigError, UnsupportedMediaType
from screenpop.model import CallEvent, EventKind
from screenpop.providers import PROVIDER_KINDS, make_provider
from screenpop.providers.base import WebhookRequest
from screenpop.providers.generic import GenericProvider
from tests.support.signers import hmac_hex

SECRET = "whsec-generic-test-secret"
OLD_SECRET = "whsec-generic-old-secret"
NOW = 1_763_800_000.0
SPEC_BODY = (
    b'{"event": "ringing", "call_id": "c-1001", "from": "+1 (415) 555-0132",\n'
    b' "to": "+18005550100", "caller_name": "ADA L", "agent": "agent-1", "queue": "support",\n'
    b' "at": "2026-11-22T10:00:00Z"}'
)


def provider(**extra: object) -> GenericProvider:
    settings = ProviderSettings.model_validate({"name": "pbx", "kind": "generic", "secret": SECRET, **extra})
    return GenericProvider(settings, ServerSettings())


def request(body: bytes, signature: str | None, content_type: str = "application/json") -> WebhookRequest:
    headers = {"screenpop-signature": signature} if signature is not None else {}
    return WebhookRequest(
        url="http://localhost:8080/webhooks/pbx",
        headers=headers,
        body=body,
        content_type=content_type,
        now=NOW,
    )


def signed(
    body: bytes, t: float = NOW, secret: str = SECRET, content_type: str = "application/json"
) -> WebhookRequest:
    return request(body, f"t={int(t)},v1={hmac_hex(secret, body, int(t))}", content_type)


def test_spec_example_is_parsed() -> None:
    """The SPEC's example request, signed by hand, becomes the ringing event it describes."""
    events = provider().verify_and_parse(signed(SPEC_BODY))
    assert events == [
        CallEvent(
            provider="pbx",
            call_id="c-1001",
            event=EventKind.RINGING,
            from_raw="+1 (415) 555-0132",
            to="+18005550100",
            caller_name="ADA L",
            agent="agent-1",
            queue="support",
            at=datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        )
    ]


def test_reply_is_202_with_call_id() -> None:
    """A verified event is answered 202 with the call id and status accepted."""
    p = provider()
    reply = p.reply(p.verify_and_parse(signed(SPEC_BODY)))
    assert reply.status == 202
    assert json.loads(reply.body) == {"call_id": "c-1001", "status": "accepted"}


def test_life_cycle() -> None:
    """Ringing, answered by an agent, then ended parse to the three events in order."""
    p = provider()
    bodies = [
        {"event": "ringing", "call_id": "c-7", "from": "+14155550132"},
        {"event": "answered", "call_id": "c-7", "agent": "agent-2"},
        {"event": "ended", "call_id": "c-7"},
    ]
    events = [p.verify_and_parse(signed(json.dumps(b).encode()))[0] for b in bodies]
    assert [(e.event, e.agent) for e in events] == [
        (EventKind.RINGING, None),
        (EventKind.ANSWERED, "agent-2"),
        (EventKind.ENDED, None),
    ]
    assert {e.call_id for e in events} == {"c-7"}


def test_missed_event() -> None:
    """``missed`` is a call that ended unanswered."""
    events = provider().verify_and_parse(signed(b'{"event": "missed", "call_id": "c-8"}'))
    assert events[0].event is EventKind.MISSED


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: request(SPEC_BODY, None), "missing Screenpop-Signature"),
        (lambda: request(SPEC_BODY, f"t={int(NOW)},v1={'0' * 64}"), "does not match"),
        (lambda: signed(SPEC_BODY, secret="another-secret"), "does not match"),
        (lambda: request(SPEC_BODY + b" ", signed(SPEC_BODY).headers["screenpop-signature"]), "not match"),
        (lambda: signed(SPEC_BODY, t=NOW - 301), "old"),
        (lambda: signed(SPEC_BODY, t=NOW + 301), "future"),
        (lambda: request(SPEC_BODY, f"v1={hmac_hex(SECRET, SPEC_BODY, int(NOW))}"), "no `t=`"),
        (lambda: request(SPEC_BODY, f"t={int(NOW)}"), "no `v1=`"),
    ],
    ids=["missing", "wrong", "wrong-secret", "tampered", "stale", "future", "no-t", "no-v1"],
)
def test_bad_signatures(make: object, message: str) -> None:
    """A missing, wrong, tampered or stale signature is refused with a reason, never the secret."""
    with pytest.raises(BadSignature, match=message) as caught:
        provider().verify_and_parse(make())  # type: ignore[operator]
    assert SECRET not in str(caught.value)


def test_within_tolerance_is_accepted() -> None:
    """A signature 299 s old is still inside the 300 s window."""
    assert provider().verify_and_parse(signed(SPEC_BODY, t=NOW - 299))


def test_tolerance_is_configurable() -> None:
    """``tolerance_s`` narrows the window."""
    with pytest.raises(BadSignature):
        provider(tolerance_s=10).verify_and_parse(signed(SPEC_BODY, t=NOW - 11))


def test_rotation_several_secrets_and_v1_values() -> None:
    """While keys rotate, an old secret and a header with several v1 values are accepted."""
    p = provider(secrets=[OLD_SECRET])
    assert p.verify_and_parse(signed(SPEC_BODY, secret=OLD_SECRET))
    t = int(NOW)
    header = f"t={t},v1={'f' * 64},v1={hmac_hex(SECRET, SPEC_BODY, t)}"
    assert p.verify_and_parse(request(SPEC_BODY, header))


def test_content_type_must_be_json() -> None:
    """A signed form body is 415, not parsed."""
    form = "application/x-www-form-urlencoded"
    with pytest.raises(UnsupportedMediaType, match="JSON"):
        provider().verify_and_parse(signed(b"event=ringing", content_type=form))


def test_json_with_charset_is_json() -> None:
    """``application/json; charset=utf-8`` is JSON."""
    assert provider().verify_and_parse(signed(SPEC_BODY, content_type="application/json; charset=utf-8"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"event": "ringing"}', "`call_id`"),
        (b'{"call_id": "c-1"}', "`event`"),
        (b'{"event": "pickup", "call_id": "c-1"}', "`event`"),
        (b'{"event": "ringing", "call_id": "c-1", "at": "yesterday"}', "`at`"),
        (b'{"event": "ringing", "call_id": ["c-1"]}', "`call_id`"),
        (b'{"event": "ringing", "call_id": "c-1"', "not valid JSON"),
        (b'["ringing"]', "JSON object"),
    ],
)
def test_bad_bodies_name_the_problem(body: bytes, field: str) -> None:
    """A body that cannot be read is 400 and the message names the field or the defect."""
    with pytest.raises(BadRequest, match=field):
        provider().verify_and_parse(signed(body))


def test_withheld_number_stays_raw() -> None:
    """``anonymous`` and an absent ``from`` stay raw text for the number parser upstream."""
    p = provider()
    anonymous = p.verify_and_parse(signed(b'{"event": "ringing", "call_id": "c-1", "from": "anonymous"}'))
    absent = p.verify_and_parse(signed(b'{"event": "ringing", "call_id": "c-2"}'))
    assert (anonymous[0].from_raw, absent[0].from_raw) == ("anonymous", "")


def test_agents_map_translates_pbx_names() -> None:
    """A PBX's own agent name in the ``agents`` map becomes the screenpop agent id."""
    p = provider(agents={"ext-201": "agent-1"})
    body = b'{"event": "answered", "call_id": "c-1", "agent": "ext-201"}'
    assert p.verify_and_parse(signed(body))[0].agent == "agent-1"


def test_example_request_verifies_independently() -> None:
    """``screenpop call``'s request carries a signature that hand-written hmac accepts, and parses."""
    p = provider()
    now = time.time()
    example = p.example_request("+14155550132", "c-42", "agent-1", "support", now)
    assert example.path == "/webhooks/pbx"
    t, v1 = (part.split("=", 1)[1] for part in example.headers["Screenpop-Signature"].split(","))
    assert hmac.compare_digest(v1, hmac_hex(SECRET, example.body, int(t)))
    assert abs(int(t) - now) < 2
    req = WebhookRequest(
        url="http://localhost:8080/webhooks/pbx",
        headers={k.lower(): v for k, v in example.headers.items()},
        body=example.body,
        content_type=example.headers["Content-Type"],
        now=now,
    )
    event = p.verify_and_parse(req)[0]
    assert (event.event, event.call_id, event.from_raw, event.agent, event.queue) == (
        EventKind.RINGING,
        "c-42",
        "+14155550132",
        "agent-1",
        "support",
    )


def test_registry_builds_generic_and_refuses_ami() -> None:
    """``make_provider`` builds webhook kinds and refuses asterisk_ami, which has no webhook."""
    assert set(PROVIDER_KINDS) == {"generic", "twilio", "telnyx", "amazon_connect"}
    settings = ProviderSettings(name="pbx", kind="generic", secret=SECRET)
    assert isinstance(make_provider(settings, ServerSettings()), GenericProvider)
    ami = ProviderSettings(name="pbx2", kind="asterisk_ami", host="127.0.0.1", username="u", secret="s")
    with pytest.raises(ConfigError, match="no webhook"):
        make_provider(ami, ServerSettings())
