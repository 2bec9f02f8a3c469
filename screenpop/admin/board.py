"""Every instance's admin view, side by side, through Redis; this instance's alone without it.

Behind a load balancer IT's browser reaches one instance, but the
connector that fails may be failing on another.  So with a Redis broker each
instance writes its own status snapshot every ``PUBLISH_EVERY_S`` under
``screenpop:admin:status:{instance}`` (expiring after ``SNAPSHOT_TTL_S``:
an instance that stopped drops out by itself) and names itself in the set
``screenpop:admin:instances``; ``/api/admin/status`` reads them all and
labels each by instance.  Deliveries go to one capped list,
``screenpop:admin:deliveries`` (``LPUSH`` + ``LTRIM`` in one pipeline),
written in a batch by the same loop: the webhook's answer never waits on it.

Redis being down is not the admin page's business to fail on: the board
skips a round (the broker's own health already says Redis is down) and the
endpoints answer with this instance's own figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from screenpop.admin.webhook_log import MAX_DELIVERIES, WebhookLog
from screenpop.broker.redis_url import redis_client
from screenpop.stopping import cancel_and_wait

log = logging.getLogger(__name__)

PREFIX = "screenpop:admin:"
INSTANCES_KEY = f"{PREFIX}instances"
DELIVERIES_KEY = f"{PREFIX}deliveries"
PUBLISH_EVERY_S = 2.0
SNAPSHOT_TTL_S = 10
FLUSH_EVERY_S = 0.2
REDIS_TIMEOUT_S = 0.5

Snapshot = Callable[[], Awaitable[dict[str, Any]]]


def instance_name() -> str:
    """How this instance is labelled on the admin page: its host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def snapshot_key(instance: str) -> str:
    return f"{PREFIX}status:{instance}"


class AdminBoard:
    """This instance's side of the shared admin view; ``redis_url`` None keeps it all in memory."""

    def __init__(self, webhooks: WebhookLog, redis_url: str | None, instance: str | None = None) -> None:
        self.instance = instance or instance_name()
        self.webhooks = webhooks
        self._redis = (
            redis_client(
                redis_url,
                decode_responses=True,
                socket_connect_timeout=REDIS_TIMEOUT_S,
                socket_timeout=REDIS_TIMEOUT_S,
            )
            if redis_url
            else None
        )
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def start(self, snapshot: Snapshot) -> None:
        """Begin publishing this instance's snapshot and deliveries (nothing to do without Redis)."""
        if self._redis is not None and self._task is None:
            self._task = asyncio.create_task(self._loop(snapshot), name="screenpop-admin-board")

    async def close(self) -> None:
        await cancel_and_wait(self._task)  # its rounds talk to Redis, which can swallow a plain cancel
        self._task = None
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):  # leaving: the snapshot expires by itself
                await self._redis.srem(INSTANCES_KEY, self.instance)
            await self._redis.aclose()

    async def instances(self, own: dict[str, Any]) -> dict[str, Any]:
        """Every live instance's snapshot by name, this one's (``own``) as it is now."""
        found: dict[str, Any] = {self.instance: own}
        if self._redis is None:
            return found
        try:
            names = sorted(str(n) for n in await self._redis.smembers(INSTANCES_KEY) if n != self.instance)
            values = await self._redis.mget([snapshot_key(n) for n in names]) if names else []
        except (RedisError, OSError) as exc:
            log.debug("admin board: other instances unreadable: %s", type(exc).__name__)
            return found  # Redis down: /readyz and the broker state already say so
        for name, value in zip(names, values, strict=True):
            if value is not None:
                found[name] = json.loads(value)
        return found

    async def deliveries(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` deliveries of every instance, newest first (this one's without Redis)."""
        if self._redis is None:
            return self.webhooks.last(limit)
        try:
            await self._flush()
            raw = await self._redis.lrange(DELIVERIES_KEY, 0, limit - 1)
        except (RedisError, OSError) as exc:
            log.debug("admin board: shared deliveries unreadable: %s", type(exc).__name__)
            return self.webhooks.last(limit)  # Redis down: this instance's own are still worth showing
        # instances push in batches, a fraction of a second apart: order the page by time itself
        return sorted((json.loads(entry) for entry in raw), key=lambda d: str(d["at"]), reverse=True)

    async def _loop(self, snapshot: Snapshot) -> None:
        published_at = -PUBLISH_EVERY_S
        loop = asyncio.get_running_loop()
        while True:
            try:
                if await self._round(snapshot, loop.time() - published_at >= PUBLISH_EVERY_S):
                    published_at = loop.time()
            except (RedisError, OSError) as exc:
                # Redis away: the broker reports it; the next round tries again, deliveries wait (bounded)
                log.debug("admin board: round skipped: %s", type(exc).__name__)
            except Exception:  # one bad round must not end the sharing for the life of the process
                log.exception("admin board: round failed")
            await asyncio.sleep(FLUSH_EVERY_S)

    async def _round(self, snapshot: Snapshot, publish: bool) -> bool:
        """Share the deliveries waiting here, and when ``publish``, this instance's status; True if published.

        The status is taken before the flush: every webhook it counts is then
        in the shared list before the status is, so the console never shows
        a refusal in an instance's counts that its deliveries list lacks (a
        webhook refused between a flush and the status taken after it was
        counted at once and listed a round later).
        """
        own = await snapshot() if publish else None
        await self._flush()
        if own is None:
            return False
        await self._publish(own)
        return True

    async def _publish(self, own: dict[str, Any]) -> None:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(snapshot_key(self.instance), json.dumps(own), ex=SNAPSHOT_TTL_S)
            pipe.sadd(INSTANCES_KEY, self.instance)
            pipe.expire(INSTANCES_KEY, SNAPSHOT_TTL_S * 6)
            await pipe.execute()
        await self._forget_gone()

    async def _forget_gone(self) -> None:
        """Drop instances whose snapshot expired (stopped without saying so) from the set."""
        assert self._redis is not None
        names = sorted(str(n) for n in await self._redis.smembers(INSTANCES_KEY))
        values = await self._redis.mget([snapshot_key(n) for n in names]) if names else []
        gone = [n for n, v in zip(names, values, strict=True) if v is None]
        if gone:
            await self._redis.srem(INSTANCES_KEY, *gone)

    async def _flush(self) -> None:
        """Push the deliveries waiting here to the shared list, oldest first, and cap it.

        A batch Redis did not take goes back in front of the queue for the
        next round (the queue is bounded: a long outage keeps the oldest).
        """
        if self._redis is None or not self.webhooks.pending:
            return
        async with self._flushing:
            pending = self.webhooks.pending
            batch = list(pending)
            pending.clear()
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.lpush(DELIVERIES_KEY, *(json.dumps(entry) for entry in batch))
                    pipe.ltrim(DELIVERIES_KEY, 0, MAX_DELIVERIES - 1)
                    await pipe.execute()
            except BaseException:
                pending.extendleft(reversed(batch))
                raise
