"""Whether the Redis screenpop shares may throw its keys away when it is full.

Every key screenpop keeps in Redis has a time to live: duplicate guards,
call state, recipients, the agents' streams.  A Redis with a ``maxmemory``
and any policy but ``noeviction`` drops such keys when memory runs short
(the ``volatile-*`` policies pick exactly those with a TTL), silently: a
dropped duplicate guard lets a retried webhook pop its call a second time,
a dropped stream loses what a reconnecting widget asks to be sent again.
Managed Redis services often ship with ``volatile-lru``; the IT person who
set it up should hear of it from ``screenpop check`` and the log, not from
an agent who saw a card twice.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import ResponseError


async def eviction_risk(redis: Redis) -> str | None:
    """One sentence saying how this Redis may evict screenpop's keys, or None when it never does.

    None too where ``CONFIG`` is refused (renamed or denied on many managed
    services): what cannot be read is not guessed.
    """
    try:
        found = await redis.config_get("maxmemory*")
    except ResponseError:
        return None
    policy = str(found.get("maxmemory-policy", "noeviction"))
    try:
        limit = int(found.get("maxmemory", 0) or 0)
    except (TypeError, ValueError):
        return None
    if limit == 0 or policy == "noeviction":
        return None  # no limit: nothing is ever evicted, whatever the policy says
    return (
        f"Redis drops keys when full (maxmemory {limit:,} bytes, maxmemory-policy {policy}), so a call "
        "can pop twice and a reconnecting widget miss cards; set maxmemory-policy noeviction"
    )
