"""From a call event to its ``CallContext``: which line was dialled, which number the card is about.

Pure functions of the settings and the event (SPEC 3 "Calls beyond the
caller's number"): the generic webhook and every provider only say what the
phone system said; this is where ``lines:`` and ``direction`` are read.
"""

from __future__ import annotations

from screenpop.call_context import CallContext, Direction
from screenpop.config import LineSettings, Settings
from screenpop.model import CallEvent
from screenpop.phone import parse_caller


def looked_up_raw(event: CallEvent) -> str:
    """The number the card is about: the caller's, or for an outbound call the number dialled."""
    if event.direction is Direction.OUTBOUND:
        return event.to or ""
    return event.from_raw


def our_number(event: CallEvent) -> str | None:
    """The contact center's own number on the call: dialled by the caller, or shown when dialling out."""
    return event.from_raw if event.direction is Direction.OUTBOUND else event.to


def line_of(settings: Settings, event: CallEvent) -> LineSettings | None:
    """The configured line the call came in on (or, outbound, went out from), if any."""
    if not settings.lines:
        return None
    ours = our_number(event)
    if not ours:
        return None
    return settings.line(parse_caller(ours, settings.numbers.default_region).e164)


def context_for(settings: Settings, event: CallEvent) -> CallContext:
    """What connectors get bound besides the number: direction, line, call id, attributes."""
    line = line_of(settings, event)
    return CallContext(
        call_id=event.call_id,
        direction=event.direction,
        line=line.name if line else None,
        dialled=event.to,
        attributes=event.attributes,
    )
