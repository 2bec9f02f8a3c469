"""One instance builds the number index, the others load it from Redis (issue 15).

With a Redis broker, every screenpop instance would otherwise read the whole
customer table on every full refresh. Instead a full build goes:

1. a published index younger than half ``index_refresh_s`` is loaded as is;
2. else the instance that wins ``SET lock NX PX`` reads the table, then
   publishes the arrays (``np.savez_compressed`` bytes, no pickle) with a new
   version number and releases the lock;
3. the others wait (bounded) for that new version and load it.

The lock lives ``LOCK_TTL_S`` and the builder renews it while it reads, so a
builder that dies (killed, its machine gone) frees the others within that
time, not after the whole build timeout (ten minutes for a big table): they
see the lock gone and read the table themselves.

Redis is an optimisation only: when it is down, the lock holder dies, or the
keys cannot be stored as plain arrays (keys that are neither integers nor
text), the instance builds locally, exactly as without a broker.
Incremental refreshes stay local (they read only the changed rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from screenpop.stopping import cancel_and_wait

from .index import PhoneIndex
from .since import as_instant

log = logging.getLogger(__name__)

#: How often a waiting instance looks for the builder's result.
POLL_S = 0.2
#: How long the build lock outlives its last renewal: a dead builder holds the others this long at most.
LOCK_TTL_S = 15.0
REDIS_TIMEOUT_S = 2.0


class SharedIndex:
    """Publishes and loads one connector's index under keys derived from its source (URL + queries)."""

    def __init__(
        self,
        redis_client: Callable[..., Any],
        name: str,
        source: str,
        *,
        fresh_s: float,
        build_timeout_s: float,
        since: Callable[[], datetime],
        lock_ttl_s: float = LOCK_TTL_S,
    ) -> None:
        digest = hashlib.sha256(source.encode()).hexdigest()[
            :16
        ]  # never the URL itself: it may hold a password
        self._prefix = f"screenpop:sqlindex:{name}:{digest}"
        self._redis: Redis = redis_client(
            socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )
        self._fresh_s = fresh_s
        self._build_timeout_s = build_timeout_s
        self._lock_ttl_ms = max(1, int(lock_ttl_s * 1000))
        self._since = since
        self.loaded_since: datetime | None = None
        """When the loaded index's read began: the next incremental read starts there."""
        self.last_source: str | None = None
        """``table`` or ``shared``: where the last full index came from."""

    async def full(self, build: Callable[[], Awaitable[PhoneIndex]]) -> PhoneIndex:
        """A full index: loaded when another instance published (or is publishing) one, else built here."""
        try:
            found = await self._fresh()
            if found is not None:
                return self._loaded(found)
            token = uuid.uuid4().hex
            before = await self._redis.get(f"{self._prefix}:version")
            locked = await self._redis.set(f"{self._prefix}:lock", token, nx=True, px=self._lock_ttl_ms)
        except RedisError as exc:
            log.warning("shared index unavailable (%s); reading the table here", type(exc).__name__)
            return await self._built(build)
        if not locked:
            waited = await self._wait_for_new(before)
            if waited is not None:
                return self._loaded(waited)
            return await self._built(build)  # the builder died or is too slow: do it here
        renewing = asyncio.create_task(self._keep_locked(token), name=f"{self._prefix}:renew")
        try:
            index = await self._built(build)
            await self._publish(index)
            return index
        finally:
            await cancel_and_wait(renewing)  # it renews over Redis, which can swallow a plain cancel
            await self._release(token)

    async def close(self) -> None:
        await self._redis.aclose()

    async def _built(self, build: Callable[[], Awaitable[PhoneIndex]]) -> PhoneIndex:
        index = await build()
        self.last_source, self.loaded_since = "table", None
        return index

    def _loaded(self, found: tuple[PhoneIndex, datetime]) -> PhoneIndex:
        self.last_source, self.loaded_since = "shared", found[1]
        return found[0]

    async def _fresh(self) -> tuple[PhoneIndex, datetime] | None:
        meta_raw = await self._redis.get(f"{self._prefix}:meta")
        if meta_raw is None:
            return None
        meta = json.loads(meta_raw)
        if time.time() - float(meta["built_at"]) > self._fresh_s:
            return None
        return await self._load(meta)

    async def _wait_for_new(self, before: bytes | str | None) -> tuple[PhoneIndex, datetime] | None:
        deadline = time.monotonic() + self._build_timeout_s
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(POLL_S)
                if await self._redis.get(f"{self._prefix}:version") != before:
                    meta_raw = await self._redis.get(f"{self._prefix}:meta")
                    return await self._load(json.loads(meta_raw)) if meta_raw else None
                if not await self._redis.exists(f"{self._prefix}:lock"):
                    return None  # the builder gave up without publishing
        except RedisError:
            return None
        return None

    async def _load(self, meta: dict[str, Any]) -> tuple[PhoneIndex, datetime] | None:
        blob = await self._redis.get(f"{self._prefix}:data:{meta['version']}")
        if not isinstance(blob, bytes):
            return None
        index = await asyncio.to_thread(decode, blob, meta)
        return index, as_instant(datetime.fromisoformat(meta["since"]))

    async def _publish(self, index: PhoneIndex) -> None:
        blob = await asyncio.to_thread(encode, index)
        if blob is None:
            return
        try:
            version = await self._redis.incr(f"{self._prefix}:version")
            meta = describe(index, version, self._since())
            ttl = max(60, int(self._fresh_s * 4))
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(f"{self._prefix}:data:{version}", blob, ex=ttl)
                pipe.set(f"{self._prefix}:meta", json.dumps(meta), ex=ttl)
                await pipe.execute()
        except RedisError as exc:
            log.warning("could not publish the shared index (%s)", type(exc).__name__)

    async def _keep_locked(self, token: str) -> None:
        """Renew the lock three times per its lifetime while this instance builds, as long as it is ours."""
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then "
            "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
        )
        while True:
            await asyncio.sleep(self._lock_ttl_ms / 3000)
            try:
                if not await self._redis.eval(script, 1, f"{self._prefix}:lock", token, self._lock_ttl_ms):
                    return  # taken over (it expired while Redis was away): the others build too
            except RedisError as exc:
                log.debug("could not renew the shared index lock: %s", type(exc).__name__)

    async def _release(self, token: str) -> None:
        """Delete the lock only if it is still ours (it may have expired and been taken)."""
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
        )
        with contextlib.suppress(RedisError):
            await self._redis.eval(script, 1, f"{self._prefix}:lock", token)


def encode(index: PhoneIndex) -> bytes | None:
    """The arrays as compressed ``.npz`` bytes; None when the keys are not all integers or all text."""
    keys = index.keys
    if keys.dtype == object:
        if not all(isinstance(k, str) for k in keys):
            return None
        keys = keys.astype(str)
    elif keys.dtype != np.int64 or not index.keys_sorted:
        return None
    out = io.BytesIO()
    np.savez_compressed(out, numbers=index.numbers, key_ids=index.key_ids, keys=keys)
    return out.getvalue()


def describe(index: PhoneIndex, version: int, since: datetime) -> dict[str, Any]:
    """What ``decode`` needs beside the arrays, as JSON: counts, examples, key type, when the read began."""
    return {
        "version": version,
        "built_at": time.time(),
        "since": since.isoformat(),
        "rows": index.rows,
        "unreadable": index.unreadable,
        "examples": list(index.unreadable_examples),
        "text_keys": index.keys.dtype == object,
        "keys_repeat": index.keys_repeat,
        "keyless": index.keyless,
    }


def decode(blob: bytes, meta: dict[str, Any]) -> PhoneIndex:
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        numbers, key_ids, keys = arrays["numbers"], arrays["key_ids"], arrays["keys"]
    if meta.get("text_keys"):
        keys = keys.astype(object)
    return PhoneIndex(
        numbers.astype(np.int64),
        key_ids.astype(np.int32),
        keys,
        int(meta["rows"]),
        int(meta["unreadable"]),
        tuple(str(e) for e in meta.get("examples", ())),
        # published by an older screenpop: a full read's keys repeat when it read more rows than keys
        keys_repeat=bool(meta.get("keys_repeat", int(meta["rows"]) > len(keys))),
        keyless=int(meta.get("keyless", 0)),
    )
