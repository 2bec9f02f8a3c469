"""Amazon Connect's transfers: a contact made by a transfer, mapped onto the call it continues.

A transfer in Connect makes a *new contact* (contact events: ``INITIATED`` —
"a voice call, chat, or task is initiated or transferred"), whose
``initiationMethod`` is ``TRANSFER`` (an agent's transfer, through a quick
connect) or ``QUEUE_TRANSFER`` (a flow moved it to another queue), whose
``previousContactId`` is the contact it came from and whose
``initialContactId`` is the first contact of the call (Connect API reference,
``Contact`` / ``AssociatedContactSummary``).  screenpop's call id for
Connect is the first contact's id, so every event of a transfer contact is
read against its ``initialContactId``:

- ``QUEUED`` with a queue name: moved to that queue (its members get the card);
- ``CONNECTED_TO_AGENT``: the transfer is complete (a consultation that the
  agent abandoned never connects the customer to the new agent, so it
  moves nothing): the call moves to that agent, who has also answered it;
- other events keep their ordinary meaning, on the first contact's id.

Each transfer contact's own ``contactId`` tells transfers apart (a transfer
back is a new contact); EventBridge's redelivery of one is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from screenpop.model import CallEvent, EventKind

TRANSFER_METHODS = frozenset({"TRANSFER", "QUEUE_TRANSFER"})


def call_id_of(detail: Mapping[str, Any], contact_id: str) -> str:
    """The call a contact belongs to: the first contact's id for a transfer contact, else its own."""
    initial = detail.get("initialContactId")
    if detail.get("initiationMethod") in TRANSFER_METHODS and isinstance(initial, str) and initial:
        return initial
    return contact_id


def is_transfer(detail: Mapping[str, Any]) -> bool:
    return detail.get("initiationMethod") in TRANSFER_METHODS


def moved(
    detail: Mapping[str, Any],
    provider: str,
    call_id: str,
    agent: str | None,
    queue: str | None,
    at: datetime | None = None,
) -> CallEvent:
    """The ``transferred`` event of a transfer contact, told apart from others by that contact's id.

    ``at`` is when Connect says it happened (the agent connected, the contact
    was queued): EventBridge delivers out of order, and a transfer is applied
    by its time (docs/transfers.md), so a late queueing never takes the call
    back from the agent who picked it up.
    """
    contact = detail.get("contactId")
    return CallEvent(
        provider=provider,
        call_id=call_id,
        event=EventKind.TRANSFERRED,
        agent=agent,
        queue=queue,
        at=at,
        leg=f"{contact}:{'agent' if agent else 'queue'}" if isinstance(contact, str) else None,
    )
