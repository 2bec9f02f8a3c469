"""The Redis broker's shared values (claims, values, member sets), each with its local fallback.

What every instance must agree on beside the streams: the duplicate guard
(``claim``), the call's state and kept card (``put``, ``keep_latest``,
``put_newer``) and who holds a call (the member sets).  Each goes to Redis
while it is up and to this process's ``LocalValues`` while it is not, and a
fault on the way marks the broker down (``RedisBroker._mark_down``), which
the supervisor then reconnects.  Kept apart from ``redis.py``, which ties
the streams, the fan-out and the supervision together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from screenpop.broker.faults import FAULTS, describe_fault
from screenpop.broker.local_fallback import LocalValues, RecentClaims
from screenpop.broker.protocol import Moved, Value, stamp_text, version_key
from screenpop.broker.redis_layout import EXISTS_MARK, set_key, value_key


class SharedValues:
    """``Broker``'s shared values on Redis; mixed into ``RedisBroker``, which sets these attributes."""

    _redis: Redis
    _up: bool
    _local: LocalValues
    _claims: RecentClaims
    _add_members: AsyncScript
    _replace_members: AsyncScript
    _keep_latest: AsyncScript
    _move_members: AsyncScript
    _put_newer: AsyncScript

    def _mark_down(self, reason: str) -> None:
        raise NotImplementedError

    async def claim(self, key: str, ttl_s: int) -> bool:
        if self._up:
            try:
                claimed = bool(await self._redis.set(value_key(key), "1", ex=ttl_s, nx=True))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
            else:
                if claimed:
                    self._claims.note(key, ttl_s)
                return claimed
        if self._local.get(key) is not None:
            return False
        self._local.put(key, "1", ttl_s, claim=True)
        return True

    async def claim_and_get(self, key: str, ttl_s: int, other: str) -> tuple[bool, str | None]:
        if self._up:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(value_key(key), "1", ex=ttl_s, nx=True)
                    pipe.get(value_key(other))
                    claimed, found = await pipe.execute()
                if claimed:
                    self._claims.note(key, ttl_s)
                return bool(claimed), None if found is None else str(found)
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return await self.claim(key, ttl_s), await self.get(other)

    async def release(self, key: str) -> None:
        if self._up:
            try:
                await self._redis.delete(value_key(key))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        self._local.values.pop(key, None)
        self._claims.forget(key)

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        if self._up:
            try:
                await self._redis.set(value_key(key), value, ex=ttl_s)
                return
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        self._local.put(key, value, ttl_s, claim=False)

    async def keep_latest(self, key: str, stamp: float, ttl_s: int) -> None:
        if self._up:
            try:
                await self._keep_latest(keys=[value_key(key)], args=[stamp_text(stamp), ttl_s])
                return
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        self._local.keep_latest(key, stamp, ttl_s)

    async def get(self, key: str) -> str | None:
        if self._up:
            try:
                found: Any = await self._redis.get(value_key(key))
                return None if found is None else str(found)
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.get(key)

    async def add_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str]:
        if self._up:
            try:
                new = await self._add_members(keys=[set_key(key)], args=[ttl_s, *members])
                return [str(m) for m in new]
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.add_members(key, members, ttl_s)

    async def replace_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str] | None:
        if self._up:
            try:
                old = await self._replace_members(keys=[set_key(key)], args=[ttl_s, *members])
                return None if old is None else sorted(str(m) for m in old)
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.replace_members(key, members, ttl_s)

    async def move_members(
        self, key: str, members: Sequence[str], ttl_s: int, latest_key: str, at: float | None, state: Value
    ) -> Moved:
        if self._up:
            try:
                keys = [set_key(key), value_key(latest_key), value_key(state[0])]
                args: list[str | int] = [ttl_s, "" if at is None else stamp_text(at), state[1], *members]
                applied, *old = await self._move_members(keys=keys, args=args)
                before = old[0] if old else None
                return Moved(bool(applied), None if before is None else sorted(str(m) for m in before))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.move_members(key, members, ttl_s, latest_key, at, state)

    async def put_newer(self, key: str, value: str, version: int, ttl_s: int) -> bool:
        if self._up:
            try:
                keys = [value_key(key), value_key(version_key(key))]
                return bool(await self._put_newer(keys=keys, args=[value, version, ttl_s]))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.put_newer(key, value, version, ttl_s)

    async def remove_member(self, key: str, member: str) -> bool:
        if self._up:
            try:
                return bool(await self._redis.srem(set_key(key), member))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.remove_member(key, member)

    async def members(self, key: str) -> list[str] | None:
        if self._up:
            try:
                found: Any = await self._redis.smembers(set_key(key))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
            else:
                if EXISTS_MARK not in found:
                    return None
                return sorted(str(m) for m in found if m != EXISTS_MARK)
        local = self._local.live_set(key)
        return None if local is None else sorted(local.members)
