"""TaskRouter's task transfers (Twilio Flex) as ``transferred`` events.

TaskRouter reports a transfer of a task on the Workspace's event callback
(``task.transfer-initiated``, ``-completed``, ``-attempt-failed``,
``-failed``, ``-canceled``), describing the transfer as the TaskRouter SDK's
``Transfer`` object does: its ``mode`` (``WARM`` or ``COLD``), ``type``
(``WORKER`` or ``QUEUE``), ``to`` (the worker's or queue's sid), the
initiating ``workerSid`` and the transfer's own ``sid``.  The callback's
parameter names used here (``TransferMode``, ``TransferType``,
``TransferTo``, ``TransferInitiatingWorkerSid``, ``TransferSid``) are read
as docs/phone-systems.md records them, with its sources and what is not
verified.

- a COLD transfer moves the call when it is initiated: the sender has
  already left it;
- a WARM transfer is a consultation until it completes: ``initiated``
  moves nothing, ``completed`` moves it; a failed or canceled one never does;
- to a worker: ``TransferTo`` (the worker sid), else ``WorkerName``, through
  the provider's ``agents`` map (which may name worker sids as well as
  names); to a queue: ``TaskQueueName`` (the queue the task is in now), else
  ``TransferTo``;
- the transfer's ``TransferSid`` tells transfers apart (a transfer back is a
  new one; Twilio's retry of one is not), so an initiated COLD transfer and
  its completion are one event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from screenpop.model import CallEvent, EventKind
from screenpop.providers.signing import agent_for

INITIATED = "task.transfer-initiated"
COMPLETED = "task.transfer-completed"
TRANSFER_EVENTS = frozenset({INITIATED, COMPLETED})


def transfer_event(
    p: Mapping[str, str],
    provider: str,
    agents: Mapping[str, str],
    attributes: Mapping[str, Any],
    when: Callable[[str | None], datetime | None],
) -> list[CallEvent]:
    """The ``transferred`` event a task transfer stands for, or nothing (a consultation going on)."""
    call_id = attributes.get("call_sid")
    if not isinstance(call_id, str) or not call_id:
        return []
    if p.get("EventType") == INITIATED and p.get("TransferMode", "").upper() != "COLD":
        return []  # a warm transfer is a consultation until it completes
    to_queue = p.get("TransferType", "").upper() == "QUEUE"
    target = p.get("TransferTo") or None
    agent = None if to_queue else _agent(agents, target, p.get("WorkerName"), provider)
    frm = p.get("TransferInitiatingWorkerSid")
    caller = attributes.get("from")
    return [
        CallEvent(
            provider=provider,
            call_id=call_id,
            event=EventKind.TRANSFERRED,
            from_raw=caller if isinstance(caller, str) else "",
            agent=agent,
            queue=(p.get("TaskQueueName") or target) if to_queue else None,
            at=when(p.get("Timestamp")),
            leg=p.get("TransferSid") or None,
            from_agent=agents.get(frm) if frm else None,
        )
    ]


def _agent(agents: Mapping[str, str], sid: str | None, name: str | None, provider: str) -> str | None:
    if sid and sid in agents:
        return agents[sid]
    return agent_for(agents, name, provider) if name else sid
