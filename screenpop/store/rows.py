"""Pure helpers of the store: its value types, input checks, and stored rows shaped as JSON.

Kept apart from ``sql.py`` so that the SQL there reads as SQL, and
because these shapes are what the HTTP API and the cards show (times as ISO
8601 UTC with a ``Z``, notes with their agent), which is worth reading in
one place.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from screenpop.card_numbers import mask_card_numbers, may_hold_card_number
from screenpop.errors import BadRequest
from screenpop.model import JSON, CallEvent, EventKind
from screenpop.store.schema import (
    FEEDBACK_OUTCOMES,
    MAX_DISPOSITION,
    MAX_NOTES,
    MAX_PRODUCT,
    MAX_TEXT,
    STATUS_RANK,
)
from screenpop.untrusted import clean_line, clean_text, is_unicode_text

if TYPE_CHECKING:
    from typing import TypeAlias

    import sqlalchemy as sa

    AnyRow: TypeAlias = sa.Row[*tuple[Any, ...]]

MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class CallState:
    """Where a call stands after an event, and whether this event should pop a card.

    ``should_pop`` is true only for the first ``ringing`` of a call that is
    still ringing: a repeated webhook, or a ringing that arrives after the
    call was answered or ended, pops nothing.
    """

    call_id: str
    provider: str
    status: EventKind
    answered_by: str | None
    duplicate: bool
    should_pop: bool
    recipients: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventWrite:
    """A call event to record, with the agents that got the card because of it."""

    event: CallEvent
    caller_e164: str | None
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SummaryWrite:
    """A complete card's summary; ``version`` is the card's, so that an older one never replaces a newer."""

    provider: str
    call_id: str
    summary: JSON
    version: int


CallWrite = EventWrite | SummaryWrite


@dataclass(frozen=True, slots=True)
class FeedbackWrite:
    """An agent's answer to one suggestion of a section: ``accepted`` or ``declined``."""

    section: str
    product: str
    outcome: str

    def columns(self) -> dict[str, str]:
        return {"section": self.section, "product": self.product, "outcome": self.outcome}


def check_feedback(answer: FeedbackWrite) -> None:
    check_id("section", answer.section)
    product = answer.product
    if not product or len(product) > MAX_PRODUCT or clean_line(product) != product:
        raise BadRequest(f"product must be 1 to {MAX_PRODUCT} characters without control characters")
    if answer.outcome not in FEEDBACK_OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(FEEDBACK_OUTCOMES)}")


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as the cards show times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def aware(value: datetime | None) -> datetime | None:
    """Provider times without a zone are UTC by every provider's documentation."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def clip(value: str | None) -> str | None:
    return value[:MAX_TEXT] if value else None


def bounded(limit: int) -> int:
    return max(0, min(limit, MAX_LIMIT))


def check_id(name: str, value: str) -> None:
    if not value or len(value) > MAX_TEXT:
        raise BadRequest(f"{name} must be 1 to {MAX_TEXT} characters")


_EVENT_TEXT = {
    "from_raw": "from",
    "to": "to",
    "caller_name": "caller_name",
    "agent": "agent",
    "queue": "queue",
    "forwarded_from": "forwarded_from",
    "leg": "leg",
    "from_agent": "from_agent",
}
"""The text a call record keeps of an event (attribute -> the name a sender knows it by)."""
_TEXTS_OF = operator.attrgetter("call_id", *_EVENT_TEXT)


def _all_text(event: CallEvent) -> str | None:
    """The event's id and texts in one string (None when a field is not text), checked at once.

    Every webhook is checked for NUL and lone surrogates before it is taken;
    field by field that was a Python call per field, for text that is
    nearly always clean.  The field-by-field checks still name the field.
    """
    try:
        return "".join(filter(None, _TEXTS_OF(event)))
    except TypeError:
        return None


def without_nul(event: CallEvent) -> CallEvent:
    """The event with every NUL dropped from its text (the id aside: ``check_event`` refuses one there).

    PostgreSQL's text cannot hold a NUL, and the call record is written
    behind the 202: a caller name with one popped a card whose record was
    then refused, so the call was missing from ``/api/calls`` and took no
    note.  Shown text loses its control characters anyway.
    """
    text = _all_text(event)
    if text is not None and "\x00" not in text:
        return event
    changes: dict[str, Any] = {
        attribute: value.replace("\x00", "")
        for attribute in _EVENT_TEXT
        if isinstance(value := getattr(event, attribute), str) and "\x00" in value
    }
    return replace(event, **changes) if changes else event


def as_taken(event: CallEvent) -> CallEvent:
    """The event as screenpop keeps it: no NUL in its text, no card number in the caller's name.

    An IVR that writes what the caller keyed into the display name (or a
    CRM dialler that puts a reference there) put a full card number on
    every agent's screen, into the call row and ``/api/calls``; it is
    masked as a note's would be (SPEC 4), before the card pops.
    """
    event = without_nul(event)
    if not event.caller_name or not may_hold_card_number(event.caller_name):
        return event  # the usual name: no search, and no Masked record made per webhook
    masked = mask_card_numbers(event.caller_name)
    return replace(event, caller_name=masked.text) if masked.card_numbers else event


def check_event(event: CallEvent) -> None:
    """Refuse, before the event is taken, what the store would refuse after the card popped.

    The call record is written behind the 202: an id over ``MAX_TEXT`` or
    holding a NUL, a lone surrogate (unencodable as UTF-8) or a time with no
    UTC equivalent failed only there, so the card popped and the record was
    lost (a NUL in other text is dropped before: see ``without_nul``).  Every
    provider's events pass here, whatever their parser let through.  An id
    the API's URLs cannot carry would pop a card no note could be saved on.
    """
    check_id("call_id", event.call_id)
    if "\x00" in event.call_id:  # PostgreSQL refuses NUL in text; an id cannot lose a character as text can
        raise BadRequest("`call_id` must not contain a NUL character")
    if event.call_id in (".", ".."):  # a URL's dot segment: /api/calls/./notes is /api/calls/notes
        raise BadRequest("`call_id` cannot be . or .., which no URL can name: no note could be saved on it")
    text = _all_text(event)
    if text is None or not is_unicode_text(text):
        for attribute, name in (("call_id", "call_id"), *_EVENT_TEXT.items()):
            value = getattr(event, attribute)
            if value and not is_unicode_text(value):
                # JSON's \ud800 escape decodes to one; no database (nor UTF-8) can store it
                raise BadRequest(f"`{name}` is not valid Unicode text (it holds a lone surrogate)")
    at = aware(event.at)
    if at is not None:
        _check_at(at)


def _check_at(at: datetime) -> None:
    try:
        at.astimezone(UTC)
    except OverflowError as exc:
        raise BadRequest("`at` is out of range (its UTC time is before year 1 or after 9999)") from exc


def admitted(event: CallEvent) -> CallEvent:
    """``as_taken`` then ``check_event``: the event as kept, or ``BadRequest`` before it is taken.

    Every webhook's events come here before the first frame.  The usual
    event (text without NUL or lone surrogate, an ordinary id, a short
    caller name) has its text joined and looked at once; anything else
    takes the two steps one after the other, which name the field.
    """
    text = _all_text(event)
    call_id = event.call_id
    if (
        text is None
        or "\x00" in text
        or not (text.isascii() or is_unicode_text(text))
        or not call_id
        or len(call_id) > MAX_TEXT
        or call_id in (".", "..")
        or (event.caller_name and may_hold_card_number(event.caller_name))
    ):
        event = as_taken(event)
        check_event(event)
        return event
    at = event.at
    if at is not None and at.tzinfo is not None and at.utcoffset():  # one with no UTC time is refused
        _check_at(at)
    return event


def check_note(disposition: str | None, text: str | None) -> None:
    if not disposition and not text:
        raise BadRequest("a note needs a disposition or notes")
    if disposition and len(disposition) > MAX_DISPOSITION:
        raise BadRequest(f"disposition is longer than {MAX_DISPOSITION} characters")
    if text and len(text) > MAX_NOTES:
        raise BadRequest(f"notes are longer than {MAX_NOTES} characters")


def caller_fields(event: CallEvent, e164: str | None) -> dict[str, str | None]:
    return {
        "caller_raw": clip(event.from_raw),
        "caller_e164": clip(e164),
        "caller_name": clip(event.caller_name),
        "to_number": clip(event.to),
        "queue": clip(event.queue),
    }


def outcome(event: CallEvent, received: datetime) -> dict[str, Any]:
    """What an answered/ended/missed event tells about the call besides its status."""
    at = aware(event.at) or received
    if event.event is EventKind.ANSWERED:
        return {"answered_by": clip(event.agent), "answered_at": at}
    if event.event in (EventKind.ENDED, EventKind.MISSED):
        return {"ended_at": at}
    return {}


def new_call(event: CallEvent, e164: str | None, received: datetime) -> dict[str, Any]:
    """Every column of a new call row, absent ones as None.

    Always the same keys, so the INSERT compiles once and is reused from
    SQLAlchemy's cache whatever the event says.
    """
    return {
        "provider": event.provider,
        "call_id": event.call_id,
        "status": status_of_new_call(event),
        "received_at": received,
        "answered_by": None,
        "answered_at": None,
        "ended_at": None,
        **caller_fields(event, e164),
        **outcome(event, received),
    }


def status_of_new_call(event: CallEvent) -> str:
    """A call first heard of through a transfer is ringing for its new holder; otherwise its event."""
    status = event.event.value
    return status if STATUS_RANK.get(status, -1) >= 0 else EventKind.RINGING.value


def new_event(call_pk: int, event: CallEvent, received: datetime) -> dict[str, Any]:
    return {
        "call_pk": call_pk,
        "event": event.event.value,
        "at": aware(event.at),
        "received_at": received,
        "agent": clip(event.agent),
    }


def agents_of(agent_ids: Iterable[str]) -> list[str]:
    """Each agent once, in first-seen order, clipped; blanks dropped."""
    return [a for a in (clip(agent) for agent in dict.fromkeys(agent_ids)) if a]


def note_json(note: AnyRow) -> JSON:
    return {
        "id": note.id,
        "agent": note.agent_id,
        "disposition": note.disposition,
        "notes": clean_text(note.notes) if note.notes else note.notes,
        "created_at": iso(note.created_at),
    }


def call_json(row: AnyRow, call_notes: list[JSON]) -> JSON:
    return {
        "call_id": row.call_id,
        "provider": row.provider,
        "status": row.status,
        "caller": {
            "raw": clean_line(row.caller_raw),
            "e164": row.caller_e164,
            "name": clean_line(row.caller_name),
        },
        "to": clean_line(row.to_number),
        "queue": clean_line(row.queue),
        "answered_by": row.answered_by,
        "received_at": iso(row.received_at),
        "answered_at": iso(row.answered_at),
        "ended_at": iso(row.ended_at),
        "summary": row.summary,
        "notes": call_notes,
    }
