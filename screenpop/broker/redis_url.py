"""The one place a Redis client is made from a URL, so that every URL form works everywhere.

The broker, the section cache, the admin board and ``screenpop erase`` all
call ``redis_client``.  ``redis://`` and ``rediss://`` go to redis-py's
``from_url``; ``redis+sentinel://`` (see ``screenpop.config.redis_urls``)
goes to redis-py's ``Sentinel`` and ``master_for``: each new connection asks
the sentinels where the primary is, so a reconnect after a failover reaches
the promoted replica, and a ``READONLY`` answer from a demoted primary is
turned by redis-py into a ``ConnectionError`` (which the callers already
treat as "Redis is away": reconnect, do not crash).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from screenpop.config.redis_urls import check_redis_url, is_sentinel_url, parse_sentinel_url


class SentinelRedis(Redis):
    """A client for a Sentinel service's primary that also closes its connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        pool = self.connection_pool
        await super().aclose(close_connection_pool)
        if isinstance(pool, SentinelConnectionPool):
            await pool.sentinel_manager.aclose()


def redis_client(url: str, **kwargs: Any) -> Redis:
    """A client for the Redis ``url`` names; ``kwargs`` as for ``Redis`` (timeouts, decoding, retry).

    ``url`` is read by ``check_redis_url`` first (the config has done so
    already; a URL from elsewhere gets the same sentence, never redis-py's
    text quoting a piece of it), and the URL's query options win over
    ``kwargs``, as in redis-py's ``from_url``.
    """
    checked = check_redis_url(url)
    if not is_sentinel_url(checked):
        return Redis.from_url(checked, **kwargs)
    where = parse_sentinel_url(checked)
    settings = {**kwargs, **where.options}
    # the sentinels get the same socket timeouts, but not the data servers' password or name
    sentinel_kwargs = {k: v for k, v in settings.items() if k.startswith("socket_")}
    # redis-py annotated Sentinel.__init__ only in 8.x: a typed alias keeps mypy quiet on old and new alike
    make_sentinel: Callable[..., Sentinel] = Sentinel
    sentinel = make_sentinel(list(where.sentinels), sentinel_kwargs=sentinel_kwargs)
    client: Redis = sentinel.master_for(
        where.service,
        redis_class=SentinelRedis,
        **{"db": where.db, "username": where.username, "password": where.password, **settings},
    )
    return client
