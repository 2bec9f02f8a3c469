"""The transfer tests' Redis-holding proxy holds the write it is told to, however it arrives.

Two ways it let a transfer test wait ten seconds for a write that never came
(one fresh-clone run in four, late in the suite): the write reached it in
two reads, and the instance behind it took a pause of the test's own event
loop for a hung Redis, went "down" and kept the card locally.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from redis.asyncio import Redis

from screenpop.broker.redis import RedisBroker
from screenpop.broker.redis_url import redis_client
from tests.support.redis_hold import SLACK_S, command_end, held, with_slack

pytestmark = pytest.mark.redis

SET = b'*3\r\n$3\r\nSET\r\n$6\r\nv:card\r\n$14\r\n{"complete":1}\r\n'


def test_a_command_is_whole_only_once_all_of_it_has_arrived() -> None:
    for cut in range(len(SET)):
        assert command_end(SET[:cut]) is None, cut
    assert command_end(SET) == len(SET)
    assert command_end(SET + b"*1\r\n$4\r\nPING\r\n") == len(SET)


async def test_a_write_that_arrives_in_two_reads_is_held(redis_url: str) -> None:
    async with held(redis_url, b'"complete"', b"v:card") as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        try:
            writer.write(SET[:20])  # the key in one read, the card in the next
            await writer.drain()
            await asyncio.sleep(0.2)  # allow-sleep: the proxy reads the first part on its own
            writer.write(SET[20:])
            await writer.drain()
            await asyncio.wait_for(proxy.holding.wait(), 5)
            proxy.release()
            assert await asyncio.wait_for(reader.readline(), 5) == b"+OK\r\n"
        finally:
            writer.close()
    async with Redis.from_url(redis_url) as redis:
        assert await redis.get("v:card") == b'{"complete":1}'


def test_the_instances_behind_the_proxy_wait_longer_for_redis() -> None:
    client = redis_client(with_slack("redis://127.0.0.1:6379/0"), socket_timeout=0.5)
    assert client.connection_pool.connection_kwargs["socket_timeout"] == SLACK_S


async def test_a_pause_of_the_test_loop_is_not_a_redis_outage(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's blocked read waits out a stalled loop; at the broker's own 0.5 s it went down."""
    async with held(redis_url, b"\x00 never") as proxy:
        broker = RedisBroker(proxy.url, 60)
        await broker.start()
        try:
            assert await broker.health() == "ok"
            with caplog.at_level(logging.WARNING, logger="screenpop.broker.redis"):
                for _ in range(3):  # a blocked read (250 ms) is in flight nearly all the time
                    time.sleep(0.7)  # allow-sleep: a stall of the test loop is the input  # noqa: ASYNC251
                    await asyncio.sleep(0.3)  # allow-sleep: the loop runs again, its timers and reads due
            assert not [r.getMessage() for r in caplog.records if "down" in r.getMessage()]
            assert await broker.health() == "ok"
        finally:
            await broker.close()
