"""Transfers: the call moves to another agent or queue, and its card goes with it (SPEC 4 and 5).

What the rest of the service needs from a transfer, kept here so that
``calls.py`` only decides *when* (state, dedupe) and this module *what*:

- who receives the call now (``targets``): the named agent, else the queue's
  members; nobody when the call left the directory (an outside number);
- the atomic move of the call's recipients (``TransferDesk.move``): the
  shared set is replaced in one step (``Broker.replace_members``, one Lua
  call on Redis), and the step answers who held it before, so of two
  instances racing each earlier holder is told once;
- the card as it stands, on whichever instance takes the transfer
  (``remember`` / ``stored``): the last card version's views are kept in the
  broker, so a transfer arriving on an instance that never built the card,
  or after the card was complete, sends the sections as they stand without
  running a connector again;
- the card's ``transfers`` (a shared set of entries, added atomically, never
  a read-modify-write list) and ``handoff`` (the notes saved on the call, read
  from the store).

A transfer is never a pop: the card a transfer delivers is the next version
of the call's card (``version`` >= 2), so "at most one pop per agent per call"
means "at most one ``version: 1`` card per agent per call", and it holds for
a transfer back, a warm transfer and two devices alike (docs/transfers.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from screenpop.broker import Broker, CardViews, Delivery, View
from screenpop.card_text import compact
from screenpop.config import Settings
from screenpop.generation import Generations
from screenpop.model import JSON, CallEvent
from screenpop.routing import queue_members
from screenpop.store import Store
from screenpop.untrusted import clean_json

STATE_TTL_S = 6 * 3600  # as long as the rest of a call's shared state
HANDOFF_FIELDS = (
    ("agent", "agent"),
    ("disposition", "disposition"),
    ("notes", "notes"),
    ("at", "created_at"),
)
"""A hand-off entry's fields and the stored note's field each comes from."""


@dataclass(frozen=True, slots=True)
class StoredCard:
    """The latest card version of a call, in every view, as the broker keeps it for a transfer."""

    version: int
    views: tuple[View, ...]

    def to_text(self) -> str:
        """Each view's body goes in as the JSON it already is, not escaped again inside a string.

        Every card version is kept like this while a card is built, so
        encoding a body a second time (every quote escaped) was paid on
        every version of every call, for a transfer that seldom comes.
        """
        views = ",".join(f"[{compact(sorted(v.hidden))},{compact(v.shown)},{v.body}]" for v in self.views)
        return f'{{"v":{self.version},"views":[{views}]}}'

    @classmethod
    def from_text(cls, text: str) -> StoredCard:
        """Also reads the former layout, where a body was a JSON string (a rolling upgrade)."""
        data = json.loads(text)
        views = tuple(View(frozenset(h), _body_text(b), tuple(s)) for h, s, b in data["views"])
        return cls(int(data["v"]), views)


def _body_text(body: Any) -> str:
    """A view's body as the text a socket is sent: re-encoded exactly as ``card_text`` made it."""
    return body if isinstance(body, str) else compact(body)


@dataclass(frozen=True, slots=True)
class TransferLog:
    """A call's transfers as the broker keeps them: the card's list, and where the call is now."""

    entries: tuple[JSON, ...]  # the card's ``transfers``: oldest first, by the provider's time
    latest: int  # the card version the newest transfer was delivered as (0: none)
    current: JSON | None  # that transfer: where the call is


@dataclass(frozen=True, slots=True)
class Move:
    """What a transfer changed: who held the call before (None: nobody was known to), who holds it now."""

    before: list[str] | None
    now: dict[str, str]  # agent id -> directory role
    transfers: tuple[JSON, ...]
    handoff: tuple[JSON, ...]
    entry: str = ""  # this transfer's member of the call's transfer set
    applied: bool = True  # False: a later transfer was applied already; this one moved nobody

    @property
    def left(self) -> list[str]:
        """The earlier holders the call has left: they are told ``transferred``."""
        return [a for a in self.before or () if a not in self.now]


def targets(settings: Settings, event: CallEvent) -> dict[str, str]:
    """Who holds the call after this transfer: the agent, else the queue's members, else nobody.

    Unlike a ring, a transfer never falls back to ``routing.unrouted``: a
    call transferred to someone screenpop does not know (an outside number,
    a PBX extension with no agent) has left every screenpop agent.
    """
    agent = settings.agent(event.agent) if event.agent else None
    if agent is not None:
        return {agent.id: agent.role}
    if event.queue:
        return {a.id: a.role for a in queue_members(settings, event.queue)}
    return {}


def transferred_body(event: CallEvent) -> str:
    """The message every earlier holder gets (SPEC 5): where the call went."""
    return json.dumps(
        {
            "type": "call",
            "call_id": event.call_id,
            "status": "transferred",
            "agent": event.agent,
            "queue": event.queue,
        },
        separators=(",", ":"),
    )


def restamp(
    stored: StoredCard, call_id: str, version: int, card: Mapping[str, object], provider: str
) -> CardViews:
    """The stored views as version ``version``, with ``card``'s fields (transfers, hand-off…) set in each."""
    views = []
    for view in stored.views:
        body = json.loads(view.body)
        body["version"] = version
        body["card"].update(card)
        views.append(View(view.hidden, json.dumps(body, separators=(",", ":")), view.shown))
    return CardViews(call_id, version, tuple(views), provider)


class TransferDesk:
    """The shared state of transfers: recipients, the card as it stands, the transfer list, the hand-off."""

    def __init__(self, generations: Generations, broker: Broker, store: Store) -> None:
        self._generations = generations
        self._broker = broker
        self._store = store

    @property
    def _settings(self) -> Settings:
        """The config of the call being handled (generation.py): who a transfer goes to."""
        return self._generations.current.settings

    async def remember(self, provider: str, card: CardViews | None) -> bool:
        """Keep the card version about to be published, for a transfer on any instance.

        Never over a newer version (atomic, in the broker): an instance late
        with an older version (a transfer's restamp of the card it read just
        before the complete one was kept) must not take its place.  False
        when a version at least as new was kept first: its number is taken,
        and a socket that got it would drop this one as not newer.
        """
        if card is None:
            return True
        text = StoredCard(card.version, card.views).to_text()
        return await self._broker.put_newer(
            _card_key(provider, card.call_id), text, card.version, STATE_TTL_S
        )

    async def stored(self, provider: str, call_id: str) -> StoredCard | None:
        text = await self._broker.get(_card_key(provider, call_id))
        return None if text is None else StoredCard.from_text(text)

    async def move(self, event: CallEvent, recipients_key: str, version: int) -> Move:
        """Give the call to its new holders in one atomic step, and note the transfer."""
        now = targets(self._settings, event)
        # the notes are read from the store meanwhile: the one step here that is not a broker round trip
        handoff = asyncio.ensure_future(self.handoff(event.provider, event.call_id))
        try:
            return await self._move(event, recipients_key, version, now, handoff)
        finally:
            handoff.cancel()  # a no-op once it is done; when the move failed, nobody waits for it

    async def _move(
        self,
        event: CallEvent,
        recipients_key: str,
        version: int,
        now: dict[str, str],
        handoff: asyncio.Future[tuple[JSON, ...]],
    ) -> Move:
        at = None if event.at is None else event.at.timestamp()
        latest = _latest_key(event.provider, event.call_id)
        state = (state_key(event.provider, event.call_id), f"transferred:{event.agent or ''}@{_stamp(at)}")
        moved = await self._broker.move_members(recipients_key, list(now), STATE_TTL_S, latest, at, state)
        if not moved.applied:  # not on the card either: a longer list tells a widget the call came (back)
            return Move(None, {}, (), (), applied=False)
        entry = {
            "from_agent": event.from_agent,
            "to_agent": event.agent,
            "to_queue": event.queue,
            "at": _iso(event.at),
            "v": version,
        }
        key, member = _transfers_key(event.provider, event.call_id), json.dumps(entry, sort_keys=True)
        await self._broker.add_members(key, [member], STATE_TTL_S)
        log = await self.transfers(event.provider, event.call_id)
        return Move(moved.before, now, log.entries, await handoff, member)

    async def undo(self, event: CallEvent, recipients_key: str, move: Move) -> None:
        """Put the holders back (the transfer could not be delivered: the sender's retry does it again)."""
        await self._broker.replace_members(recipients_key, move.before or [], STATE_TTL_S)
        await self._broker.remove_member(_transfers_key(event.provider, event.call_id), move.entry)

    async def transfers(self, provider: str, call_id: str) -> TransferLog:
        """The call's transfers, oldest first by their time, and the newest applied one.

        Where the call is comes from the transfer delivered as the highest
        version, not from the last listed: one without a time is listed at
        its arrival, which need not agree with the provider's clock.
        """
        found = await self._broker.members(_transfers_key(provider, call_id))
        entries = sorted((json.loads(m) for m in found or () if m), key=lambda e: (e["at"], int(e["v"])))
        shown = tuple({k: v for k, v in e.items() if k != "v"} for e in entries)
        newest = max(range(len(entries)), key=lambda i: int(entries[i]["v"]), default=None)
        if newest is None or not int(entries[newest]["v"]):
            return TransferLog(shown, 0, None)
        return TransferLog(shown, int(entries[newest]["v"]), shown[newest])

    async def left(self, provider: str, call_id: str, agent: str) -> bool:
        """Whether the call was transferred away from ``agent`` (and not back): no longer theirs to act on."""
        holders = await self._broker.members(recipients_key(provider, call_id))
        if holders is None or agent in holders:
            return False
        return (await self.transfers(provider, call_id)).current is not None

    async def handoff(self, provider: str, call_id: str) -> tuple[JSON, ...]:
        """The notes saved on the call so far, as the card's ``handoff``."""
        notes = await self._store.call_notes(provider, call_id)
        return tuple(clean_json({out: n[name] for out, name in HANDOFF_FIELDS}) for n in notes)


def card_fields(event: CallEvent, move: Move) -> dict[str, object]:
    """What a transfer changes on the card itself."""
    return {
        "agent": event.agent,
        "queue": event.queue,
        "transfers": list(move.transfers),
        "handoff": list(move.handoff),
    }


def deliveries(card: CardViews, move: Move, event: CallEvent) -> list[Delivery]:
    """The card for every new holder and the ``transferred`` message for every earlier one, in one publish."""
    out = [Delivery(agent, card=card) for agent in move.now]
    body = transferred_body(event)
    return out + [Delivery(agent, body) for agent in move.left]


def _stamp(at: float | None) -> str:
    """A transfer's time as the call state keeps it (``call_transfers.rings_after_transfer`` reads it)."""
    return "" if at is None else f"{at:.6f}"


def _iso(at: datetime | None) -> str:
    when = at or datetime.now(UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call_key(provider: str, call_id: str) -> str:
    """This instance's live cards are keyed so (call ids are unique per provider only)."""
    return f"{provider}:{call_id}"


def state_key(provider: str, call_id: str) -> str:
    """Answered by whom, over, or transferred (and when): the call's state in the broker."""
    return f"call-state:{provider}:{call_id}"


def recipients_key(provider: str, call_id: str) -> str:
    """The shared set of the call's holders."""
    return f"recipients:{provider}:{call_id}"


def ring_time_key(provider: str, call_id: str, agent: str) -> str:
    """When the call last rang (or was handed to) ``agent``, in the provider's time."""
    return f"ringat:{provider}:{call_id}:{agent}"


def _card_key(provider: str, call_id: str) -> str:
    return f"card:{provider}:{call_id}"


def _transfers_key(provider: str, call_id: str) -> str:
    return f"transfers:{provider}:{call_id}"


def _latest_key(provider: str, call_id: str) -> str:
    """The provider's time of the newest transfer applied to the call (``Broker.move_members``)."""
    return f"transfer-at:{provider}:{call_id}"


__all__: Sequence[str] = (
    "STATE_TTL_S",
    "Move",
    "StoredCard",
    "TransferDesk",
    "TransferLog",
    "call_key",
    "card_fields",
    "deliveries",
    "recipients_key",
    "restamp",
    "ring_time_key",
    "state_key",
    "targets",
    "transferred_body",
)
