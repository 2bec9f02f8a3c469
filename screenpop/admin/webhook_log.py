"""What became of each webhook: counts per provider, the last refusal's reason, the last deliveries.

"The phone system says it sent it" is the first thing IT checks, so every
request to ``/webhooks/{provider}`` leaves a line here: when, which provider,
the HTTP status, the outcome code, why it was refused (which check failed:
signature, timestamp window, URL, body, content type, size, unknown
provider, flood), and the call id and event when it was read.  Never a body,
a signature or a phone number: a refusal's sentence is redacted
(``untrusted.redact``) because a provider's error may quote what it was sent.

Recording is a dict and a ``deque.append`` on the request's path; sharing
with other instances (``board.AdminBoard``) happens later, in a batch.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from screenpop.errors import ScreenpopError
from screenpop.model import CallEvent
from screenpop.untrusted import clean_line, redact

MAX_DELIVERIES = 500
MAX_NAME_CHARS = 40
MAX_CALL_ID_CHARS = 160
MAX_REASON_CHARS = 200
NUMBER_TAIL_DIGITS = 7
"""A call id whose digits hold the last 7 digits of a number of its call shows that number."""
_NOT_DIGIT = re.compile(r"\D")
UNKNOWN_PROVIDER = "unknown provider"

_CHECK_OF_CODE = {
    "bad_request": "body",
    "invalid_number": "body",
    "unsupported_media_type": "content type",
    "too_large": "size",
    "not_found": UNKNOWN_PROVIDER,
    "rate_limited": "flood (server.max_inflight_calls)",
    "unavailable": "service unavailable",
}


def refusal_reason(exc: ScreenpopError) -> str:
    """``<check that failed>: <the error's sentence>``, redacted."""
    message = str(exc)
    return redact(f"{refused_check(exc.code, message)}: {message}", limit=MAX_REASON_CHARS)


def refused_check(code: str, message: str) -> str:
    """Which check refused the request, in the words IT uses."""
    if code != "bad_signature":
        return _CHECK_OF_CODE.get(code, code)
    lowered = message.lower()
    if "timestamp" in lowered and ("old" in lowered or "future" in lowered or "not a number" in lowered):
        return "timestamp window"
    if "public_url" in lowered or "bodysha256" in lowered:
        return "signature or URL"
    return "signature"


def shown_call_id(event: CallEvent) -> str | None:
    """The call id as the deliveries list shows it: masked where it holds a number of the call.

    A provider's call id is opaque text, but some phone systems build it
    from the caller's number (``+14155550132``, ``q-4155550132-2``).  Its
    digit runs are masked only then: a Twilio ``CA…`` id keeps its digits,
    which IT needs to match the provider's own logs.
    """
    call_id = clean_line(event.call_id[:MAX_CALL_ID_CHARS])
    if call_id is None:
        return None
    digits = _NOT_DIGIT.sub("", call_id)
    numbers = (event.from_raw, event.to, event.forwarded_from)
    tails = {_NOT_DIGIT.sub("", n)[-NUMBER_TAIL_DIGITS:] for n in numbers if n}
    if any(len(tail) == NUMBER_TAIL_DIGITS and tail in digits for tail in tails):
        return redact(call_id, limit=MAX_CALL_ID_CHARS)
    return call_id


def _now_iso(at: float | None = None) -> str:
    """``at`` (Unix seconds; now when None) as the deliveries list shows a time."""
    moment = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return moment.isoformat(timespec="milliseconds")


@dataclass(slots=True)
class ProviderCounts:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    last_refusal: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "last_refusal": self.last_refusal,
        }


@dataclass(slots=True)
class WebhookLog:
    """This instance's webhook outcomes: counts per configured provider and the last deliveries.

    ``pending`` holds the deliveries not yet shared through Redis (the board
    takes them in batches); without Redis it stays empty.
    """

    providers: dict[str, ProviderCounts]
    shared: bool = False
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_DELIVERIES))
    pending: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_DELIVERIES))

    @classmethod
    def for_providers(cls, names: Sequence[str], shared: bool = False) -> WebhookLog:
        return cls({name: ProviderCounts() for name in names}, shared)

    def track(self, provider: str) -> None:
        """Count ``provider`` from now on: one a reload added (names come from the config only)."""
        if provider not in self.providers:  # every webhook asks: no counts object made to be thrown away
            self.providers[provider] = ProviderCounts()

    def reconfigured(self, names: Sequence[str]) -> None:
        """After a reload: providers kept keep their counts, new ones start at 0, removed ones go."""
        self.providers = {name: self.providers.get(name) or ProviderCounts() for name in names}

    def accepted(
        self, provider: str, status: int, events: Sequence[CallEvent], fresh: bool, at: float | None = None
    ) -> None:
        """A verified request; ``fresh`` is False when every event in it had been handled already.

        ``at``: when it was answered (Unix seconds), for a caller that counts it
        after the answer: the list orders every instance's deliveries by time,
        and a sender may have sent its next webhook to another instance by then.
        """
        counts = self.providers.get(provider)
        if counts is not None:
            counts.accepted += 1
            counts.duplicates += 0 if fresh or not events else 1
        code = "accepted" if fresh else ("duplicate" if events else "ignored")
        first = events[0] if events else None
        call_id = shown_call_id(first) if first else None
        event = first.event.value if first else None
        self._add(
            provider=provider, status=status, code=code, reason=None, call_id=call_id, event=event, at=at
        )

    def refused(self, provider: str, exc: ScreenpopError) -> None:
        """A request answered with an error: counted (configured providers only), its reason kept."""
        reason = refusal_reason(exc)
        counts = self.providers.get(provider)
        if counts is not None:
            counts.refused += 1
            counts.last_refusal = {"at": _now_iso(), "code": exc.code, "reason": reason}
        shown = provider if counts is not None else redact(provider, limit=MAX_NAME_CHARS)
        self._add(provider=shown, status=exc.status, code=exc.code, reason=reason, call_id=None, event=None)

    def last(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` deliveries seen by this instance, newest first."""
        return [self.recent[-1 - i] for i in range(min(limit, len(self.recent)))]

    def _add(self, at: float | None = None, **fields: Any) -> None:
        entry = {"at": _now_iso(at), **fields}
        self.recent.append(entry)
        if self.shared:
            self.pending.append(entry)
