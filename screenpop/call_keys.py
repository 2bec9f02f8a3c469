"""The broker keys of one call's shared state, and the duplicate guard's key of one event.

Every instance derives the same keys from the same event, which is what
lets two instances (or a retry) find the same call.
"""

from __future__ import annotations

from screenpop.model import CallEvent, EventKind
from screenpop.transfers import call_key, recipients_key, ring_time_key, state_key

DEDUPE_TTL_S = 3600
CALL_STATE_TTL_S = 6 * 3600


def call_key_of(event: CallEvent) -> str:
    return call_key(event.provider, event.call_id)


def ring_time_of(event: CallEvent) -> tuple[str, float] | None:
    """Where a ring of one named agent keeps its time, and the time: None when it names no agent or time.

    Kept by the ring's own broker step (``Ring.ring_time``), so a withdrawal
    stamped before it (a ring it replaced) finds it without another round trip.
    """
    if not event.agent or event.at is None:
        return None
    return ring_time_key(event.provider, event.call_id, event.agent), event.at.timestamp()


def state_key_of(event: CallEvent) -> str:
    return state_key(event.provider, event.call_id)


def recipients_key_of(event: CallEvent) -> str:
    return recipients_key(event.provider, event.call_id)


def event_key(event: CallEvent) -> str:
    """The duplicate guard's key: what makes two events the same event.

    (provider, call id, event), as the SPEC says.  A ring or a withdrawal is
    about one agent, so it names the agent; and a call may ring an agent
    again after a withdrawal (a queue's next round), so a ring or a
    withdrawal also names the ring itself when the provider tells rings
    apart: its leg id, else the event's own time.  A replay carries the old
    leg or time and changes nothing; a new ring carries a new one
    (docs/beyond-the-spec.md).  A transfer names where the call went and,
    like a ring, which transfer it was; an answer names who answered, since
    after a transfer the new holder answers the same call (docs/transfers.md).
    """
    key = f"event:{event.provider}:{event.call_id}:{event.event}"  # a StrEnum formats as its value
    if event.event is EventKind.TRANSFERRED:  # where it went, and (below) which transfer that was
        key += f":{event.agent or ''}>{event.queue or ''}"
    elif event.event is EventKind.ANSWERED and event.agent:  # after a transfer the new holder answers too
        key += f":{event.agent}"
    if event.event in (EventKind.RINGING, EventKind.WITHDRAWN, EventKind.TRANSFERRED):
        if event.agent and event.event is not EventKind.TRANSFERRED:
            key += f":{event.agent}"
        if event.leg:
            key += f"#{event.leg}"
        elif event.at is not None:
            key += f"@{event.at.timestamp():.6f}"
    return key
