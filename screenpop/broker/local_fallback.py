"""What the Redis broker does while Redis is away: local ids, an outbox, and local shared values.

Cards still reach this instance's agents, with ids made here after every id
seen (``LocalIds``); they wait in a bounded ``Outbox`` and are appended when
Redis returns, keeping their ids where possible.  The duplicate guard and
the shared values and sets live in ``LocalValues`` (dedupe is per instance
during the outage) and are copied to Redis on return.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from screenpop.broker.protocol import (
    Delivery,
    Message,
    Moved,
    Ring,
    Rung,
    Value,
    format_id,
    id_key,
    stamp_text,
    version_key,
)
from screenpop.broker.redis_layout import EXISTS_MARK, now_ms, set_key, value_key

log = logging.getLogger(__name__)

OUTBOX_MAX = 10_000
CLAIMS_MAX = 50_000


class LocalIds:
    """The last id seen, and ids made here after it: the order agents here see stays true."""

    def __init__(self) -> None:
        self.last = (0, 0)

    def note(self, event_id: str) -> None:
        self.last = max(self.last, id_key(event_id))

    def next(self) -> str:
        """The next id after every id seen, on this clock."""
        ms = now_ms()
        last_ms, last_seq = self.last
        self.last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        return format_id(self.last)

    def latest(self) -> str:
        """The last id seen, or the instant before this clock's now if later: ``latest_id`` offline."""
        return format_id(max(self.last, (now_ms() - 1, 0)))


@dataclass(frozen=True, slots=True)
class Pending:
    """A message published while Redis was away, with the id its local agents saw."""

    seq: int
    delivery: Delivery
    event_id: str
    token: str  # the publish it came from: its append may have reached Redis already


@dataclass
class LocalSet:
    """A shared set changed while Redis was away: what it holds here, and what to undo there."""

    members: set[str]
    removed: set[str]
    until: float


class LocalValues:
    """The duplicate guard and shared values while Redis is away; copied back on return."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float, bool]] = {}
        self.sets: dict[str, LocalSet] = {}

    def get(self, key: str) -> str | None:
        found = self.values.get(key)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def put(self, key: str, value: str, ttl_s: float, claim: bool) -> None:
        if len(self.values) >= 10_000:
            now = time.monotonic()
            self.values = {k: v for k, v in self.values.items() if v[1] >= now}
        self.values[key] = (value, time.monotonic() + ttl_s, claim)

    def keep_latest(self, key: str, stamp: float, ttl_s: float) -> None:
        kept = self.get(key)
        if kept is None or float(kept) < stamp:
            self.put(key, stamp_text(stamp), ttl_s, claim=False)

    def live_set(self, key: str) -> LocalSet | None:
        found = self.sets.get(key)
        return found if found is not None and found.until >= time.monotonic() else None

    def add_members(self, key: str, members: Sequence[str], ttl_s: float) -> list[str]:
        found = self.live_set(key) or LocalSet(set(), set(), 0.0)
        new = [m for m in dict.fromkeys(members) if m not in found.members]
        found.members.update(new)
        found.removed.difference_update(new)
        found.until = time.monotonic() + ttl_s
        self.sets[key] = found
        return new

    def replace_members(self, key: str, members: Sequence[str], ttl_s: float) -> list[str] | None:
        found = self.live_set(key)
        before = None if found is None else sorted(found.members)
        kept = set(members)
        removed = (found.removed | found.members) - kept if found is not None else set()
        self.sets[key] = LocalSet(kept, removed, time.monotonic() + ttl_s)
        return before

    def move_members(
        self, key: str, members: Sequence[str], ttl_s: float, latest_key: str, at: float | None, state: Value
    ) -> Moved:
        """``move_members.lua``'s steps on these values."""
        if at is not None:
            kept = self.get(latest_key)
            if kept is not None and float(kept) > at:
                return Moved(False)
            self.put(latest_key, stamp_text(at), ttl_s, claim=False)
        self.put(*state, ttl_s, claim=False)
        return Moved(True, self.replace_members(key, members, ttl_s))

    def put_newer(self, key: str, value: str, version: int, ttl_s: float) -> bool:
        """``put_newer.lua``'s steps on these values."""
        kept = self.get(version_key(key))
        if kept is not None and int(kept) >= version and self.get(key) is not None:
            return False
        self.put(key, value, ttl_s, claim=False)
        self.put(version_key(key), str(version), ttl_s, claim=False)
        return True

    def ring(self, ring: Ring) -> Rung:
        """``ring.lua``'s steps on these values; the caller delivers the card to ``Rung.new``."""
        if self.get(ring.event_key) is not None:
            return Rung(False)
        self.put(ring.event_key, "1", ring.event_ttl_s, claim=True)
        if ring.ring_time is not None:
            self.keep_latest(*ring.ring_time, ring.recipients_ttl_s)
        state = self.get(ring.state_key)
        if state is not None:
            return Rung(True, state)
        return Rung(
            True, None, tuple(self.add_members(ring.recipients_key, ring.agents, ring.recipients_ttl_s))
        )

    def remove_member(self, key: str, member: str) -> bool:
        found = self.live_set(key)
        if found is None or member not in found.members:
            return False
        found.members.discard(member)
        found.removed.add(member)
        return True

    async def copy_to(self, redis: Redis) -> None:
        """Claims go in only where no other instance claimed first; values overwrite; sets merge."""
        now = time.monotonic()
        live = [(k, v, until, claim) for k, (v, until, claim) in self.values.items() if until > now]
        sets = [(k, found) for k, found in self.sets.items() if found.until > now]
        if live or sets:
            async with redis.pipeline(transaction=False) as pipe:
                for key, value, until, claim in live:
                    pipe.set(value_key(key), value, px=max(1, int((until - now) * 1000)), nx=claim)
                for key, found in sets:
                    pipe.sadd(set_key(key), EXISTS_MARK, *found.members)
                    if found.removed:
                        pipe.srem(set_key(key), *found.removed)
                    pipe.pexpire(set_key(key), max(1, int((found.until - now) * 1000)))
                await pipe.execute()
        self.values.clear()
        self.sets.clear()


class RecentClaims:
    """The duplicate guard's keys this instance claimed in Redis, to put back if Redis loses them.

    A Redis restarted without persistence comes back empty, and a webhook
    retried after that found no claim and popped its call a second time.
    Each instance writes back its own claims still alive (``SET NX``), so the
    guard outlives the restart.  Bounded: beyond ``CLAIMS_MAX`` the oldest go.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def note(self, key: str, ttl_s: float) -> None:
        self._until.pop(key, None)
        self._until[key] = time.monotonic() + ttl_s
        if len(self._until) > CLAIMS_MAX:
            del self._until[next(iter(self._until))]

    def forget(self, key: str) -> None:
        """A released claim (a turn taken and given back) must not come back."""
        self._until.pop(key, None)

    async def copy_to(self, redis: Redis) -> int:
        """Put the live claims back where no one claimed since; how many were live."""
        now = time.monotonic()
        self._until = {k: until for k, until in self._until.items() if until > now}
        if self._until:
            async with redis.pipeline(transaction=False) as pipe:
                for key, until in self._until.items():
                    pipe.set(value_key(key), "1", px=max(1, int((until - now) * 1000)), nx=True)
                await pipe.execute()
        return len(self._until)


class Outbox:
    """Messages published while Redis was away, oldest first; when full, the oldest is dropped."""

    def __init__(self) -> None:
        self._pending: deque[Pending] = deque()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._pending)

    def keep(self, delivery: Delivery, event_id: str, token: str) -> None:
        if len(self._pending) >= OUTBOX_MAX:
            dropped = self._pending.popleft()
            log.warning(
                "broker outbox full: message %s for agent %s dropped",
                dropped.event_id,
                dropped.delivery.agent_id,
            )
        self._pending.append(Pending(next(self._seq), delivery, event_id, token))

    def first(self, count: int) -> list[Pending]:
        return list(itertools.islice(self._pending, count))

    def drop_through(self, seq: int) -> None:
        """Forget what was kept up to ``seq`` (appended now); what came in meanwhile stays."""
        while self._pending and self._pending[0].seq <= seq:
            self._pending.popleft()

    def messages_after(self, agent_id: str, start: tuple[int, int]) -> list[Message]:
        return [
            Message.of(p.delivery, p.event_id)
            for p in self._pending
            if p.delivery.agent_id == agent_id and id_key(p.event_id) > start
        ]
