"""How messages reach agents, wherever their sockets are: publish, listen, replay.

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

import heapq
import json
import time
from collections import deque
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


FrameHandler = Callable[[Message], None]
"""Called with every message published to any agent."""


def frame_with_id(event_id: str, body: str) -> str:
    """Put ``event_id`` first in an already-encoded JSON object."""
    rest = body[1:].lstrip()
    separator = "" if rest.startswith("}") else ","
    return f'{{"event_id":"{event_id}"{separator}{rest}'


def id_key(event_id: str) -> tuple[int, int]:
    """Order of Redis-style ``<ms>-<seq>`` ids; an unreadable id sorts first."""
    ms, _, seq = event_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (-1, -1)


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

    async def release(self, key: str) -> None:
        """Forget a claim, so the same key can be claimed again."""
        ...

    async def put(self, key: str, value: str, ttl_s: int) -> None: ...

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

    async def members(self, key: str) -> list[str] | None:
        """The set at ``key`` (sorted), or None when no set was made there within its time to live.

        A set whose members were all removed is still there (empty), so that
        "everyone was withdrawn" is told apart from "nothing is known".
        """
        ...


class MemoryBroker:
    """One process: a replay log per agent, trimmed to ``replay_s``."""

    def __init__(self, replay_s: int) -> None:
        self._replay_s = replay_s
        self._logs: dict[str, deque[tuple[Message, float]]] = {}
        self._trimmed: dict[str, tuple[int, int]] = {}
        self._handlers: list[FrameHandler] = []
        self._values: dict[str, tuple[str, float]] = {}
        self._sets: dict[str, tuple[set[str], float]] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap, so expiring costs log n per value
        self._last = (0, 0)
        self._born = (int(time.time() * 1000), 0)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()

    async def health(self) -> str:
        return "ok"

    def listen(self, handler: FrameHandler) -> None:
        self._handlers.append(handler)

    def _next_id(self) -> str:
        ms = int(time.time() * 1000)
        last_ms, last_seq = self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        return f"{self._last[0]}-{self._last[1]}"

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        now = time.monotonic()
        for delivery in deliveries:
            message = Message.of(delivery, self._next_id())
            log = self._logs.setdefault(delivery.agent_id, deque())
            log.append((message, now))
            self._trim(delivery.agent_id, log, now)
            for handler in self._handlers:
                handler(message)

    def _trim(self, agent_id: str, log: deque[tuple[Message, float]], now: float) -> None:
        while log and now - log[0][1] > self._replay_s:
            self._trimmed[agent_id] = id_key(log.popleft()[0].event_id)

    async def latest_id(self, agent_id: str) -> str:
        log = self._logs.get(agent_id)
        if log:
            return log[-1][0].event_id
        ms, seq = max(self._last, self._born)
        return f"{ms}-{seq}"

    async def replay(self, agent_id: str, after: str) -> tuple[list[Message], bool]:
        position = id_key(after)
        log = self._logs.get(agent_id, deque())
        self._trim(agent_id, log, time.monotonic())
        frames = [message for message, _ in log if id_key(message.event_id) > position]
        known = self._born <= position <= max(self._last, self._born)
        complete = known and position >= self._trimmed.get(agent_id, (-1, -1))
        return frames, complete

    async def claim(self, key: str, ttl_s: int) -> bool:
        if await self.get(key) is not None:
            return False
        await self.put(key, "1", ttl_s)
        return True

    async def claim_and_get(self, key: str, ttl_s: int, other: str) -> tuple[bool, str | None]:
        return await self.claim(key, ttl_s), await self.get(other)

    async def release(self, key: str) -> None:
        self._values.pop(key, None)

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        now = time.monotonic()
        self._expire(now)
        self._values[key] = (value, now + ttl_s)
        heapq.heappush(self._expiries, (now + ttl_s, key))

    async def get(self, key: str) -> str | None:
        found = self._values.get(key)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    async def add_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str]:
        now = time.monotonic()
        self._expire(now)
        found = self._live_set(key, now)
        new = [m for m in dict.fromkeys(members) if m not in found]
        found.update(new)
        self._sets[key] = (found, now + ttl_s)
        heapq.heappush(self._expiries, (now + ttl_s, key))
        return new

    async def remove_member(self, key: str, member: str) -> bool:
        found = self._live_set(key, time.monotonic())
        if member not in found:
            return False
        found.discard(member)
        return True

    async def members(self, key: str) -> list[str] | None:
        found = self._sets.get(key)
        if found is None or found[1] < time.monotonic():
            return None
        return sorted(found[0])

    def _live_set(self, key: str, now: float) -> set[str]:
        found = self._sets.get(key)
        return found[0] if found is not None and found[1] >= now else set()

    def _expire(self, now: float) -> None:
        """Drop values whose time is up, oldest first, so the guard does not grow without end."""
        while self._expiries and self._expiries[0][0] < now:
            until, key = heapq.heappop(self._expiries)
            found = self._values.get(key)
            if found is not None and found[1] <= until:
                del self._values[key]
            members = self._sets.get(key)
            if members is not None and members[1] <= until:
                del self._sets[key]


def make_broker(url: str, replay_s: int) -> Broker:
    if url.startswith("memory://"):
        return MemoryBroker(replay_s)
    from screenpop.broker_redis import RedisBroker

    return RedisBroker(url, replay_s)
