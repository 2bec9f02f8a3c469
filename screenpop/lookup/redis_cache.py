"""The section cache shared by every instance, with a cluster-wide lookup lock.

A caller who rings twice costs one lookup whichever instance takes the
second call; and when many calls for one number arrive at once on several
instances, one lookup per connector runs in the whole cluster (``lock``),
while the others wait for its answer in the cache (``wait_for``).

The cache is an optimisation, never a dependency: when Redis is away every
method answers at once as if the cache were empty (a miss, a lock granted),
and Redis is left alone for a second before the next try, so a lookup never
waits on a dead cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from screenpop.broker import describe_fault, redis_client
from screenpop.clock import SYSTEM_CLOCK, Clock
from screenpop.lookup.cache import CachedSection, number_prefix, section_from_json, section_to_json
from screenpop.model import Section

log = logging.getLogger(__name__)

PREFIX = "screenpop:"
REST_S = 1.0
POLL_FIRST_S = 0.01
POLL_MAX_S = 0.05
FAULTS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
SCAN_PAGE = 1000

# Delete a lock only if this instance still holds it (it may have expired and been taken).
UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def entry_key(key: str) -> str:
    return f"{PREFIX}cache:{key}"


def lock_key(key: str) -> str:
    return f"{PREFIX}lock:{key}"


def _glob_escaped(text: str) -> str:
    """``text`` matched literally by a SCAN pattern (a connector name may hold ``[``, ``*`` or ``?``)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


async def _pages(redis: Any, pattern: str) -> AsyncIterator[list[str]]:
    cursor = 0
    while True:
        cursor, keys = await redis.scan(cursor, match=pattern, count=SCAN_PAGE)
        yield keys
        if not cursor:
            return


class RedisCache:
    """``SectionCache`` in Redis: JSON entries that expire after ``keep_s``.

    ``clock`` stamps entries and times the rest after a fault (a test moves it
    instead of sleeping); the entries' expiry itself is Redis's own.
    """

    def __init__(self, url: str, timeout_s: float = 0.25, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._redis = redis_client(
            url,
            decode_responses=True,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            # one retry on a fresh socket after a restart; a slow server gets none
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._owner = uuid.uuid4().hex
        self._unlock = self._redis.register_script(UNLOCK_LUA)
        self._resting_until = 0.0

    async def get(self, key: str) -> CachedSection | None:
        raw = await self._call(lambda: self._redis.get(entry_key(key)))
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
            return CachedSection(section_from_json(entry["section"]), float(entry["stored_at"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring an unreadable cache entry %s", key)
            return None

    async def put(self, key: str, section: Section, keep_s: float) -> None:
        """Store with the writer's wall clock, so that every reader can tell its age."""
        if keep_s <= 0:
            return
        entry = json.dumps({"section": section_to_json(section), "stored_at": self._clock.time()})
        await self._call(lambda: self._redis.set(entry_key(key), entry, px=max(1, round(keep_s * 1000))))

    async def forget(self, connector: str, numbers: Collection[str]) -> int:
        """Drop ``connector``'s entries for these numbers, whichever instance stored them.

        One SCAN over the connector's entries (never KEYS: a big Redis is not
        blocked), its keys compared with the numbers' prefixes here, and one
        UNLINK per page. Called when an index refresh changed numbers, minutes
        apart, never on a call's path. Redis away: nothing is dropped (logged),
        the entries expire with their TTL as before.
        """
        prefixes = {entry_key(number_prefix(connector, n)) for n in numbers}
        if not prefixes:
            return 0
        size = len(entry_key(number_prefix(connector, "")))
        pattern = entry_key(_glob_escaped(connector)) + ":*"
        gone = 0
        try:
            async for page in _pages(self._redis, pattern):
                doomed = [key for key in page if key[:size] in prefixes]
                if doomed:
                    gone += int(await self._redis.unlink(*doomed))
        except FAULTS as exc:
            log.warning("section cache: could not drop %d changed numbers' entries (%s)", len(prefixes), exc)
        return gone

    async def lock(self, key: str, ttl_s: float) -> bool:
        """True when this instance may run the lookup for ``key``; also True when Redis is away."""
        taken = await self._call(
            lambda: self._redis.set(lock_key(key), self._owner, px=max(1, round(ttl_s * 1000)), nx=True),
            otherwise=True,
        )
        return bool(taken)

    async def unlock(self, key: str) -> None:
        await self._call(lambda: self._unlock(keys=[lock_key(key)], args=[self._owner]))

    async def wait_for(self, key: str, timeout_s: float) -> CachedSection | None:
        """The answer another instance is fetching, or None when it stored none in time.

        Returns early with None when the lock is released without an entry
        (that lookup failed or timed out, which is never cached): the caller
        should then run the lookup itself.
        """
        deadline = time.monotonic() + timeout_s
        pause = POLL_FIRST_S
        while time.monotonic() < deadline:
            found = await self.get(key)
            if found is not None:
                return found
            if not await self._call(lambda: self._redis.exists(lock_key(key))):
                return await self.get(key)
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, POLL_MAX_S)
        return await self.get(key)

    async def health(self) -> str:
        """``ok`` or ``down: <reason>``; one PING, bounded by the socket timeout."""
        try:
            await self._redis.ping()
        except FAULTS as exc:
            return f"down: {describe_fault(exc)}"
        return "ok"

    async def close(self) -> None:
        await self._redis.aclose()

    async def _call(self, command: Callable[[], Awaitable[Any]], otherwise: Any = None) -> Any:
        """Run one command; on a fault answer ``otherwise`` and leave Redis alone for a moment."""
        if self._clock.monotonic() < self._resting_until:
            return otherwise
        try:
            return await command()
        except FAULTS as exc:
            log.warning("section cache unavailable (%s); treating it as empty", type(exc).__name__)
            self._resting_until = self._clock.monotonic() + REST_S
            return otherwise
