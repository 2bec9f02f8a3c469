"""The nouns of screenpop as frozen dataclasses.

Frozen so that a card snapshot handed to the broker can never change under
it; every update makes a new value with ``dataclasses.replace``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from screenpop.call_context import KEY_PATTERN, Attributes, CallContext, Direction

JSON = dict[str, Any]


#: The parameters every call binds (``CallerNumber.params``), and those issue 12's
#: call context adds; ``attr_<name>`` parameters come from the call's attributes.
NUMBER_PARAMETERS = ("e164", "national", "digits", "country_code", "region")
CALL_PARAMETERS = (*NUMBER_PARAMETERS, "direction", "line", "call_id")


def is_call_parameter(name: str) -> bool:
    """Whether a call (not a connector) can bind ``name``: ``attr_KEY`` only for a KEY a call can carry."""
    return name in CALL_PARAMETERS or (
        name.startswith("attr_") and is_attribute_key(name.removeprefix("attr_"))
    )


def is_attribute_key(key: str) -> bool:
    """SPEC 3: ``[a-z][a-z0-9_]{0,39}`` (provider keys are lower-cased to it; generic refuses others)."""
    return KEY_PATTERN.fullmatch(key) is not None


@dataclass(frozen=True, slots=True)
class CallerNumber:
    """A caller's number as typed by the phone system, and what it means.

    ``e164`` is None when the number is withheld or cannot be parsed; then
    ``digits`` holds the digits as given so connectors can still try them.
    """

    raw: str
    e164: str | None
    national: str | None
    international: str | None
    digits: str
    country_code: int | None
    region: str | None
    valid: bool
    withheld: bool
    location: str | None = None
    type: str | None = None
    extension: str | None = None

    def params(self) -> dict[str, str]:
        """The parameters bound into every connector's query or URL (SPEC 3)."""
        return {
            "e164": self.e164 or self.digits,
            "national": self.national or self.digits,
            "digits": self.digits,
            "country_code": str(self.country_code or ""),
            "region": self.region or "",
        }

    def to_json(self, name: str | None = None) -> JSON:
        return {
            "raw": self.raw,
            "e164": self.e164,
            "national": self.national,
            "international": self.international,
            "valid": self.valid,
            "withheld": self.withheld,
            "region": self.region,
            "location": self.location,
            "type": self.type,
            "name": name,
        }


class SectionStatus(StrEnum):
    PENDING = "pending"
    OK = "ok"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    ERROR = "error"
    SKIPPED = "skipped"

    @property
    def final(self) -> bool:
        return self is not SectionStatus.PENDING


@dataclass(frozen=True, slots=True)
class Section:
    """One connector's part of the card.

    ``rows`` counts the rows the connector matched for a ``rows: one``
    connector (more than one is a possible duplicate); ``age_s`` is set when
    the data was served stale from the cache.
    """

    status: SectionStatus = SectionStatus.PENDING
    title: str | None = None
    data: JSON | None = None
    error: str | None = None
    elapsed_ms: int | None = None
    rows: int = 0
    age_s: float | None = None
    cached: bool = False
    others: tuple[JSON, ...] = field(default=(), compare=False)

    def to_json(self) -> JSON:
        out: JSON = {"status": self.status.value}
        if self.elapsed_ms is not None:
            out["elapsed_ms"] = self.elapsed_ms
        if self.title is not None:
            out["title"] = self.title
        if self.data is not None:
            out["data"] = self.data
        if self.error is not None:
            out["error"] = self.error
        if self.cached:
            out["cached"] = True
        if self.age_s is not None:
            out["age_s"] = round(self.age_s, 1)
        return out


class EventKind(StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    MISSED = "missed"
    WITHDRAWN = "withdrawn"
    """The call stopped ringing for one agent (``agent``) but goes on for others."""
    TRANSFERRED = "transferred"
    """The call moved to ``agent`` and/or ``queue`` (from ``from_agent``): see ``screenpop.transfers``."""


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A phone system's news about a call, in one shape for every provider.

    ``agents`` names the agents the provider itself says the call rings for
    (TaskRouter reservations, AMI queue members); ``agent`` on ``answered``
    is who took it.  ``leg`` is the provider's own id of the one ring a
    ``ringing`` or ``withdrawn`` is about (an Asterisk member channel's
    ``DestUniqueid``, a Twilio child leg's ``CallSid``, a TaskRouter
    ``ReservationSid``): a queue ringing an agent again makes a new one,
    a replay repeats the old one.
    """

    provider: str
    call_id: str
    event: EventKind
    from_raw: str = ""
    to: str | None = None
    caller_name: str | None = None
    agent: str | None = None
    queue: str | None = None
    at: datetime | None = None
    forwarded_from: str | None = None
    leg: str | None = None
    direction: Direction = Direction.INBOUND
    attributes: Attributes = field(default_factory=dict, repr=False, compare=False)
    """Attributes as the provider sent them (may hold ``secret_`` ones: never logged, never stored)."""
    from_agent: str | None = None  # a transfer's sender, when the provider names one


@dataclass(frozen=True, slots=True)
class Badge:
    section: str
    text: str
    level: str

    def to_json(self) -> JSON:
        return {"section": self.section, "text": self.text, "level": self.level}


@dataclass(frozen=True, slots=True)
class Conflict:
    """Why the agent may be looking at a duplicate customer.

    ``kind`` is ``identity`` when connectors disagree on a field and
    ``rows`` when one connector found several rows for the number.
    """

    kind: str
    field: str
    values: tuple[str, ...]
    sections: tuple[str, ...]

    def to_json(self) -> JSON:
        return {
            "kind": self.kind,
            "field": self.field,
            "values": list(self.values),
            "sections": list(self.sections),
        }


@dataclass(frozen=True, slots=True)
class Customer:
    name: str | None = None
    ids: dict[str, str] = field(default_factory=dict)
    matches: int = 0
    conflicts: tuple[Conflict, ...] = ()
    found_by: str | None = None
    """``number``, ``attribute:KEY`` (an IVR key found the customer, not the number), or None."""

    def to_json(self) -> JSON:
        return {
            "name": self.name,
            "ids": dict(self.ids),
            "matches": self.matches,
            "conflicts": [c.to_json() for c in self.conflicts],
            "found_by": self.found_by,
        }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    call_id: str
    at: str
    agent: str | None
    disposition: str | None
    notes: str | None

    def to_json(self) -> JSON:
        return {
            "call_id": self.call_id,
            "at": self.at,
            "agent": self.agent,
            "disposition": self.disposition,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class Card:
    """One snapshot of a caller card: what every agent it rings for may see.

    Role filtering, the customer block and badges are derived from it when
    it is rendered for a role (see ``screenpop.card``), so that a hidden
    section can never leak through a derived field.
    """

    call_id: str
    caller: CallerNumber
    received_at: str
    sections: Mapping[str, Section]
    caller_name: str | None = None
    status: str = "ringing"
    agent: str | None = None
    queue: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    version: int = 1
    complete: bool = False
    context: CallContext = field(default_factory=CallContext)
    """Direction, line and attributes (rendered without its ``secret_`` attributes)."""
    transfers: tuple[JSON, ...] = ()  # [{"from_agent", "to_agent", "to_queue", "at"}], oldest first
    handoff: tuple[JSON, ...] = ()  # the notes saved on the call before its latest transfer
