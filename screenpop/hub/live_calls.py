"""A tab that starts without a resume position: the calls of the replay window still with its agent.

A tab opened or reloaded while a call rings has no event id to resume from,
and the SPEC's replay only follows a ``resume_from``: the agent lost the card
they were about to answer.  So a fresh hello is sent, after its welcome, the
latest card of every call in the window that still rings for or is held by
the agent, and the status messages since that card (an ``answered``), never
a call that ended, was missed, taken by another agent, withdrawn from this
one or transferred away.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from screenpop.broker import CardViews, Message, id_key

GONE = frozenset({"ended", "missed", "withdrawn", "transferred"})
"""Call statuses after which the call is no longer on this agent's screen."""

ENDED = frozenset({"ended", "missed"})
"""The call's end: no card after it brings it back (late sections of a lookup still arrive)."""


class _Calls:
    """Per call in the window: what would be sent of it, or the version floor a card must pass to come back.

    The same rules as a socket's ``CardOrder`` and the widget's store: a
    late version of an ended call, or of a call transferred away (the
    transfer itself was delivered as the next version), changes nothing; a
    card after a ``withdrawn`` is the agent rung again, and a newer version
    after another agent's answer is the call handed back.
    """

    def __init__(self) -> None:
        self.trails: dict[str, list[Message]] = {}
        self.floors: dict[str, int | None] = {}  # a gone call: the version to pass, None: never again

    def card(self, message: Message, card: CardViews) -> None:
        call_id = card.call_id
        if call_id in self.floors:
            floor = self.floors[call_id]
            if floor is None or card.version <= floor:
                return
            del self.floors[call_id]
        trail = self.trails.get(call_id)
        kept = trail[0].card if trail else None
        if trail is not None and kept is not None and kept.version > card.version:
            return  # an older version that arrived late: the socket would not send it either
        self.trails[call_id] = [message, *(trail or [])[1:]]

    def status(self, agent_id: str, message: Message, body: dict[str, object]) -> None:
        call_id = str(body.get("call_id"))
        trail = self.trails.get(call_id)
        if trail is None:
            return  # its card is older than the window (or it is gone): nothing to show it on
        status, by = body.get("status"), body.get("agent")
        taken = status == "answered" and by is not None and by != agent_id
        if status not in GONE and not taken:
            trail.append(message)
            return
        version = trail[0].card.version if trail[0].card is not None else 0
        del self.trails[call_id]
        floors = {"withdrawn": -1, "transferred": version + 1}
        self.floors[call_id] = None if status in ENDED else floors.get(str(status), version)


def live_calls(agent_id: str, messages: Sequence[Message]) -> list[Message]:
    """What of ``messages`` (the window, in order) shows the agent's live calls, in id order."""
    calls = _Calls()
    for message in messages:
        if message.card is not None:
            calls.card(message, message.card)
        elif (body := _call_status(message.body)) is not None:
            calls.status(agent_id, message, body)
    kept = [message for trail in calls.trails.values() for message in trail]
    return sorted(kept, key=lambda message: id_key(message.event_id))


def _call_status(text: str) -> dict[str, object] | None:
    """A ``call`` message's body, or None for anything else."""
    try:
        body = json.loads(text)
    except ValueError:
        return None  # not a call status this module can read: nothing of it is replayed
    return body if isinstance(body, dict) and body.get("type") == "call" else None
