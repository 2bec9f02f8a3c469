"""Asterisk AMI events -> ``CallEvent``s: which event means what for which agent.

Pure translation, apart from the link that reads the events
(``asterisk_ami.AmiListener``): ``AmiTranslator`` keeps only what it needs to
tell a missed call from an answered one (the calls it saw answered), so a
recorded AMI stream can be replayed through ``parse_ami_stream``.  The event
rules are listed in ``asterisk_ami``'s docstring.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from screenpop.call_context import normalise_provider_attributes
from screenpop.config import ProviderSettings
from screenpop.model import CallEvent, EventKind
from screenpop.providers.ami_protocol import Packet, split_packets
from screenpop.providers.ami_transfers import TRANSFER_EVENTS, transfer_event
from screenpop.providers.signing import agent_for

UNKNOWN = "<unknown>"  # how AMI prints an empty caller id
REMEMBERED_CALLS = 10_000
# DialEnd statuses of a device that rang and no longer does (Asterisk's DialStatus values)
STOPPED_RINGING = frozenset({"NOANSWER", "BUSY", "CANCEL", "CHANUNAVAIL", "CONGESTION"})
LEG_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;\d+)?$")
DID_VARIABLE = "FROM_DID"  # FreePBX sets it on every inbound route; any dialplan can Set(__FROM_DID=${EXTEN})
DIALLED_NUMBER = re.compile(r"\+?[0-9]{7,15}")  # a DID, not a queue's or a device's short extension


class AmiTranslator:
    """AMI event packets -> CallEvents for one provider block.

    It remembers which calls an agent answered (a bounded number of them) so
    that the caller's ``Hangup`` can say ended or missed.
    """

    def __init__(self, provider: str, agents: Mapping[str, str]) -> None:
        self.provider = provider
        self.agents = agents
        self.answered: OrderedDict[str, None] = OrderedDict()

    def translate(self, packet: Packet) -> list[CallEvent]:
        if packet.get("Event") in TRANSFER_EVENTS:
            return transfer_event(packet, self.provider, self.agents)
        handler = {
            "AgentCalled": self._agent_called,
            "DialBegin": self._dial_begin,
            "AgentConnect": self._agent_connect,
            "AgentRingNoAnswer": self._agent_ring_no_answer,
            "DialEnd": self._dial_end,
            "Hangup": self._hangup,
        }.get(packet.get("Event", ""))
        call_id = packet.get("Linkedid") or packet.get("Uniqueid")
        if handler is None or not call_id:
            return []
        event = handler(packet, call_id)
        return [event] if event else []

    def _agent_called(self, p: Packet, call_id: str) -> CallEvent:
        event = self._event(p, call_id, EventKind.RINGING, self._member_agent(p), p.get("Queue") or None)
        return replace(event, attributes=channel_variables(p), to=dialled_number(p))

    def _agent_ring_no_answer(self, p: Packet, call_id: str) -> CallEvent | None:
        agent = self._member_agent(p)
        return self._event(p, call_id, EventKind.WITHDRAWN, agent, p.get("Queue") or None) if agent else None

    def _dial_begin(self, p: Packet, call_id: str) -> CallEvent | None:
        agent = self._dialled_agent(p)
        return (
            replace(self._event(p, call_id, EventKind.RINGING, agent, None), to=dialled_number(p))
            if agent
            else None
        )

    def _agent_connect(self, p: Packet, call_id: str) -> CallEvent:
        self._remember(call_id)
        return self._event(p, call_id, EventKind.ANSWERED, self._member_agent(p), p.get("Queue") or None)

    def _dial_end(self, p: Packet, call_id: str) -> CallEvent | None:
        agent = self._dialled_agent(p)
        status = p.get("DialStatus")
        if not agent:
            return None
        if status == "ANSWER":
            self._remember(call_id)
            return self._event(p, call_id, EventKind.ANSWERED, agent, None)
        if status in STOPPED_RINGING:
            return self._event(p, call_id, EventKind.WITHDRAWN, agent, None)
        return None

    def _hangup(self, p: Packet, call_id: str) -> CallEvent | None:
        if p.get("Uniqueid") != p.get("Linkedid"):
            return None  # an agent's leg, not the caller's channel
        kind = EventKind.ENDED if call_id in self.answered else EventKind.MISSED
        self.answered.pop(call_id, None)
        return self._event(p, call_id, kind, None, None)

    def _event(
        self, p: Packet, call_id: str, kind: EventKind, agent: str | None, queue: str | None
    ) -> CallEvent:
        number = p.get("CallerIDNum", "")
        name = p.get("CallerIDName", "")
        return CallEvent(
            provider=self.provider,
            call_id=call_id,
            event=kind,
            from_raw="" if number == UNKNOWN else number,
            caller_name=None if name in ("", UNKNOWN) else name,
            agent=agent,
            queue=queue,
            at=_timestamp(p.get("Timestamp")),
            leg=(p.get("DestUniqueid") or None) if kind in RING_EVENTS else None,
        )

    def _member_agent(self, p: Packet) -> str | None:
        for key in ("Interface", "MemberName"):
            if p.get(key) in self.agents:
                return self.agents[p[key]]
        return agent_for(self.agents, p.get("Interface") or p.get("MemberName"), self.provider)

    def _dialled_agent(self, p: Packet) -> str | None:
        """A direct dial's target: its device (``PJSIP/201``), extension or dial string."""
        device = LEG_SUFFIX.sub("", p.get("DestChannel", ""))
        for name in (device, p.get("DestCallerIDNum"), p.get("DestExten"), p.get("DialString")):
            if name and name in self.agents:
                return self.agents[name]
        return None

    def _remember(self, call_id: str) -> None:
        self.answered[call_id] = None
        self.answered.move_to_end(call_id)
        while len(self.answered) > REMEMBERED_CALLS:
            self.answered.popitem(last=False)


RING_EVENTS = (EventKind.RINGING, EventKind.WITHDRAWN)
"""Events about one ring of one member: their leg is the member channel's ``DestUniqueid``."""


def channel_variables(p: Packet) -> dict[str, Any]:
    """The caller channel's variables (``ChanVariable: NAME=value`` lines) as the call's attributes.

    Asterisk adds them to every event about a channel for the variables
    listed in ``manager.conf`` ``channelvars=``; names are lower-cased
    (``ACCOUNT_ID`` -> ``account_id``) by ``normalise_provider_attributes``.
    """
    found = {name: value for name, value in _variables(p).items() if name.upper() != DID_VARIABLE}
    return normalise_provider_attributes(found)


def dialled_number(p: Packet) -> str | None:
    """The number the caller dialled (the call's ``to``, which picks its line), when the event says it.

    An AMI event has no field for it: the caller channel's ``Exten`` is where
    the dialplan is now, which is the DID only when the DID's own extension
    runs ``Queue()`` (``exten => 18005550100,1,Queue(support)``); behind
    FreePBX's routes it is the queue's number (``600``).  So a ``FROM_DID``
    channel variable comes first, then an ``Exten`` long enough to be a
    phone number; a short extension is no DID and names no line.
    """
    variables = {name.upper(): value for name, value in _variables(p).items()}
    for candidate in (variables.get(DID_VARIABLE, "").strip(), p.get("Exten", "").strip()):
        if DIALLED_NUMBER.fullmatch(candidate):
            return candidate
    return None


def _variables(p: Packet) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in p.get("ChanVariable", "").split("\n"):
        name, sep, value = line.partition("=")
        if sep and name:
            found[name] = value
    return found


def _timestamp(value: str | None) -> datetime | None:
    """``Timestamp: 1757529152.851`` (with ``timestampevents = yes`` in manager.conf)."""
    try:
        return datetime.fromtimestamp(float(value), tz=UTC) if value else None
    except (ValueError, OverflowError):
        return None


def parse_ami_stream(text: str, settings: ProviderSettings | None = None) -> list[CallEvent]:
    """The call events a captured AMI stream (banner, responses and events) stands for.

    Used by ``screenpop ami-replay FILE``; without ``settings`` no agent is
    mapped and the provider is called ``asterisk``.
    """
    translator = AmiTranslator(settings.name if settings else "asterisk", settings.agents if settings else {})
    return [event for packet in split_packets(text) for event in translator.translate(packet)]
