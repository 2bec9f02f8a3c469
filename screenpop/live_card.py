"""A card being built on this instance: what ``CallService`` keeps of each call it pops.

``LiveCall`` lives from the ringing to the complete card (and its transfers
and updates meanwhile read it); ``Opening`` is a ringing's first version,
rendered before the broker says for whom it pops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from screenpop.broker import CardViews
from screenpop.card_text import CardEncoder
from screenpop.generation import Generation
from screenpop.model import Card


@dataclass
class LiveCall:
    """A card being built on this instance, and who receives it."""

    card: Card
    recipients: dict[str, str] = field(default_factory=dict)  # agent id -> role
    answered_by: str | None = None
    provider: str | None = None  # whose call id this is (ids are unique per provider only)
    views: CardViews | None = None  # the last version published to every recipient (kept for transfers)
    generation: Generation | None = None  # the config it is built on: its later events use it too
    encoder: CardEncoder | None = None  # its versions' text, each section encoded once


@dataclass(frozen=True, slots=True)
class Opening:
    """A ringing's card, rendered before the broker says whom it pops for (``Broker.ring``)."""

    roles: dict[str, str]  # agent id -> role: whom the event rings
    live: LiveCall | None  # the card being built here already, if any
    card: Card
    views: CardViews
    encoder: CardEncoder  # the new card's (or the live card's): its later versions reuse its pieces
