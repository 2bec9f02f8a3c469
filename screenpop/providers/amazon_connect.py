"""Amazon Connect (``kind: amazon_connect``): contact-flow events and contact events.

Connect itself never calls a webhook.  Two things can forward its events:

* the contact flow invokes a Lambda (``docs/amazon-connect-lambda.md``) that
  posts the flow event, signed with the generic ``Screenpop-Signature``; the
  flow event carries the caller, the dialled number and the queue, so it is
  what pops the card (``ringing`` in the screenpop queue ``Queue.Name``);
* an EventBridge rule on ``Amazon Connect Contact Event`` with an API
  destination, which cannot sign but sends a fixed header (an API-key
  connection): configure ``header: {name: X-Api-Key}`` and the header value
  is compared, in constant time, with ``secret``/``secrets``.

Contact events: ``QUEUED`` -> ringing (only when the event names the
customer's number: the documented contact events do not, and a card that
says "withheld" for a real caller is worse than the flow event's card);
``CONNECTED_TO_AGENT`` -> answered by the agent whose ARN maps through
``agents``; ``DISCONNECTED`` -> ended, or missed when no agent ever had it.
``call_id`` is the ``ContactId`` in both shapes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from screenpop.call_context import Direction, normalise_provider_attributes
from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadRequest, BadSignature, ConfigError
from screenpop.model import CallEvent, EventKind
from screenpop.providers.base import SignedRequest, WebhookReply, WebhookRequest
from screenpop.providers.connect_transfers import call_id_of, is_transfer, moved
from screenpop.providers.signing import (
    SIGNATURE_HEADER,
    SigningKeys,
    accepted_body,
    agent_for,
    any_equal,
    now_of,
    parse_time,
    require_json_object,
    sign_generic,
    text_field,
    verify_generic,
)

log = logging.getLogger(__name__)

CONTACT_EVENT = "Amazon Connect Contact Event"


class AmazonConnectProvider:
    """Reads Connect's JSON, authenticated by the generic HMAC or a static header secret."""

    kind: ClassVar[str] = "amazon_connect"

    def __init__(self, settings: ProviderSettings, server: ServerSettings) -> None:
        if not settings.signing_secrets():
            raise ConfigError(f"provider {settings.name!r}: an amazon_connect provider needs `secret`")
        self.settings = settings
        self.server = server
        self._keys = SigningKeys(settings.signing_secrets())

    def verify_and_parse(self, request: WebhookRequest) -> Sequence[CallEvent]:
        self._authenticate(request)
        data = require_json_object(request.content_type, request.body)
        return events_from_json(data, self.settings.name, self.settings.agents)

    def reply(self, events: Sequence[CallEvent]) -> WebhookReply:
        return WebhookReply(status=202, body=accepted_body(events), content_type="application/json")

    def example_request(
        self, number: str, call_id: str, agent: str | None, queue: str | None, now: float
    ) -> SignedRequest:
        """A flow event as the Lambda forwards it; Connect rings a queue, never one agent."""
        if agent is not None:
            raise ConfigError(
                "Amazon Connect rings a queue, not one agent, until an agent is connected: "
                "pass a queue instead of an agent"
            )
        body = json.dumps(flow_event(number, call_id, queue)).encode("utf-8")
        secret = self.settings.signing_secrets()[0]
        headers = {"Content-Type": "application/json"}
        if self.settings.header:
            headers[self.settings.header.name] = secret
        else:
            headers[SIGNATURE_HEADER] = sign_generic(secret, body, int(now))
        return SignedRequest(path=f"/webhooks/{self.settings.name}", body=body, headers=headers)

    def _authenticate(self, request: WebhookRequest) -> None:
        header = self.settings.header
        if header is None:
            verify_generic(
                request.headers,
                request.body,
                self._keys,
                now_of(request.now),
                self.settings.tolerance_s,
            )
            return
        given = request.headers.get(header.name.lower())
        if not given:
            raise BadSignature(f"missing {header.name} header")
        if not any_equal([given], self.settings.signing_secrets()):
            raise BadSignature(f"{header.name} does not match any configured secret")


def flow_event(number: str, contact_id: str, queue: str | None) -> dict[str, Any]:
    """The shape of the event Connect hands a flow Lambda (AWS Lambda developer guide)."""
    return {
        "Name": "ContactFlowEvent",
        "Details": {
            "Parameters": {},
            "ContactData": {
                "Channel": "VOICE",
                "ContactId": contact_id,
                "InitialContactId": contact_id,
                "InitiationMethod": "INBOUND",
                "Attributes": {},
                "CustomerEndpoint": {"Address": number, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": None,
                "Queue": {"Name": queue} if queue else None,
            },
        },
    }


def events_from_json(data: Mapping[str, Any], provider: str, agents: Mapping[str, str]) -> list[CallEvent]:
    if data.get("detail-type") == CONTACT_EVENT:
        return contact_event(_object(data, "detail", ""), provider, agents)
    details = data.get("Details")
    if isinstance(details, dict):
        return [flow_ringing(_object(details, "ContactData", "Details."), provider)]
    raise BadRequest(
        "expected a contact-flow event (`Details.ContactData`) or an EventBridge "
        f"`{CONTACT_EVENT}` (`detail-type`, `detail`)"
    )


def flow_ringing(contact: Mapping[str, Any], provider: str) -> CallEvent:
    where = "Details.ContactData."
    customer = _optional_object(contact, "CustomerEndpoint", where)
    system = _optional_object(contact, "SystemEndpoint", where)
    queue = _optional_object(contact, "Queue", where)
    customer_number = text_field(customer, "Address", where + "CustomerEndpoint.") or ""
    system_number = text_field(system, "Address", where + "SystemEndpoint.")
    outbound = contact.get("InitiationMethod") in OUTBOUND_METHODS
    return CallEvent(
        provider=provider,
        call_id=_required(contact, "ContactId", where),
        event=EventKind.RINGING,
        # an outbound contact's customer is the number dialled: it becomes `to`, ours `from`
        from_raw=(system_number or "") if outbound else customer_number,
        to=customer_number if outbound else system_number,
        queue=text_field(queue, "Name", where + "Queue.") or None,
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        attributes=contact_attributes(contact),
    )


OUTBOUND_METHODS = frozenset({"OUTBOUND", "CALLBACK", "EXTERNAL_OUTBOUND"})
"""``InitiationMethod`` values of a contact the center places to the customer: an agent dialling
out, a queued callback, an outbound campaign (Connect's "contact initiation methods")."""


def contact_attributes(contact: Mapping[str, Any]) -> dict[str, Any]:
    """``Details.ContactData.Attributes`` (Connect's contact attributes, all strings) as the call's."""
    attributes = contact.get("Attributes")
    if not isinstance(attributes, dict):
        return {}
    return normalise_provider_attributes(attributes)


def contact_event(detail: Mapping[str, Any], provider: str, agents: Mapping[str, str]) -> list[CallEvent]:
    event_type = detail.get("eventType")
    call_id = call_id_of(detail, _required(detail, "contactId", "detail."))
    agent_info = _get_any(detail, "agentInfo", "AgentInfo")
    agent_arn = _text(agent_info, "agentArn") or _text(agent_info, "AgentArn")
    if event_type == "QUEUED":
        return queued(detail, provider, call_id)
    if event_type == "CONNECTED_TO_AGENT":
        at = parse_time(
            _text(agent_info, "connectedToAgentTimestamp"), "detail.agentInfo.connectedToAgentTimestamp"
        )
        agent = agent_for(agents, agent_arn, provider)
        transfer = (
            [moved(detail, provider, call_id, agent, None, at)] if is_transfer(detail) and agent else []
        )
        answered = CallEvent(provider=provider, call_id=call_id, event=EventKind.ANSWERED, agent=agent, at=at)
        return [*transfer, answered]
    if event_type == "DISCONNECTED":
        kind = EventKind.ENDED if agent_arn else EventKind.MISSED
        at = parse_time(_text(detail, "disconnectTimestamp"), "detail.disconnectTimestamp")
        return [CallEvent(provider=provider, call_id=call_id, event=kind, at=at)]
    return []


def queued(detail: Mapping[str, Any], provider: str, call_id: str) -> list[CallEvent]:
    if is_transfer(detail):
        name = _queue_name(detail)
        queue_info = _get_any(detail, "queueInfo", "QueueInfo")
        at = parse_time(_text(queue_info, "enqueueTimestamp"), "detail.queueInfo.enqueueTimestamp")
        return [moved(detail, provider, call_id, None, name, at)] if name else []
    customer = _get_any(detail, "customerEndpoint", "CustomerEndpoint")
    number = _text(customer, "address") or _text(customer, "Address")
    if not number:
        log.info(
            "provider %s: QUEUED contact event without the caller's number ignored; "
            "the flow Lambda's event pops the card",
            provider,
        )
        return []
    queue = _queue_name(detail)
    ringing = EventKind.RINGING
    return [CallEvent(provider=provider, call_id=call_id, event=ringing, from_raw=number, queue=queue)]


def _queue_name(detail: Mapping[str, Any]) -> str | None:
    queue_info = _get_any(detail, "queueInfo", "QueueInfo")
    return _text(queue_info, "queueName") or _text(queue_info, "name") or None


def _get_any(data: Any, *keys: str) -> Any:
    """Connect's samples spell the same key both ways (``agentInfo``/``AgentInfo``)."""
    if not isinstance(data, dict):
        return None
    return next((data[k] for k in keys if k in data), None)


def _text(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _object(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise BadRequest(f"`{where}{key}` is required and must be an object")
    return value


def _optional_object(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"`{where}{key}` must be an object")
    return value


def _required(data: Mapping[str, Any], key: str, where: str) -> str:
    value = text_field(data, key, where)
    if not value:
        raise BadRequest(f"`{where}{key}` is required")
    return value
