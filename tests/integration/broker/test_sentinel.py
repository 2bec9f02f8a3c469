"""The Redis broker and section cache on ``redis+sentinel://``, through a real Sentinel deployment.

A planned failover (``SENTINEL FAILOVER``) demotes the primary while it keeps
running: the broker's open connections are dropped by Sentinel or answered
``READONLY`` (which redis-py's Sentinel connections turn into a connection
error); either way the broker must reconnect through the sentinels to the
promoted replica instead of crashing or writing to the demoted server.
Which of the two happened is not asserted: Sentinel decides that.
"""

from __future__ import annotations

from redis.asyncio import Redis

from screenpop.broker import RedisBroker
from screenpop.lookup import RedisCache
from screenpop.model import Section, SectionStatus
from tests.support.sentinel import SERVICE, SentinelSet, sentinel_set
from tests.support.waiting import wait_for


async def _value_on(port: int, key: str) -> str | None:
    async with Redis(port=port, decode_responses=True, socket_timeout=1.0) as client:
        found = await client.get(key)
    return None if found is None else str(found)


async def _failover(servers: SentinelSet) -> None:
    """Ask a sentinel for a planned failover and wait until every sentinel names the replica."""
    async with Redis(port=servers.sentinels[0].port, decode_responses=True, socket_timeout=2.0) as sentinel:
        await sentinel.execute_command("SENTINEL", "FAILOVER", SERVICE)
    await wait_for(lambda: _promoted(servers), 20, "the replica promoted")


async def _promoted(servers: SentinelSet) -> bool:
    async with Redis(port=servers.replica.port, decode_responses=True, socket_timeout=1.0) as client:
        role = (await client.info("replication")).get("role")
    return role == "master" and await servers.primary_port() == servers.replica.port


async def test_broker_follows_a_planned_failover_to_the_promoted_replica() -> None:
    """After SENTINEL FAILOVER the broker's writes land on the promoted replica, and health is ok again."""
    async with sentinel_set() as servers:
        broker = RedisBroker(servers.url, 300)
        await broker.start()
        try:
            assert await broker.health() == "ok"
            assert await broker.claim("before", 60)
            assert await _value_on(servers.primary.port, "screenpop:kv:before") == "1"
            await _failover(servers)

            async def claimed_on_new_primary() -> bool:
                await broker.claim("after", 60)
                return await _value_on(servers.replica.port, "screenpop:kv:after") == "1"

            await wait_for(claimed_on_new_primary, 20, "a claim written to the promoted replica")
            await wait_for(lambda: _is_ok(broker), 20, "broker health ok after the failover")
            # the claim made before the failover was replicated: it still holds, across the failover
            assert not await broker.claim("before", 60)
        finally:
            await broker.close()


async def _is_ok(broker: RedisBroker) -> bool:
    return await broker.health() == "ok"


async def test_section_cache_reads_and_writes_through_the_sentinels() -> None:
    """The section cache on the Sentinel URL stores on the primary and reads it back after a failover."""
    async with sentinel_set() as servers:
        cache = RedisCache(servers.url)
        try:
            await cache.put("k", Section(status=SectionStatus.OK, data={"n": 1}), keep_s=60)
            await _failover(servers)

            async def read_back() -> bool:
                found = await cache.get("k")
                return found is not None and found.section.data == {"n": 1}

            await wait_for(read_back, 20, "the cached section read from the promoted replica")
        finally:
            await cache.close()
