"""``screenpop ami-replay FILE [--url URL]``: a recorded AMI stream, read as the listener reads it.

Without ``--url`` it prints the call events the parser finds, which is how an
Asterisk set-up is checked without a PBX at hand.  With ``--url`` each event
is also sent, in order, to a running service as the config's ``generic``
provider sends it (signed with its secret), so the agents' screens show the
recorded calls: the generic webhook carries what the AMI listener would
have taken.  A ring's Asterisk channel id is not a generic field; the
generic ``at`` (the packet's ``Timestamp``) tells rings apart instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

from screenpop.call_context import Direction
from screenpop.config import ProviderSettings, Settings
from screenpop.errors import ConfigError
from screenpop.model import CallEvent
from screenpop.providers.signing import SIGNATURE_HEADER, sign_generic


def checked_url(url: str) -> str:
    """A running service's base URL, or one sentence saying why it is not one."""
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"--url {url[:60]!r} is not an http:// or https:// URL with a host")
    return url.rstrip("/")


def generic_provider(settings: Settings) -> ProviderSettings:
    """The provider block whose secret signs the replayed events."""
    for provider in settings.providers:
        if provider.kind == "generic":
            return provider
    raise ConfigError(
        f"{settings.source}: providers: --url sends the events as a `kind: generic` provider; add one"
    )


def generic_body(event: CallEvent) -> bytes:
    """The generic webhook (SPEC 4) that says what this AMI event says."""
    fields: dict[str, Any] = {
        "event": event.event.value,
        "call_id": event.call_id,
        "from": event.from_raw,
        "to": event.to,
        "caller_name": event.caller_name,
        "agent": event.agent,
        "queue": event.queue,
        "at": event.at.isoformat() if event.at is not None else None,
        "from_agent": event.from_agent,
        "direction": event.direction.value if event.direction is not Direction.INBOUND else None,
        "attributes": dict(event.attributes) or None,  # what the listener would bind (never stored)
    }
    return json.dumps({k: v for k, v in fields.items() if v is not None}).encode()


def post_events(url: str, provider: ProviderSettings, events: Sequence[CallEvent]) -> int:
    """Send every event in order; print each answer; 0 when all were taken, else 1."""
    answers = asyncio.run(_post_all(checked_url(url), provider, events))
    for event, (status, text) in zip(events, answers, strict=True):
        print(f"{status} {event.event.value} {event.call_id} {text.strip()[:120]}", file=sys.stderr)
    return 0 if all(200 <= status < 300 for status, _ in answers) else 1


async def _post_all(
    base: str, provider: ProviderSettings, events: Sequence[CallEvent]
) -> list[tuple[int, str]]:
    secret = provider.signing_secrets()[0]
    url = f"{base}/webhooks/{provider.name}"
    answers = []
    try:
        async with aiohttp.ClientSession() as session:
            for event in events:
                body = generic_body(event)
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign_generic(secret, body, int(time.time())),
                }
                async with session.post(url, data=body, headers=headers) as reply:
                    answers.append((reply.status, await reply.text()))
    except aiohttp.ClientError as exc:
        raise OSError(f"cannot reach {url}: {exc}") from exc
    return answers
