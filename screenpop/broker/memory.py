"""``broker.url: memory://``: one process, a replay log per agent and the shared values in a dict."""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Sequence

from screenpop.broker.protocol import (
    Delivery,
    FrameHandler,
    Message,
    Moved,
    Ring,
    Rung,
    Value,
    id_key,
    parse_id,
    stamp_text,
    version_key,
)


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
        self._publish(deliveries)

    def _publish(self, deliveries: Sequence[Delivery]) -> None:
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
        position = parse_id(after) or (-1, -1)  # junk is no position: everything kept, as on Redis
        log = self._logs.get(agent_id, deque())
        self._trim(agent_id, log, time.monotonic())
        frames = [message for message, _ in log if id_key(message.event_id) > position]
        known = self._born <= position <= max(self._last, self._born)
        complete = known and position >= self._trimmed.get(agent_id, (-1, -1))
        return frames, complete

    async def claim(self, key: str, ttl_s: int) -> bool:
        return self._claim(key, ttl_s)

    def _claim(self, key: str, ttl_s: int) -> bool:
        now = time.monotonic()
        self._expire(now)
        return self._claim_at(key, ttl_s, now)

    def _claim_at(self, key: str, ttl_s: int, now: float) -> bool:
        """Set ``key`` for ``ttl_s`` unless it is held at ``now`` (the caller has expired what is due)."""
        if self._value_at(key, now) is not None:
            return False
        self._store(key, "1", ttl_s, now)
        return True

    async def claim_and_get(self, key: str, ttl_s: int, other: str) -> tuple[bool, str | None]:
        return self._claim(key, ttl_s), self._get(other)

    async def ring(self, ring: Ring) -> Rung:
        """The steps one after another, with no await between them: nothing else runs meanwhile.

        Each step is a plain call, not a coroutine of its own, and all of
        them read the clock once: a ringing runs this before its first
        frame, and on one instance it is the broker's whole share of the
        path (docs/performance.md).
        """
        now = time.monotonic()
        self._expire(now)
        if not self._claim_at(ring.event_key, ring.event_ttl_s, now):
            return Rung(False)  # a duplicate: nothing read, nothing changed
        state = self._value_at(ring.state_key, now)
        if ring.ring_time is not None:
            self._keep_later(*ring.ring_time, ring.recipients_ttl_s, now)
        if state is not None:
            return Rung(True, state)
        new = self._join(ring.recipients_key, ring.agents, ring.recipients_ttl_s, now)
        try:
            self._publish([Delivery(agent, card=ring.card) for agent in new])
        except BaseException:  # popped for no one: undone, so the sender's retry pops
            for agent in new:
                self._remove_member(ring.recipients_key, agent)
            self._release(ring.event_key)
            raise
        return Rung(True, None, new)

    async def release(self, key: str) -> None:
        self._release(key)

    def _release(self, key: str) -> None:
        self._values.pop(key, None)

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        self._put(key, value, ttl_s)

    def _put(self, key: str, value: str, ttl_s: int) -> None:
        now = time.monotonic()
        self._expire(now)
        self._store(key, value, ttl_s, now)

    def _store(self, key: str, value: str, ttl_s: int, now: float) -> None:
        """Set ``key`` for ``ttl_s`` from ``now`` (the caller has expired what is due)."""
        self._values[key] = (value, now + ttl_s)
        heapq.heappush(self._expiries, (now + ttl_s, key))

    async def keep_latest(self, key: str, stamp: float, ttl_s: int) -> None:
        self._keep_latest(key, stamp, ttl_s)

    def _keep_latest(self, key: str, stamp: float, ttl_s: int) -> None:
        now = time.monotonic()
        self._expire(now)
        self._keep_later(key, stamp, ttl_s, now)

    def _keep_later(self, key: str, stamp: float, ttl_s: int, now: float) -> None:
        kept = self._value_at(key, now)
        if kept is None or float(kept) < stamp:
            self._store(key, stamp_text(stamp), ttl_s, now)

    async def get(self, key: str) -> str | None:
        return self._get(key)

    def _get(self, key: str) -> str | None:
        return self._value_at(key, time.monotonic())

    def _value_at(self, key: str, now: float) -> str | None:
        found = self._values.get(key)
        if found is None or found[1] < now:
            return None
        return found[0]

    async def add_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str]:
        return self._add_members(key, members, ttl_s)

    def _add_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str]:
        now = time.monotonic()
        self._expire(now)
        return list(self._join(key, members, ttl_s, now))

    def _join(self, key: str, members: Sequence[str], ttl_s: int, now: float) -> tuple[str, ...]:
        """Add ``members`` to the set at ``key``, kept ``ttl_s`` from ``now``; those not in it before."""
        held = self._live_set(key, now)
        new = tuple([m for m in dict.fromkeys(members) if m not in held])
        held.update(new)
        self._sets[key] = (held, now + ttl_s)
        heapq.heappush(self._expiries, (now + ttl_s, key))
        return new

    async def remove_member(self, key: str, member: str) -> bool:
        return self._remove_member(key, member)

    def _remove_member(self, key: str, member: str) -> bool:
        found = self._live_set(key, time.monotonic())
        if member not in found:
            return False
        found.discard(member)
        return True

    async def replace_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str] | None:
        before = await self.members(key)
        now = time.monotonic()
        self._sets[key] = (set(members), now + ttl_s)
        heapq.heappush(self._expiries, (now + ttl_s, key))
        return before

    async def move_members(
        self, key: str, members: Sequence[str], ttl_s: int, latest_key: str, at: float | None, state: Value
    ) -> Moved:
        """The check and the move one after the other: nothing else runs between them in one process."""
        if at is not None:
            kept = await self.get(latest_key)
            if kept is not None and float(kept) > at:
                return Moved(False)
            await self.put(latest_key, stamp_text(at), ttl_s)
        await self.put(*state, ttl_s)
        return Moved(True, await self.replace_members(key, members, ttl_s))

    async def put_newer(self, key: str, value: str, version: int, ttl_s: int) -> bool:
        kept = await self.get(version_key(key))
        if kept is not None and int(kept) >= version and await self.get(key) is not None:
            return False
        await self.put(key, value, ttl_s)
        await self.put(version_key(key), str(version), ttl_s)
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
