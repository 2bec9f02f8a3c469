"""The fan-out lookup: every connector at once, behind breakers and a section cache.

- ``engine``: ``LookupEngine``, which asks every connector and hands out the card as it grows.
- ``breaker``: ``CircuitBreaker``, one per connector.
- ``cache``: the ``SectionCache`` and ``ClusterLock`` protocols and the in-process ``MemoryCache``.
- ``connector_stats``: ``ConnectorStats``, each connector's last five minutes and health, for IT.
- ``redis_cache``: ``RedisCache``, the same cache shared across instances through Redis.
"""

from __future__ import annotations

from screenpop.lookup.breaker import CircuitBreaker, CircuitState
from screenpop.lookup.cache import CACHEABLE, CachedSection, ClusterLock, MemoryCache, SectionCache, cache_key
from screenpop.lookup.connector_stats import ConnectorStats
from screenpop.lookup.engine import LookupEngine, LookupObserver, Snapshot
from screenpop.lookup.redis_cache import RedisCache

__all__ = [
    "CACHEABLE",
    "CachedSection",
    "CircuitBreaker",
    "CircuitState",
    "ClusterLock",
    "ConnectorStats",
    "LookupEngine",
    "LookupObserver",
    "MemoryCache",
    "RedisCache",
    "SectionCache",
    "Snapshot",
    "cache_key",
]
