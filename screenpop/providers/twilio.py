"""Twilio (``kind: twilio``): voice status callbacks and TaskRouter event callbacks.

Twilio signs the URL it called plus the sorted form parameters
(``X-Twilio-Signature``, HMAC-SHA1 with the auth token, or HMAC-SHA256 when
``X-Twilio-Webhooks-Signature-Settings`` says so), so the check is made
against ``server.public_url`` + path + query: what Twilio was told to call,
not what a proxy in front of screenpop forwarded.  JSON webhooks carry
``bodySHA256`` in the query instead of form parameters.

What becomes a call event (``call_id`` is the caller's call, so that a
call and its legs are one call):

* status callback of the caller's call (no ``ParentCallSid``): ``ringing``
  -> ringing; ``in-progress`` -> answered; ``completed`` -> ended;
  ``busy``/``no-answer``/``canceled``/``failed`` -> missed.
* ``<Dial><Client>`` child leg (``ParentCallSid``, ``To=client:NAME``):
  ``ringing`` rings that client's agent, ``in-progress`` is answered by it,
  ``completed`` ends the call (with no agent, so that it is the same event
  as the caller's own ``completed``: one ``ended`` per call).  A leg that
  stops ringing (``no-answer``, ``busy``, ``canceled``, ``failed``)
  withdraws the call from that one agent: the others' phones may still ring.
* TaskRouter (the Workspace's ``EventCallbackUrl``): ``reservation.created``
  rings the worker's agent with the caller from ``TaskAttributes``;
  ``reservation.accepted`` is answered by that worker.  A reservation that
  ends unaccepted withdraws the call from that worker only, because the
  task goes on (back to the queue, or to the worker who took it):
  ``rejected`` (the worker said no), ``timeout`` (nobody answered in time),
  ``rescinded`` (another worker of a multi-reservation accepted) and
  ``canceled`` ("canceled before it has been accepted", also when the
  channel could not be set up after an accept).  The task itself going
  away unanswered is missed: ``task.canceled`` (e.g. the caller hung up in
  the queue) and ``workflow.timeout`` (the task left the workflow unaccepted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from screenpop.call_context import Direction, normalise_provider_attributes
from screenpop.config import ProviderSettings, ServerSettings
from screenpop.errors import BadRequest, BadSignature, ConfigError, UnsupportedMediaType
from screenpop.model import CallEvent, EventKind
from screenpop.providers.base import SignedRequest, WebhookReply, WebhookRequest
from screenpop.providers.signing import agent_for, any_equal, is_json, media_type, names_for
from screenpop.providers.taskrouter_transfers import TRANSFER_EVENTS, transfer_event
from screenpop.untrusted import loads_object

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
FORM = "application/x-www-form-urlencoded"
HASHES = {"HMAC_SHA1": hashlib.sha1, "HMAC_SHA256": hashlib.sha256}
# ``str.isdigit`` is true for "²" and other digits ``int`` refuses; Unix seconds are ASCII.
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'

PARENT_STATUS = {
    "ringing": EventKind.RINGING,
    "in-progress": EventKind.ANSWERED,
    "completed": EventKind.ENDED,
    "busy": EventKind.MISSED,
    "no-answer": EventKind.MISSED,
    "canceled": EventKind.MISSED,
    "failed": EventKind.MISSED,
}
CHILD_STATUS = {
    "ringing": EventKind.RINGING,
    "in-progress": EventKind.ANSWERED,
    "completed": EventKind.ENDED,
    "busy": EventKind.WITHDRAWN,
    "no-answer": EventKind.WITHDRAWN,
    "canceled": EventKind.WITHDRAWN,
    "failed": EventKind.WITHDRAWN,
}
TASKROUTER_EVENTS = {
    "reservation.created": EventKind.RINGING,
    "reservation.accepted": EventKind.ANSWERED,
    "reservation.rejected": EventKind.WITHDRAWN,
    "reservation.timeout": EventKind.WITHDRAWN,
    "reservation.rescinded": EventKind.WITHDRAWN,
    "reservation.canceled": EventKind.WITHDRAWN,
    "task.canceled": EventKind.MISSED,
    "workflow.timeout": EventKind.MISSED,
}

Params = dict[str, list[str]]


class TwilioProvider:
    """Checks ``X-Twilio-Signature`` and reads Twilio's form-encoded callbacks."""

    kind: ClassVar[str] = "twilio"

    def __init__(self, settings: ProviderSettings, server: ServerSettings) -> None:
        if not settings.auth_token:
            raise ConfigError(f"provider {settings.name!r}: a twilio provider needs `auth_token`")
        self.settings = settings
        self.server = server
        self.token = settings.auth_token

    def verify_and_parse(self, request: WebhookRequest) -> Sequence[CallEvent]:
        params = self._verified_params(request)
        merged = {k: v[-1] for k, v in parse_qs(urlsplit(request.url).query).items()}
        merged.update({k: v[-1] for k, v in params.items()})
        return events_from_params(merged, self.settings.name, self.settings.agents)

    def reply(self, events: Sequence[CallEvent]) -> WebhookReply:
        """An empty TwiML document: valid for status callbacks and harmless for a voice URL."""
        return WebhookReply(status=200, body=EMPTY_TWIML, content_type="text/xml")

    def example_request(
        self, number: str, call_id: str, agent: str | None, queue: str | None, now: float
    ) -> SignedRequest:
        path = f"/webhooks/{self.settings.name}"
        params = self._example_params(number, call_id, agent, queue, now)
        url = self.server.public_url.rstrip("/") + path
        signature = compute_signature(self.token, url, {k: [v] for k, v in params.items()})
        return SignedRequest(
            path=path,
            body=urlencode(params).encode("utf-8"),
            headers={"Content-Type": FORM, SIGNATURE_HEADER: signature},
        )

    def _verified_params(self, request: WebhookRequest) -> Params:
        """The signed form parameters (none for JSON bodies), after checking the signature."""
        given = request.headers.get(SIGNATURE_HEADER.lower())
        if not given:
            raise BadSignature(f"missing {SIGNATURE_HEADER} header")
        algorithm = signature_algorithm(request.headers.get(SETTINGS_HEADER.lower(), ""))
        body_hash = parse_qs(urlsplit(request.url).query).get("bodySHA256")
        if body_hash:
            params = json_params(request, body_hash[-1])
        elif media_type(request.content_type) == FORM:
            params = form_params(request.body)
        else:
            shown = media_type(request.content_type) or "none"
            raise UnsupportedMediaType(f"Twilio callbacks are {FORM} (or JSON with bodySHA256), not {shown}")
        urls = url_variants(request.url)
        expected = [compute_signature(self.token, url, params, algorithm) for url in urls]
        if not any_equal([given], expected):
            raise BadSignature(
                f"{SIGNATURE_HEADER} does not match {request.url} and the body with the auth token "
                "(is server.public_url the URL Twilio calls?)"
            )
        if body_hash:
            return {k: [str(v)] for k, v in _json_object(request.body).items() if v is not None}
        return params

    def _example_params(
        self, number: str, call_id: str, agent: str | None, queue: str | None, now: float
    ) -> dict[str, str]:
        if agent is None and queue is None:
            return {"CallSid": call_id, "From": number, "CallStatus": "ringing", "Direction": "inbound"}
        if agent is None:
            raise ConfigError(
                "Twilio names a queue only in a TaskRouter reservation, which always rings one worker: "
                "pass an agent too"
            )
        names = names_for(self.settings.agents, agent)
        if not names:
            raise ConfigError(
                f"agent {agent!r} is not a value of providers[{self.settings.name}].agents, so a Twilio "
                f"request cannot name them: add `<client or worker name>: {agent}` to that map"
            )
        if queue is not None:
            return reservation_params(number, call_id, names[0], queue, now)
        leg = "CA" + hashlib.sha256(f"{call_id}/{names[0]}".encode()).hexdigest()[:32]
        return {
            "CallSid": leg,
            "ParentCallSid": call_id,
            "From": number,
            "To": f"client:{names[0]}",
            "CallStatus": "ringing",
            "Direction": "outbound-dial",
        }


def reservation_params(number: str, call_id: str, worker: str, queue: str, now: float) -> dict[str, str]:
    """A TaskRouter ``reservation.created`` event callback for a voice task."""
    return {
        "EventType": "reservation.created",
        "Timestamp": str(int(now)),
        "WorkerName": worker,
        "TaskQueueName": queue,
        "TaskAttributes": json.dumps({"from": number, "call_sid": call_id}),
    }


def compute_signature(token: str, url: str, params: Params, algorithm: str = "HMAC_SHA1") -> str:
    """Twilio's string to sign: the URL, then each name and value, names and values sorted."""
    message = url + "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))
    mac = hmac.new(token.encode("utf-8"), message.encode("utf-8"), HASHES[algorithm])
    return base64.b64encode(mac.digest()).decode("ascii")


def signature_algorithm(settings_header: str) -> str:
    """HMAC_SHA1 unless the signature-settings header names another (a SharedKey signature)."""
    for part in settings_header.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
            if algorithm not in HASHES:
                raise BadSignature(f"{SETTINGS_HEADER} names an unsupported algorithm {algorithm[:20]!r}")
            return algorithm
    return "HMAC_SHA1"


def url_variants(url: str) -> list[str]:
    """The URL as configured, and with the scheme's default port added or removed.

    Twilio's own validator accepts both because, in its words, signature
    generation on its side is inconsistent about the default port.
    """
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is None and default:
        return [url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))]
    if port == default:
        return [url, urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0]))]
    return [url]


def form_params(body: bytes) -> Params:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the form body is not UTF-8") from exc
    params: Params = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


def json_params(request: WebhookRequest, body_hash: str) -> Params:
    """The JSON variant signs no parameters; the body is bound through its SHA-256 instead."""
    if not is_json(request.content_type):
        raise UnsupportedMediaType("a request with bodySHA256 must carry a JSON body")
    actual = hashlib.sha256(request.body).hexdigest()
    if not any_equal([body_hash.lower()], [actual]):
        raise BadSignature("bodySHA256 in the URL does not match the body")
    return {}


def _json_object(body: bytes) -> dict[str, Any]:
    return loads_object(body)


def events_from_params(p: Mapping[str, str], provider: str, agents: Mapping[str, str]) -> list[CallEvent]:
    """Route a verified callback to the voice or the TaskRouter reader.

    Other signed callbacks (a ``<Gather>`` action, a recording status) say
    nothing about ringing; they are accepted and yield no event rather than
    a 400 that Twilio would retry and report as an error.
    """
    if "EventType" in p:
        return taskrouter_events(p, provider, agents)
    if "CallStatus" in p:
        return voice_events(p, provider, agents)
    log.info(
        "provider %s: a Twilio callback with neither CallStatus nor EventType (not a call status) ignored",
        provider,
    )
    return []


def voice_events(p: Mapping[str, str], provider: str, agents: Mapping[str, str]) -> list[CallEvent]:
    call_sid = p.get("CallSid")
    if not call_sid:
        raise BadRequest("`CallSid` is required")
    parent = p.get("ParentCallSid") or None
    to = p.get("To") or p.get("Called") or None
    client = to[len("client:") :] if to and to.startswith("client:") else None
    kind = (CHILD_STATUS if parent else PARENT_STATUS).get(p["CallStatus"])
    if kind is None:
        return []
    from_raw = p.get("From") or p.get("Caller") or ""
    dialler = from_raw[len("client:") :] if not parent and from_raw.startswith("client:") else None
    direction = voice_direction(p, parent, dialler, client)
    if dialler is not None:
        client = dialler  # an agent's browser dialling out: the card is about `To`, for that agent
    event = CallEvent(
        provider=provider,
        call_id=parent or call_sid,
        event=kind,
        from_raw="" if dialler is not None else from_raw,
        to=to if dialler is not None or not client else None,
        caller_name=p.get("CallerName") or _client_identity(from_raw if dialler is None else to or ""),
        agent=agent_for(agents, client, provider) if client and kind is not EventKind.ENDED else None,
        at=parse_timestamp(p.get("Timestamp")),
        forwarded_from=p.get("ForwardedFrom") or None,
        leg=call_sid if parent and kind in (EventKind.RINGING, EventKind.WITHDRAWN) else None,
        direction=direction,
    )
    return _unless_withdrawn_from_nobody(event)


def _client_identity(caller: str) -> str | None:
    """Who is calling from a Voice SDK client (``From=client:alice``): ``alice``, the card's caller name.

    A client has no number (the card says withheld, and no connector runs),
    but it does have a name: a colleague calling from the app is not an
    anonymous caller.  For an agent's own client dialling out the card is
    about ``To``, so a client dialled (``To=client:bob``) names it ``bob``.
    """
    name = caller[len("client:") :].strip() if caller.startswith("client:") else ""
    return name or None


def voice_direction(
    p: Mapping[str, str], parent: str | None, dialler: str | None, client: str | None
) -> Direction:
    """Outbound for the caller's own call made by the REST API to a number (``outbound-api``: a
    dialler, a click-to-dial) or by an agent's Voice SDK client (``From=client:NAME``).

    A ``<Dial>`` child leg is ``outbound-dial`` whatever the call is: it is a
    leg of the call, not an outbound call of its own; and an API call to an
    agent's client (``To=client:NAME``, the first leg of a click-to-dial)
    names no customer yet, so it rings that agent as before.
    """
    if parent:
        return Direction.INBOUND
    if dialler is not None or (p.get("Direction") == "outbound-api" and client is None):
        return Direction.OUTBOUND
    return Direction.INBOUND


def taskrouter_events(p: Mapping[str, str], provider: str, agents: Mapping[str, str]) -> list[CallEvent]:
    if p["EventType"] in TRANSFER_EVENTS:
        attributes = task_attributes(p.get("TaskAttributes"))
        return transfer_event(p, provider, agents, attributes, parse_timestamp)
    kind = TASKROUTER_EVENTS.get(p["EventType"])
    if kind is None:
        return []
    attributes = task_attributes(p.get("TaskAttributes"))
    call_id = attributes.get("call_sid")
    if not isinstance(call_id, str) or not call_id:
        log.debug("provider %s: TaskRouter task without call_sid (not a voice task) ignored", provider)
        return []
    worker = p.get("WorkerName") if kind is not EventKind.MISSED else None
    outbound = attributes.get("direction") == "outbound"  # Flex's outbound voice tasks say so
    event = CallEvent(
        provider=provider,
        call_id=call_id,
        event=kind,
        from_raw=_text(attributes.get("from")),
        to=_text(attributes.get("to")) or None,
        caller_name=_text(attributes.get("caller_name")) or None,
        agent=agent_for(agents, worker, provider),
        queue=p.get("TaskQueueName") or None,
        at=parse_timestamp(p.get("Timestamp")),
        leg=(p.get("ReservationSid") or None) if kind in (EventKind.RINGING, EventKind.WITHDRAWN) else None,
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        attributes=task_call_attributes(attributes),
    )
    return _unless_withdrawn_from_nobody(event)


TASK_FIELDS_READ = frozenset({"from", "to", "call_sid", "caller_name", "direction"})
"""Task attributes screenpop reads as the call itself; the others become the call's attributes."""


def task_call_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The task's own attributes (what the IVR or Studio flow put there) as the call's attributes.

    Keys are lower-cased, nested objects (Flex's ``conversations``,
    ``customers``) dropped: see ``normalise_provider_attributes``.
    """
    return normalise_provider_attributes({k: v for k, v in attributes.items() if k not in TASK_FIELDS_READ})


def _unless_withdrawn_from_nobody(event: CallEvent) -> list[CallEvent]:
    """A withdrawal is about one agent; for a leg or worker no agent maps to it says nothing."""
    if event.event is EventKind.WITHDRAWN and event.agent is None:
        return []
    return [event]


def task_attributes(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    return loads_object(raw, "`TaskAttributes`")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_timestamp(value: str | None) -> datetime | None:
    """TaskRouter sends Unix seconds, voice callbacks an RFC 2822 date; neither is worth a 400."""
    if not value:
        return None
    try:
        if UNIX_SECONDS.fullmatch(value):
            return datetime.fromtimestamp(int(value), tz=UTC)
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, OSError):
        # Out of range for a datetime (year 10000, a 20-digit number), or not a date at all.
        return None
