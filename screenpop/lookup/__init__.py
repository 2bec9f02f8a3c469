"""The fan-out lookup: every connector at once, behind breakers and a section cache.

- ``engine``: ``LookupEngine``, which asks every connector and hands out the card as it grows.
- ``fanout``: one card's walk of the `needs` graph (``Run``) and its ``Snapshot``s.
- ``breaker``: ``CircuitBreaker``, one per connector.
- ``cache``: the ``SectionCache`` and ``ClusterLock`` protocols and the in-process ``MemoryCache``.
- ``connector_stats``: ``ConnectorStats``, each connector's last five minutes and health, for IT.
- ``trace``: ``LookupTrace``, what each connector ran and why a section is empty (``--trace``).
- ``redis_cache``: ``RedisCache``, the same cache shared across instances through Redis.
"""

from __future__ import annotations

from screenpop.lookup.breaker import CircuitBreaker, CircuitState
from screenpop.lookup.cache import CACHEABLE, CachedSection, ClusterLock, MemoryCache, SectionCache, cache_key
from screenpop.lookup.connector_stats import ConnectorStats
from screenpop.lookup.engine import LookupEngine, LookupObserver
from screenpop.lookup.fanout import Snapshot
from screenpop.lookup.redis_cache import RedisCache
from screenpop.lookup.trace import LookupTrace

__all__ = [
    "CACHEABLE",
    "CachedSection",
    "CircuitBreaker",
    "CircuitState",
    "ClusterLock",
    "ConnectorStats",
    "LookupEngine",
    "LookupObserver",
    "LookupTrace",
    "MemoryCache",
    "RedisCache",
    "SectionCache",
    "Snapshot",
    "cache_key",
]
