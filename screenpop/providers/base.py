"""What every phone-system kind provides: verify a request, turn it into CallEvents.

Providers see a plain ``WebhookRequest`` rather than an aiohttp request so that
their parsing and signature checks are pure functions of bytes and headers:
easy to test with the providers' own signing libraries, and impossible to
make depend on server state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from screenpop.config import ProviderSettings, ServerSettings
from screenpop.model import CallEvent, EventKind

log = logging.getLogger(__name__)
SHOWN_KEYS = 20


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One received webhook, as raw as the signature schemes need it.

    ``url`` is the URL the phone system called, rebuilt from
    ``server.public_url`` + path + query (URL-bound signatures such as
    Twilio's are computed over it); ``headers`` answers lower-case names
    (the server passes aiohttp's case-insensitive headers; a test may pass a
    dict with lower-case keys).
    """

    url: str
    headers: Mapping[str, str]
    body: bytes
    content_type: str
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What to answer the phone system, in a form it accepts."""

    status: int = 202
    body: bytes = b""
    content_type: str = "application/json"
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request ``screenpop call`` can send to test a provider block."""

    path: str
    body: bytes
    headers: Mapping[str, str]


class WebhookProvider(Protocol):
    """A phone system that posts events to ``/webhooks/{name}``.

    ``verify_and_parse`` raises ``BadSignature`` (401) for a missing, wrong
    or stale signature, ``UnsupportedMediaType`` (415) and ``BadRequest``
    (400, naming the field) for what it cannot read, and returns the events
    the request carries (possibly none: a status the screen pop ignores).
    """

    kind: ClassVar[str]

    def __init__(self, settings: ProviderSettings, server: ServerSettings) -> None: ...

    def verify_and_parse(self, request: WebhookRequest) -> Sequence[CallEvent]: ...

    def reply(self, events: Sequence[CallEvent]) -> WebhookReply: ...

    def example_request(
        self, number: str, call_id: str, agent: str | None, queue: str | None, now: float
    ) -> SignedRequest:
        """A correctly signed ``ringing`` request, as the phone system would send it."""
        ...


def report_dropped_attributes(event: CallEvent, count: Callable[[str, int], None]) -> None:
    """Log (keys only, never values) and count the attributes a taken ringing could not carry.

    Called once the event is taken, after its answer: a retried or
    duplicated ringing is not taken again, so a call is reported once per
    ringing leg, not once per delivery.  Other events' attributes are not
    bound into lookups, so they are not reported.
    """
    dropped: tuple[str, ...] = getattr(event.attributes, "dropped", ())
    if not dropped or event.event is not EventKind.RINGING:
        return
    shown = ", ".join(repr(key) for key in dropped[:SHOWN_KEYS])
    more = f" and {len(dropped) - SHOWN_KEYS} more" if len(dropped) > SHOWN_KEYS else ""
    log.warning(
        "call %s from %s: %d attributes dropped (beyond 50, or not an attribute): %s%s",
        event.call_id,
        event.provider,
        len(dropped),
        shown,
        more,
    )
    count(event.provider, len(dropped))
