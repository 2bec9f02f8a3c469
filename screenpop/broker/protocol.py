"""How messages reach agents, wherever their sockets are: the Broker Protocol and what it carries.

Every card goes through the broker, even to a socket on this instance, so one
instance and many behave the same.  Messages are per agent (a queue call is
one delivery per member), because replay is per agent.  What a socket may see
depends on the role of that socket's token, not only on the agent (two tabs of
one agent may hold tokens with different roles), so a card message carries
one rendering per *view* (a distinct set of hidden sections among the
configured roles) and the hub picks, when it sends, the view of the socket's
role.  The broker also holds the small shared state that must agree across
instances: the duplicate-event guard and the per-call facts (answered by whom,
who got the card).

Frames are JSON text; the broker splices the event id in front of a body
that was serialised once, so a card for a hundred agents is encoded once per
view, not once per agent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class View:
    """One rendering of a card, for every role that hides exactly ``hidden``.

    ``shown`` names the sections whose data this body carries: what the audit
    records as seen when the body reaches a socket (pending, failed or
    hidden sections carry no data, so they are not "seen").
    """

    hidden: frozenset[str]
    body: str
    shown: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CardViews:
    """One card version in every view the configured roles need."""

    call_id: str
    version: int
    views: tuple[View, ...]
    provider: str | None = None  # whose call id: the audit names it (ids are unique per provider only)

    def view_for(self, hidden: frozenset[str]) -> View | None:
        """The view made for ``hidden``; failing that, the one hiding least of those hiding at least it.

        The fallback only matters when instances disagree on the roles (a
        rolling config change): a socket then gets less, never more.
        """
        best: View | None = None
        for view in self.views:
            if view.hidden == hidden:
                return view
            if view.hidden >= hidden and (best is None or len(view.hidden) < len(best.hidden)):
                best = view
        return best


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for one agent.

    ``body`` is a JSON object's text without ``event_id``, the same for every
    socket of the agent (a call status); a card has ``card`` instead, one
    body per view.
    """

    agent_id: str
    body: str = ""
    card: CardViews | None = None

    @property
    def content(self) -> str | CardViews:
        """What is shared between deliveries of one publish (a queue call's card is one value)."""
        return self.body if self.card is None else self.card


@dataclass(frozen=True, slots=True)
class Message:
    """A published delivery with its event id: what listeners get and what replay gives back."""

    agent_id: str
    event_id: str
    body: str = ""
    card: CardViews | None = None

    @classmethod
    def of(cls, delivery: Delivery, event_id: str) -> Message:
        return cls(delivery.agent_id, event_id, delivery.body, delivery.card)

    def frame_for(self, hidden: frozenset[str]) -> tuple[str, View | None] | None:
        """The frame for a socket whose role hides ``hidden``, and the card view it carries.

        None when this card has no view such a socket may see.
        """
        if self.card is None:
            return frame_with_id(self.event_id, self.body), None
        view = self.card.view_for(hidden)
        if view is None:
            return None
        return frame_with_id(self.event_id, view.body), view


@dataclass(frozen=True, slots=True)
class Ring:
    """A ringing event's shared-state step, made in one go (``Broker.ring``).

    The card is rendered before it is known whom it pops for: rendering is
    pure and cheap, and a round trip to ask first would cost more than the
    rendering that a duplicate throws away.
    """

    event_key: str  # the duplicate guard's key, claimed for ``event_ttl_s``
    event_ttl_s: int
    state_key: str  # the call's state (answered, over, transferred): when set, nothing pops
    recipients_key: str  # the set of agents holding the call's card, kept ``recipients_ttl_s``
    agents: tuple[str, ...]  # whom the event rings
    recipients_ttl_s: int
    card: CardViews  # what the agents new to the set get
    ring_time: tuple[str, float] | None = None
    """(key, the provider's time of this ring): kept, once claimed, when later than the time kept there."""


@dataclass(frozen=True, slots=True)
class Rung:
    """What ``Broker.ring`` did: claimed the event?, the call's state, and whom the card popped for.

    A duplicate (not claimed) reads nothing: its state is None, its ``new`` empty.
    """

    claimed: bool
    state: str | None = None
    new: tuple[str, ...] = ()


Value = tuple[str, str]
"""A shared value's key and the value to put there."""


@dataclass(frozen=True, slots=True)
class Moved:
    """What ``Broker.move_members`` did: applied (no later move was), and the members held before."""

    applied: bool
    before: list[str] | None = None  # None: there was no set (or the move was not applied)


FrameHandler = Callable[[Message], None]
"""Called with every message published to any agent."""


def frame_with_id(event_id: str, body: str) -> str:
    """Put ``event_id`` first in an already-encoded JSON object."""
    return f'{{"event_id":"{event_id}"{body_tail(body)}'


def body_tail(body: str) -> str:
    """A JSON object's text after its ``{``, with the comma a member put before it needs."""
    rest = body[1:].lstrip()
    return rest if rest.startswith("}") else "," + rest


def id_key(event_id: str) -> tuple[int, int]:
    """Order of Redis-style ``<ms>-<seq>`` ids; an unreadable id sorts first."""
    ms, _, seq = event_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (-1, -1)


MAX_ID_PART = 2**64 - 1


def parse_id(event_id: str) -> tuple[int, int] | None:
    """An id some broker could have issued, as a position; None for a client's junk.

    Junk never reaches XRANGE, and is never handed back to a client as its
    position (``format_id`` writes the one form every broker issues).
    """
    ms, seq = id_key(event_id)
    if ms < 0 or seq < 0 or ms > MAX_ID_PART or seq > MAX_ID_PART:
        return None
    return ms, seq


def format_id(position: tuple[int, int]) -> str:
    return f"{position[0]}-{position[1]}"


def to_fields(delivery: Delivery) -> list[str]:
    """A delivery as the flat name, value list of a stream entry (Redis keeps these).

    A plain message is ``b``; a card is ``c`` (call, version, and per view its
    hidden and shown sections) with the bodies beside it as ``b0``, ``b1``…,
    so that no body is escaped into another JSON string.
    """
    card = delivery.card
    if card is None:
        return ["b", delivery.body]
    meta = {
        "call": card.call_id,
        "version": card.version,
        "views": [[sorted(view.hidden), list(view.shown)] for view in card.views],
        "provider": card.provider,
    }
    fields = ["c", json.dumps(meta, separators=(",", ":"))]
    for index, view in enumerate(card.views):
        fields += [f"b{index}", view.body]
    return fields


def from_fields(agent_id: str, event_id: str, fields: Mapping[str, str]) -> Message:
    """The message a stream entry holds; raises ValueError, KeyError or TypeError when it is malformed."""
    meta = fields.get("c")
    if meta is None:
        return Message(agent_id, event_id, fields["b"])
    parsed = json.loads(meta)
    views = tuple(
        View(frozenset(map(str, hidden)), fields[f"b{index}"], tuple(map(str, shown)))
        for index, (hidden, shown) in enumerate(parsed["views"])
    )
    card = CardViews(str(parsed["call"]), int(parsed["version"]), views, parsed.get("provider"))
    return Message(agent_id, event_id, card=card)


class Broker(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def health(self) -> str:
        """``ok``, or ``down: <reason>`` for /readyz."""
        ...

    def listen(self, handler: FrameHandler) -> None: ...

    async def publish(self, deliveries: Sequence[Delivery]) -> None: ...

    async def latest_id(self, agent_id: str) -> str:
        """A position in the agent's stream: resuming from it replays what comes after."""
        ...

    async def replay(self, agent_id: str, after: str) -> tuple[list[Message], bool]:
        """Messages published after ``after`` within the replay window, and whether that is all of them."""
        ...

    async def claim(self, key: str, ttl_s: int) -> bool:
        """True the first time ``key`` is claimed within ``ttl_s`` (the duplicate guard)."""
        ...

    async def claim_and_get(self, key: str, ttl_s: int, other: str) -> tuple[bool, str | None]:
        """``claim(key)`` and ``get(other)`` in one round trip (the webhook's hot path)."""
        ...

    async def ring(self, ring: Ring) -> Rung:
        """Claim a ringing event, read its call's state and, when there is none, pop its card.

        Popping adds ``ring.agents`` to the recipients set and publishes the
        card to those the set did not hold (``Rung.new``).  A duplicate, or a
        call with state, changes nothing else and the card is dropped.  As
        atomic as ``claim`` and ``add_members`` are, and on Redis one round
        trip for all of it.  When it raises it has changed nothing: the
        sender's retry is handled afresh.
        """
        ...

    async def release(self, key: str) -> None:
        """Forget a claim, so the same key can be claimed again."""
        ...

    async def put(self, key: str, value: str, ttl_s: int) -> None: ...

    async def keep_latest(self, key: str, stamp: float, ttl_s: int) -> None:
        """Keep ``stamp`` under ``key`` unless a later one is kept there (atomic: a late event never wins)."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def add_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str]:
        """Add ``members`` to the set at ``key`` (made if need be, kept ``ttl_s``); those not in it before.

        Atomic: of several instances adding one member at once, exactly one
        is told it is new (the recipients of a call: only that one pops it).
        """
        ...

    async def remove_member(self, key: str, member: str) -> bool:
        """Take ``member`` out of the set at ``key``; True only for the caller that took it out."""
        ...

    async def replace_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str] | None:
        """Make ``members`` the whole set at ``key`` (kept ``ttl_s``); the members it held before (sorted).

        None when there was no set.  Atomic: of two instances moving one call
        at once, each sees the other's whole set, so every earlier holder is
        told once, by the transfer that took it out.
        """
        ...

    async def move_members(
        self, key: str, members: Sequence[str], ttl_s: int, latest_key: str, at: float | None, state: Value
    ) -> Moved:
        """``replace_members``, unless a move stamped later than ``at`` was applied (kept at ``latest_key``).

        Phone systems retry and reorder their webhooks: a transfer that
        arrives after a later one must not take the call back.  ``at`` None
        (no time given) is applied, in arrival order.  An applied move also
        puts ``state`` (the call's state: key, value).  The check, the move
        and the state are one atomic step (one Lua call on Redis), so it
        holds across instances, and a ring racing the move either comes
        wholly before it or finds the state; an applied move keeps its time.
        """
        ...

    async def put_newer(self, key: str, value: str, version: int, ttl_s: int) -> bool:
        """Keep ``value`` as version ``version`` unless a version at least as new is kept; True if kept.

        Atomic: an instance late with an older version of a call's card never
        replaces the newer one another instance kept meanwhile.
        """
        ...

    async def members(self, key: str) -> list[str] | None:
        """The set at ``key`` (sorted), or None when no set was made there within its time to live.

        A set whose members were all removed is still there (empty), so that
        "everyone was withdrawn" is told apart from "nothing is known".
        """
        ...


def version_key(key: str) -> str:
    """Where the version of the value at ``key`` is kept (``Broker.put_newer``).

    ``key`` stays whole segments of it, so that ``erase`` finds a call's
    version where it finds the call's other keys (``{provider}:{call_id}``).
    """
    return f"version:{key}"


def stamp_text(stamp: float) -> str:
    """A provider's time as the broker keeps it (``keep_latest``): seconds, to the microsecond."""
    return f"{stamp:.6f}"
