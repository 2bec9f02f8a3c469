"""The shared section cache against a real Redis: sharing, expiry, age, the lookup lock, outages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from screenpop.cache_redis import RedisCache
from screenpop.model import Section, SectionStatus
from tests.servers import RedisServer

pytestmark = pytest.mark.redis

ADA = Section(SectionStatus.OK, title="Accounting", data={"account_id": "A-1001", "balance": 120.5}, rows=1)


@pytest.fixture
async def caches(redis_url: str) -> AsyncIterator[tuple[RedisCache, RedisCache]]:
    """The caches of two instances sharing one Redis."""
    a, b = RedisCache(redis_url), RedisCache(redis_url)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_section_put_on_one_instance_is_read_on_another(caches: tuple[RedisCache, RedisCache]) -> None:
    """A section stored by one instance comes back intact, with its store time, on another."""
    a, b = caches
    before = time.time()
    await a.put("accounting:k1", ADA, keep_s=30)
    found = await b.get("accounting:k1")
    assert found is not None
    assert found.section == ADA
    assert before <= found.stored_at <= time.time()
    assert await b.get("accounting:other") is None


async def test_not_found_answers_are_shared_too(caches: tuple[RedisCache, RedisCache]) -> None:
    """A cached not_found comes back as not_found, so the second call skips the lookup as well."""
    a, b = caches
    await a.put("crm:k", Section(SectionStatus.NOT_FOUND, title="CRM"), keep_s=30)
    found = await b.get("crm:k")
    assert found is not None
    assert found.section.status is SectionStatus.NOT_FOUND


async def test_entries_expire_after_keep_s(caches: tuple[RedisCache, RedisCache]) -> None:
    """An entry is gone once its keep time has passed."""
    a, b = caches
    await a.put("accounting:k2", ADA, keep_s=0.2)
    assert await b.get("accounting:k2") is not None
    await asyncio.sleep(0.3)
    assert await b.get("accounting:k2") is None


async def test_age_grows_so_the_engine_can_serve_stale(caches: tuple[RedisCache, RedisCache]) -> None:
    """The age of an entry read later reflects when it was stored, for stale-while-revalidate."""
    a, b = caches
    await a.put("accounting:k3", ADA, keep_s=5)
    await asyncio.sleep(0.25)
    found = await b.get("accounting:k3")
    assert found is not None
    assert 0.25 <= found.age(time.time()) < 2


async def test_lookup_lock_is_held_by_one_instance_at_a_time(caches: tuple[RedisCache, RedisCache]) -> None:
    """Only one instance gets the lock for a key; a non-holder cannot release it; expiry frees it."""
    a, b = caches
    assert await a.lock("accounting:k4", ttl_s=0.3) is True
    assert await b.lock("accounting:k4", ttl_s=0.3) is False
    await b.unlock("accounting:k4")
    assert await b.lock("accounting:k4", ttl_s=0.3) is False
    await a.unlock("accounting:k4")
    assert await b.lock("accounting:k4", ttl_s=0.3) is True
    await asyncio.sleep(0.4)
    assert await a.lock("accounting:k4", ttl_s=0.3) is True


async def test_waiter_gets_the_answer_the_lock_holder_stores(caches: tuple[RedisCache, RedisCache]) -> None:
    """An instance that lost the lock receives the holder's section as soon as it is stored."""
    a, b = caches
    assert await a.lock("accounting:k5", ttl_s=2)

    async def holder() -> None:
        await asyncio.sleep(0.15)
        await a.put("accounting:k5", ADA, keep_s=30)
        await a.unlock("accounting:k5")

    task = asyncio.create_task(holder())
    started = time.monotonic()
    found = await b.wait_for("accounting:k5", timeout_s=1.0)
    waited = time.monotonic() - started
    await task
    assert found is not None
    assert found.section == ADA
    assert 0.1 < waited < 0.5


async def test_waiter_stops_waiting_when_the_holder_stores_nothing(
    caches: tuple[RedisCache, RedisCache],
) -> None:
    """When the holder releases the lock without an answer (an error), the waiter returns None early."""
    a, b = caches
    assert await a.lock("accounting:k6", ttl_s=5)

    async def failing_holder() -> None:
        await asyncio.sleep(0.1)
        await a.unlock("accounting:k6")

    task = asyncio.create_task(failing_holder())
    started = time.monotonic()
    found = await b.wait_for("accounting:k6", timeout_s=3.0)
    await task
    assert found is None
    assert time.monotonic() - started < 1.0


async def test_waiter_gives_up_at_its_timeout(caches: tuple[RedisCache, RedisCache]) -> None:
    """A waiter whose holder never answers returns None at its timeout, not later."""
    a, b = caches
    assert await a.lock("accounting:k7", ttl_s=5)
    started = time.monotonic()
    assert await b.wait_for("accounting:k7", timeout_s=0.3) is None
    assert 0.25 < time.monotonic() - started < 0.6


async def test_cache_degrades_to_a_fast_miss_while_redis_is_down(
    redis_url: str, redis_server: RedisServer
) -> None:
    """With Redis stopped, get is a miss within 100 ms, put is harmless, lock is granted; it heals."""
    cache = RedisCache(redis_url)
    try:
        await cache.put("accounting:k8", ADA, keep_s=30)
        redis_server.stop()
        for _ in range(3):
            started = time.monotonic()
            assert await cache.get("accounting:k8") is None
            assert time.monotonic() - started < 0.1
        await cache.put("accounting:k9", ADA, keep_s=30)
        assert await cache.lock("accounting:k9", ttl_s=1) is True
        assert (await cache.health()).startswith("down: ")
        redis_server.start()
        await asyncio.sleep(1.1)  # the cache leaves Redis alone for a second after a fault
        await cache.put("accounting:k9", ADA, keep_s=30)
        found = await cache.get("accounting:k9")
        assert found is not None
        assert await cache.health() == "ok"
    finally:
        await cache.close()
        if not redis_server.running:
            redis_server.start()
