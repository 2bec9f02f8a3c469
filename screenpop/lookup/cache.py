"""Per-connector section cache, so a caller who rings twice costs one lookup.

Only answers are cached (``ok`` and ``not_found``): a timeout or an error
must be retried on the next call, not remembered.  The memory cache lives in
one process; the Redis cache (``redis_cache.py``) shares it across instances
behind the same interface.

A key names its connector and a digest of the caller's number before the
digest of everything bound, so that when a source's index learns that some
numbers changed (a customer added to a legacy table), ``forget`` drops the
answers cached for exactly those numbers: a cached ``not_found`` must not
hide a new customer for the rest of its TTL.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from screenpop.clock import SYSTEM_CLOCK, Clock
from screenpop.model import JSON, Section, SectionStatus

CACHEABLE = frozenset({SectionStatus.OK, SectionStatus.NOT_FOUND})


@dataclass(frozen=True, slots=True)
class CachedSection:
    section: Section
    stored_at: float

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)


class SectionCache(Protocol):
    async def get(self, key: str) -> CachedSection | None: ...

    async def put(self, key: str, section: Section, keep_s: float) -> None: ...

    async def forget(self, connector: str, numbers: Collection[str]) -> int:
        """Drop ``connector``'s entries for these E.164 numbers; how many went."""
        ...

    async def close(self) -> None: ...


def cache_key(connector: str, params: Mapping[str, str]) -> str:
    """A key that changes when anything bound into the lookup changes, grouped by connector and number."""
    digest = hashlib.blake2b(json.dumps(sorted(params.items())).encode(), digest_size=12).hexdigest()
    return f"{number_prefix(connector, str(params.get('e164', '')))}{digest}"


def number_prefix(connector: str, e164: str) -> str:
    """What every key of ``connector``'s answers for ``e164`` starts with (a one-way digest of the number)."""
    return f"{connector}:{hashlib.blake2b(e164.encode(), digest_size=6).hexdigest()}:"


def section_to_json(section: Section) -> JSON:
    return {
        "status": section.status.value,
        "title": section.title,
        "data": section.data,
        "rows": section.rows,
        "others": list(section.others),
    }


def section_from_json(data: JSON) -> Section:
    return Section(
        status=SectionStatus(data["status"]),
        title=data.get("title"),
        data=data.get("data"),
        rows=int(data.get("rows", 0)),
        others=tuple(data.get("others", ())),
    )


@runtime_checkable
class ClusterLock(Protocol):
    """A cache shared by instances that can also say who runs a lookup (no stampede)."""

    async def lock(self, key: str, ttl_s: float) -> bool: ...

    async def unlock(self, key: str) -> None: ...

    async def wait_for(self, key: str, timeout_s: float) -> CachedSection | None: ...


class MemoryCache:
    """A bounded LRU of sections with their store time; expiry is the reader's call.

    ``clock`` stamps and expires entries (a test moves it past a TTL instead of sleeping).
    """

    def __init__(self, max_entries: int = 20_000, clock: Clock = SYSTEM_CLOCK) -> None:
        self._entries: OrderedDict[str, tuple[CachedSection, float]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    async def get(self, key: str) -> CachedSection | None:
        found = self._entries.get(key)
        if found is None:
            return None
        cached, expires = found
        if self._clock.time() >= expires:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return cached

    async def put(self, key: str, section: Section, keep_s: float) -> None:
        now = self._clock.time()
        self._entries[key] = (CachedSection(section, now), now + keep_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def forget(self, connector: str, numbers: Collection[str]) -> int:
        """One pass over the entries (at most ``max_entries``): an index refresh is minutes apart."""
        prefixes = {number_prefix(connector, n) for n in numbers}
        if not prefixes:
            return 0
        size = len(number_prefix(connector, ""))
        gone = [key for key in self._entries if key[:size] in prefixes]
        for key in gone:
            del self._entries[key]
        return len(gone)

    async def close(self) -> None:
        self._entries.clear()
