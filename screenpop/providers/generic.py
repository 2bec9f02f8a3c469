"""The generic webhook (``kind: generic``): screenpop's own JSON, HMAC-signed.

It is the way in for any PBX, CRM dialler or cloud function that can send an
HTTP request: one small JSON object per call event, signed like Stripe signs
its webhooks (see ``signing``).  The ``agent`` a sender names is already a
screenpop agent id; the provider's ``agents`` map may still translate a
PBX's own names so that a sender need not know screenpop's ids.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from screenpop.call_context import Direction, parse_attributes
from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadRequest, ConfigError
from screenpop.model import CallEvent, EventKind
from screenpop.providers.base import SignedRequest, WebhookReply, WebhookRequest
from screenpop.providers.signing import (
    SIGNATURE_HEADER,
    SigningKeys,
    accepted_body,
    now_of,
    parse_time,
    require_json_object,
    required_text,
    sign_generic,
    text_field,
    text_fields,
    verify_generic,
)

EVENTS = ", ".join(k.value for k in EventKind)
_EVENT_KINDS = {k.value: k for k in EventKind}  # a dict look-up: the enum's own call is Python, per webhook


class GenericProvider:
    """``POST /webhooks/{name}`` with ``Screenpop-Signature: t=…,v1=…`` and a JSON call event."""

    kind: ClassVar[str] = "generic"

    def __init__(self, settings: ProviderSettings, server: ServerSettings) -> None:
        if not settings.signing_secrets():
            raise ConfigError(f"provider {settings.name!r}: a generic provider needs `secret` or `secrets`")
        self.settings = settings
        self.server = server
        self._keys = SigningKeys(settings.signing_secrets())

    def verify_and_parse(self, request: WebhookRequest) -> Sequence[CallEvent]:
        verify_generic(
            request.headers,
            request.body,
            self._keys,
            now_of(request.now),
            self.settings.tolerance_s,
        )
        data = require_json_object(request.content_type, request.body)
        return [event_from_json(data, self.settings.name, self.settings.agents)]

    def reply(self, events: Sequence[CallEvent]) -> WebhookReply:
        return WebhookReply(status=202, body=accepted_body(events), content_type="application/json")

    def example_request(
        self, number: str, call_id: str, agent: str | None, queue: str | None, now: float
    ) -> SignedRequest:
        body = example_body(number, call_id, agent, queue)
        return SignedRequest(
            path=f"/webhooks/{self.settings.name}",
            body=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_generic(self.settings.signing_secrets()[0], body, int(now)),
            },
        )


def event_from_json(data: Mapping[str, Any], provider: str, agents: Mapping[str, str]) -> CallEvent:
    """One generic JSON event as a CallEvent; a 400 names the field that is missing or wrong."""
    event_name = required_text(data, "event")
    event = _EVENT_KINDS.get(event_name)
    if event is None:
        raise BadRequest(f"`event` must be one of {EVENTS}, not {event_name[:40]!r}")
    from_raw, to, caller_name, agent, queue, at, forwarded_from, from_agent = text_fields(data, _TEXT_FIELDS)
    return CallEvent(
        provider=provider,
        call_id=required_text(data, "call_id"),
        event=event,
        from_raw=from_raw or "",
        to=to,
        caller_name=caller_name,
        agent=agents.get(agent, agent) if agent else None,
        queue=queue,
        at=parse_time(at, "at"),
        forwarded_from=forwarded_from,
        direction=direction_field(data),
        attributes=parse_attributes(data.get("attributes")),
        from_agent=agents.get(from_agent, from_agent) if from_agent else None,
    )


_TEXT_FIELDS = ("from", "to", "caller_name", "agent", "queue", "at", "forwarded_from", "from_agent")


def direction_field(data: Mapping[str, Any]) -> Direction:
    """The optional ``direction`` (``inbound`` when absent); anything else is a 400 naming it."""
    if data.get("direction") is None:  # the usual case, without the field's checks
        return Direction.INBOUND
    value = text_field(data, "direction")
    if value is None:
        return Direction.INBOUND
    try:
        return Direction(value)
    except ValueError:
        raise BadRequest(f"`direction` must be inbound or outbound, not {value[:40]!r}") from None


def example_body(number: str, call_id: str, agent: str | None, queue: str | None) -> bytes:
    """A ``ringing`` event in the generic format (also what the Connect Lambda doc shows)."""
    data: dict[str, str] = {"event": "ringing", "call_id": call_id, "from": number}
    if agent:
        data["agent"] = agent
    if queue:
        data["queue"] = queue
    return json.dumps(data).encode("utf-8")
