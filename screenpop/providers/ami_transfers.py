"""Asterisk's transfers (AMI ``BlindTransfer`` and ``AttendedTransfer``) as ``transferred`` events.

Both events are raised when a transfer is *complete* (Asterisk docs, AMI
events BlindTransfer and AttendedTransfer, since 12), so a consultation that
is still going on, or one the agent abandoned, raises nothing and moves
nothing.  Only ``Result: Success`` moves the call.

- call id: the transferee's ``Linkedid`` (the customer's channel: the call's
  oldest channel, as every other AMI event's call id);
- where it went: ``BlindTransfer`` names the dialplan ``Extension``;
  ``AttendedTransfer`` names the ``TransferTargetChannel`` (a device such as
  ``PJSIP/202-0000001a``, or a ``Local/202@context-…;1`` channel) and its
  ``TransferTargetCallerIDNum``.  Each is looked up in the provider's
  ``agents`` map (device, extension); a target that is no agent leaves the
  card with nobody until a queue rings its members (``AgentCalled``), which
  then hands the card on;
- who sent it: the transferer's device (``TransfererChannel``,
  ``OrigTransfererChannel``) through the same map;
- which transfer: the transferee's ``Uniqueid`` plus the transferer's, so a
  transfer back is a new event and a replayed stream changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from screenpop.model import CallEvent, EventKind
from screenpop.providers.ami_protocol import Packet

LEG_SUFFIX = re.compile(r"-[0-9a-fA-F]+(;\d+)?$")
LOCAL_EXTEN = re.compile(r"^Local/([^@]+)@")
TRANSFER_EVENTS = ("BlindTransfer", "AttendedTransfer")


def transfer_event(packet: Packet, provider: str, agents: Mapping[str, str]) -> list[CallEvent]:
    """The ``transferred`` event a completed transfer stands for; nothing for a failed one."""
    kind = packet.get("Event")
    call_id = packet.get("TransfereeLinkedid") or packet.get("TransfereeUniqueid")
    if kind not in TRANSFER_EVENTS or packet.get("Result") != "Success" or not call_id:
        return []
    if kind == "BlindTransfer":
        names = [packet.get("Extension")]
        sender = packet.get("TransfererChannel")
    else:
        target = packet.get("TransferTargetChannel", "")
        names = [_device(target), _local_exten(target), packet.get("TransferTargetCallerIDNum")]
        sender = packet.get("OrigTransfererChannel")
    agent = _agent(names, agents)
    number = packet.get("TransfereeCallerIDNum", "")
    return [
        CallEvent(
            provider=provider,
            call_id=call_id,
            event=EventKind.TRANSFERRED,
            from_raw="" if number == "<unknown>" else number,
            agent=agent or next((n for n in names if n), None),
            from_agent=_agent([_device(sender or "")], agents),
            leg=f"{packet.get('TransfereeUniqueid', '')}/{_transferer_leg(packet)}",
        )
    ]


def _transferer_leg(packet: Packet) -> str:
    return packet.get("TransfererUniqueid") or packet.get("SecondTransfererUniqueid") or ""


def _agent(names: list[str | None], agents: Mapping[str, str]) -> str | None:
    return next((agents[n] for n in names if n and n in agents), None)


def _device(channel: str) -> str:
    """``PJSIP/202-0000001a`` -> ``PJSIP/202`` (the device, as ``agents`` names it)."""
    return LEG_SUFFIX.sub("", channel)


def _local_exten(channel: str) -> str | None:
    found = LOCAL_EXTEN.match(channel)
    return found.group(1) if found else None
