"""Telnyx Call Control (``kind: telnyx``): Ed25519-signed JSON events.

Telnyx signs ``"{telnyx-timestamp}|{raw body}"`` with its own private key;
screenpop holds only the public key from the Telnyx portal, so it can
verify but never produce a Telnyx request (``example_request`` says so).
Telnyx retries and does not keep order, so duplicates and an ``answered``
before its ``initiated`` are ordinary input: they are passed on as they
come, and deduplication happens upstream on (provider, call id, event).

``call_id`` is ``call_control_id``.  ``call.initiated`` rings for
``direction: incoming``; the outgoing legs Telnyx creates when the app
dials an agent have call control ids of their own and are not the
caller's call, so their events are ignored -- unless the application put
``{"agent": "<screenpop agent id>"}`` in the leg's ``client_state``: that
is an agent dialling a customer (an outbound call), popped for that agent
with the card of the number dialled.  ``client_state`` (base64 JSON) is
the call's attributes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from screenpop.call_context import Direction, normalise_provider_attributes
from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadRequest, BadSignature, ConfigError
from screenpop.model import CallEvent, EventKind
from screenpop.providers.base import SignedRequest, WebhookReply, WebhookRequest
from screenpop.providers.signing import (
    accepted_body,
    check_fresh,
    now_of,
    parse_time,
    require_json_object,
    text_field,
    unix_seconds,
)

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
EVENTS = {
    "call.initiated": EventKind.RINGING,
    "call.answered": EventKind.ANSWERED,
    "call.hangup": EventKind.ENDED,
}


class TelnyxProvider:
    """Verifies ``telnyx-signature-ed25519`` with the configured public key."""

    kind: ClassVar[str] = "telnyx"

    def __init__(self, settings: ProviderSettings, server: ServerSettings) -> None:
        self.settings = settings
        self.server = server
        self.key = load_public_key(settings)

    def verify_and_parse(self, request: WebhookRequest) -> Sequence[CallEvent]:
        self._verify(request)
        data = require_json_object(request.content_type, request.body)
        return events_from_json(data, self.settings.name)

    def reply(self, events: Sequence[CallEvent]) -> WebhookReply:
        return WebhookReply(status=202, body=accepted_body(events), content_type="application/json")

    def example_request(
        self, number: str, call_id: str, agent: str | None, queue: str | None, now: float
    ) -> SignedRequest:
        raise ConfigError(
            f"provider {self.settings.name!r} is a telnyx provider: Telnyx signs its webhooks with "
            "Telnyx's own private key, which screenpop never has, so no request can be made that "
            "this provider would accept; place a real call to the Telnyx number, or test the "
            "service with a `generic` provider"
        )

    def _verify(self, request: WebhookRequest) -> None:
        signature_b64 = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not signature_b64 or not timestamp:
            raise BadSignature(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        signed_at = unix_seconds(timestamp, TIMESTAMP_HEADER)
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise BadSignature(f"{SIGNATURE_HEADER} is not base64") from exc
        check_fresh(signed_at, now_of(request.now), self.settings.tolerance_s, TIMESTAMP_HEADER)
        try:
            self.key.verify(timestamp.encode("ascii") + b"|" + request.body, signature)
        except (BadSignatureError, ValueError) as exc:
            raise BadSignature(
                f"{SIGNATURE_HEADER} does not match the body and timestamp with the configured public key"
            ) from exc


def load_public_key(settings: ProviderSettings) -> VerifyKey:
    """The base64 Ed25519 key from the Telnyx portal; a wrong one is a config error at start-up."""
    try:
        raw = base64.b64decode(settings.public_key or "", validate=True)
    except binascii.Error as exc:
        raise ConfigError(f"provider {settings.name!r}: `public_key` is not base64") from exc
    if len(raw) != 32:
        raise ConfigError(
            f"provider {settings.name!r}: `public_key` should be 32 bytes of base64 "
            f"(the Ed25519 public key from the Telnyx portal), not {len(raw)}"
        )
    return VerifyKey(raw)


def events_from_json(data: Mapping[str, Any], provider: str) -> list[CallEvent]:
    """The envelope ``{"data": {"event_type", "occurred_at", "payload": {...}}}`` as call events."""
    envelope = data.get("data")
    if not isinstance(envelope, dict):
        raise BadRequest("`data` is required and must be an object")
    kind = EVENTS.get(str(envelope.get("event_type")))
    if kind is None:
        return []
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        raise BadRequest("`data.payload` is required and must be an object")
    state = client_state(payload.get("client_state"))
    direction = payload.get("direction")
    dialler = text_field(state, "agent", "client_state.") if direction == "outgoing" else None
    if (direction == "outgoing" and not dialler) or (
        kind is EventKind.RINGING and direction not in ("incoming", "outgoing")
    ):
        return []
    call_id = text_field(payload, "call_control_id", "data.payload.")
    if not call_id:
        raise BadRequest("`data.payload.call_control_id` is required")
    return [
        CallEvent(
            provider=provider,
            call_id=call_id,
            event=kind,
            from_raw=text_field(payload, "from", "data.payload.") or "",
            to=text_field(payload, "to", "data.payload."),
            caller_name=text_field(payload, "caller_id_name", "data.payload.") or None,
            at=parse_time(text_field(envelope, "occurred_at", "data."), "data.occurred_at"),
            forwarded_from=diversion(payload.get("sip_headers")),
            agent=dialler,
            direction=Direction.OUTBOUND if dialler else Direction.INBOUND,
            attributes=normalise_provider_attributes({k: v for k, v in state.items() if k != "agent"}),
        )
    ]


def client_state(value: Any) -> dict[str, Any]:
    """``client_state``: base64 of what the application put there; a JSON object becomes attributes.

    Anything else (another application's plain text, bad base64) carries no
    attributes and is not an error: Telnyx would only retry it.
    """
    if not isinstance(value, str) or not value:
        return {}
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def diversion(sip_headers: Any) -> str | None:
    """The forwarding number from the ``Diversion`` SIP header (``<sip:+1555…@host>;reason=…``)."""
    if not isinstance(sip_headers, list):
        return None
    for header in sip_headers:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "diversion":
            value = str(header.get("value", ""))
            uri = value.split(">", 1)[0].lstrip("<").strip()
            user = uri.split(":", 1)[-1].split("@", 1)[0]
            return user or None
    return None
