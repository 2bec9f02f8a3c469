"""A pause of the screenpop process itself is not Redis hanging (real Redis).

The broker gives Redis 0.5 s to answer.  That clock runs while the process
is paused (a container at the end of its CPU quota, a long collection, a VM
stalled by its host), and after such a pause the timeout fires before the
reply, which arrived meanwhile, is read.  The fan-out reader waits in XREAD
nearly all the time, so it took every pause of over 0.5 s for Redis hanging:
"redis broker down: timeout" in the log, /readyz 503, and cards crossing
instances only after a reconnection.  A fan-out read that times out is now
confirmed with a PING before the broker goes down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from functools import partial
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from screenpop.broker.redis import CONFIRMED_TIMEOUTS_MAX, RedisBroker
from tests.support.broker_frames import Received, card, recorder, until, until_health
from tests.support.redis_hold import CommandProxy
from tests.support.servers import RedisServer

pytestmark = pytest.mark.redis

PAUSE_S = 0.8  # over the broker's 0.5 s, and over the 250 ms a fan-out read blocks in Redis


def crossed(got: Received, count: int) -> bool:
    return len(got) == count


async def healths_for(broker: RedisBroker, seconds: float) -> set[str]:
    """Every health the broker reports over ``seconds`` (sampled every 10 ms)."""
    seen: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(await broker.health())
        await asyncio.sleep(0.01)  # allow-sleep: sampling a state over a fixed span
    return seen


async def test_a_paused_process_is_not_taken_for_a_hung_redis(
    pair: tuple[RedisBroker, RedisBroker], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    got_a, handler_a = recorder()
    a.listen(handler_a)
    seen: set[str] = set()
    with caplog.at_level("INFO", logger="screenpop.broker.redis"):
        for n in range(3):
            time.sleep(PAUSE_S)  # allow-sleep: the process paused, its loop with it  # noqa: ASYNC251
            seen |= await healths_for(a, 0.3)
            await b.publish([card(n)])
            assert await until(partial(crossed, got_a, n + 1)), f"card {n} did not cross after pause {n}"
    said = [r.getMessage() for r in caplog.records if r.name == "screenpop.broker.redis"]
    assert not [line for line in said if "down" in line], said
    assert seen == {"ok"}
    assert any("Redis answers" in line for line in said), said


async def test_a_hung_redis_is_still_noticed_by_the_reader_alone(
    pair: tuple[RedisBroker, RedisBroker], redis_server: RedisServer
) -> None:
    """No call in flight: the fan-out read times out, the PING that confirms it too, and both go down."""
    a, b = pair
    client = Redis.from_url(redis_server.url)
    pid = int((await client.info("server"))["process_id"])
    await client.aclose()
    started = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        assert await until_health(a, b, lambda h: h == "down: timeout", within_s=3.0)
        noticed_s = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert noticed_s < 2.0
    assert await until_health(a, b, lambda h: h == "ok", within_s=5.0)


class UnansweredReads(CommandProxy):
    """A loopback proxy to Redis that forwards every command but XREAD, which it never answers."""

    def __init__(self, redis_port: int) -> None:
        super().__init__(redis_port)
        self.reads = 0

    async def pass_on(self, command: bytes, sink: asyncio.StreamWriter) -> None:
        if b"XREAD" in command.upper():
            self.reads += 1  # and never forwarded: the client's timeout ends it
            return
        sink.write(command)


async def test_reads_that_never_finish_while_redis_answers_pings_still_take_it_down(redis_url: str) -> None:
    """A pause is a moment: reads timing out one after another, with PINGs answered, are a fault.

    (Say a reply too big to arrive within the timeout.)  Confirming each one
    forever would leave the broker up and deaf to the other instances.
    """
    proxy = UnansweredReads(urlsplit(redis_url).port or 6379)
    await proxy.start()
    broker = RedisBroker(f"redis://127.0.0.1:{proxy.port}/0", 300)
    try:
        await broker.start()
        assert await broker.health() == "ok"
        seen = await healths_for(broker, 0.5 * (CONFIRMED_TIMEOUTS_MAX + 1) + 1.5)
    finally:
        await broker.close()
        await proxy.close()
    assert "down: timeout" in seen
    assert proxy.reads > CONFIRMED_TIMEOUTS_MAX
