"""The shared section cache against a real Redis: sharing, expiry, age, the lookup lock, outages.

No test measures elapsed time (``bench/components.py`` does): expiry is
awaited as an event (the entry or lock gone, polled with a bound), ages and
the rest after a fault move on a ``ManualClock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from screenpop.lookup.redis_cache import REST_S, RedisCache, entry_key, lock_key
from screenpop.model import Section, SectionStatus
from screenpop.testing import ManualClock
from tests.support.servers import RedisServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.redis

ADA = Section(SectionStatus.OK, title="Accounting", data={"account_id": "A-1001", "balance": 120.5}, rows=1)
WITHIN_S = 5.0  # a bound on waiting for an event, never an assertion about speed


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def caches(redis_url: str, clock: ManualClock) -> AsyncIterator[tuple[RedisCache, RedisCache]]:
    """The caches of two instances sharing one Redis (and, here, one manual clock)."""
    a, b = RedisCache(redis_url, clock=clock), RedisCache(redis_url, clock=clock)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def pttl_ms(redis_url: str, key: str) -> int:
    """Redis's own remaining time to live of ``key`` in milliseconds (-2: no such key)."""
    redis = Redis.from_url(redis_url)
    try:
        return int(await redis.pttl(key))
    finally:
        await redis.aclose()


async def test_section_put_on_one_instance_is_read_on_another(
    caches: tuple[RedisCache, RedisCache], clock: ManualClock
) -> None:
    """A section stored by one instance comes back intact, with its store time, on another."""
    a, b = caches
    await a.put("accounting:k1", ADA, keep_s=30)
    found = await b.get("accounting:k1")
    assert found is not None
    assert found.section == ADA
    assert found.stored_at == clock.time()
    assert await b.get("accounting:other") is None


async def test_not_found_answers_are_shared_too(caches: tuple[RedisCache, RedisCache]) -> None:
    """A cached not_found comes back as not_found, so the second call skips the lookup as well."""
    a, b = caches
    await a.put("crm:k", Section(SectionStatus.NOT_FOUND, title="CRM"), keep_s=30)
    found = await b.get("crm:k")
    assert found is not None
    assert found.section.status is SectionStatus.NOT_FOUND


async def test_entries_expire_after_keep_s(caches: tuple[RedisCache, RedisCache], redis_url: str) -> None:
    """An entry is handed to Redis with keep_s as its time to live, and is gone once that has passed."""
    a, b = caches
    await a.put("accounting:k2", ADA, keep_s=1.0)  # long enough to be read back on a loaded machine
    assert await b.get("accounting:k2") is not None
    assert 0 < await pttl_ms(redis_url, entry_key("accounting:k2")) <= 1000
    await wait_for(lambda: _gone(b, "accounting:k2"), WITHIN_S, "the entry expiring")


async def _gone(cache: RedisCache, key: str) -> bool:
    return await cache.get(key) is None


async def test_age_grows_so_the_engine_can_serve_stale(
    caches: tuple[RedisCache, RedisCache], clock: ManualClock
) -> None:
    """The age of an entry read later reflects when it was stored, for stale-while-revalidate."""
    a, b = caches
    await a.put("accounting:k3", ADA, keep_s=5)
    clock.advance(2.5)
    found = await b.get("accounting:k3")
    assert found is not None
    assert found.age(clock.time()) == 2.5


async def test_lookup_lock_is_held_by_one_instance_at_a_time(
    caches: tuple[RedisCache, RedisCache], redis_url: str
) -> None:
    """Only one instance gets the lock for a key; a non-holder cannot release it; expiry frees it."""
    a, b = caches
    # a lock that must hold while the steps run lives 30 s: with 0.3 s, a pause of the machine
    # (a loaded CI runner) between two steps let it expire and b took it
    assert await a.lock("accounting:k4", ttl_s=30) is True
    assert await b.lock("accounting:k4", ttl_s=30) is False
    await b.unlock("accounting:k4")
    assert await b.lock("accounting:k4", ttl_s=30) is False
    await a.unlock("accounting:k4")
    assert await b.lock("accounting:k4", ttl_s=0.3) is True
    left_ms = await pttl_ms(redis_url, lock_key("accounting:k4"))
    assert 0 < left_ms <= 300 or left_ms == -2  # -2: gone, expired as asked; -1 would be a lock for ever
    await wait_for(lambda: a.lock("accounting:k4", ttl_s=0.3), WITHIN_S, "b's lock expiring for a")


async def test_waiter_gets_the_answer_the_lock_holder_stores(caches: tuple[RedisCache, RedisCache]) -> None:
    """An instance that lost the lock waits, and receives the holder's section once it is stored."""
    a, b = caches
    assert await a.lock("accounting:k5", ttl_s=30)
    waiter = asyncio.create_task(b.wait_for("accounting:k5", timeout_s=30))
    done, _ = await asyncio.wait({waiter}, timeout=0.2)
    assert not done, "the waiter returned before the holder stored anything"
    await a.put("accounting:k5", ADA, keep_s=30)
    await a.unlock("accounting:k5")
    found = await asyncio.wait_for(waiter, WITHIN_S)  # long before its own 30 s timeout
    assert found is not None
    assert found.section == ADA


async def test_waiter_stops_waiting_when_the_holder_stores_nothing(
    caches: tuple[RedisCache, RedisCache],
) -> None:
    """When the holder releases the lock without an answer (an error), the waiter returns None early."""
    a, b = caches
    assert await a.lock("accounting:k6", ttl_s=30)
    waiter = asyncio.create_task(b.wait_for("accounting:k6", timeout_s=30))
    done, _ = await asyncio.wait({waiter}, timeout=0.2)
    assert not done, "the waiter returned while the holder still held the lock"
    await a.unlock("accounting:k6")
    assert await asyncio.wait_for(waiter, WITHIN_S) is None  # long before its own 30 s timeout


async def test_waiter_gives_up_at_its_timeout(caches: tuple[RedisCache, RedisCache]) -> None:
    """A waiter whose holder never answers (the lock still held) returns None at its timeout."""
    a, b = caches
    assert await a.lock("accounting:k7", ttl_s=30)
    assert await asyncio.wait_for(b.wait_for("accounting:k7", timeout_s=0.3), WITHIN_S) is None
    assert await b.lock("accounting:k7", ttl_s=30) is False  # it gave up: the holder still holds it


async def test_cache_degrades_to_a_miss_while_redis_is_down_and_rests(
    redis_url: str, redis_server: RedisServer
) -> None:
    """With Redis stopped, get is a miss, put is harmless, lock is granted; it rests REST_S, then heals."""
    clock = ManualClock()
    cache = RedisCache(redis_url, clock=clock)
    witness = RedisCache(redis_url)  # another instance, which has not seen the fault
    try:
        await cache.put("accounting:k8", ADA, keep_s=30)
        redis_server.stop()
        assert await cache.get("accounting:k8") is None
        await cache.put("accounting:k9", ADA, keep_s=30)
        assert await cache.lock("accounting:k9", ttl_s=1) is True
        assert (await cache.health()).startswith("down: ")
        redis_server.start()
        await cache.put("accounting:k10", ADA, keep_s=30)  # still resting: Redis is left alone
        assert await witness.get("accounting:k10") is None
        clock.advance(REST_S)
        await cache.put("accounting:k10", ADA, keep_s=30)
        assert await witness.get("accounting:k10") is not None
        assert await cache.get("accounting:k10") is not None
        assert await cache.health() == "ok"
    finally:
        await cache.close()
        await witness.close()
        if not redis_server.running:
            redis_server.start()
