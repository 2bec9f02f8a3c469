"""The shared index's build lock on a real Redis: a live builder keeps it, a dead one frees it soon.

Before, the lock lived as long as the whole build timeout (ten minutes), so
an instance killed while it read the table held every other instance
without a number index for that long.  Here the lock lives a moment and the
builder renews it while it builds.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from datetime import datetime
from pathlib import Path

import pytest

from screenpop.broker.redis_url import redis_client
from screenpop.connectors.sql.index import PhoneIndex
from screenpop.connectors.sql.rows import RowReader
from screenpop.connectors.sql.shared import SharedIndex
from screenpop.plugins import connector_context

pytestmark = pytest.mark.redis

LOCK_TTL_S = 1.0  # renewed every third of it: a loop stalled for 0.6 s still keeps it
BUILD_TIMEOUT_S = 600.0  # what a big table is given: far longer than any wait here
SOURCE = "sqlite:///customers.db\nSELECT id, phone FROM customers\nNone"


def shared(redis_url: str, name: str) -> SharedIndex:
    return SharedIndex(
        functools.partial(redis_client, redis_url),
        name,
        SOURCE,
        fresh_s=60,
        build_timeout_s=BUILD_TIMEOUT_S,
        since=lambda: datetime(2026, 1, 1),
        lock_ttl_s=LOCK_TTL_S,
    )


def small_index() -> PhoneIndex:
    reader = RowReader(("id", "phone"), None, connector_context("US", Path("."), None))
    return PhoneIndex.build([(1, "(415) 555-0132"), (2, "212 555 0199")], reader)


BUILDER = """
import asyncio, functools, sys
from datetime import datetime
from screenpop.broker.redis_url import redis_client
from screenpop.connectors.sql.shared import SharedIndex

async def never_done():
    print("building", flush=True)
    await asyncio.Event().wait()

index = SharedIndex(functools.partial(redis_client, sys.argv[1]), sys.argv[2], sys.argv[3], fresh_s=60,
                    build_timeout_s=float(sys.argv[4]), since=lambda: datetime(2026, 1, 1),
                    lock_ttl_s=float(sys.argv[5]))
asyncio.run(index.full(never_done))
"""


async def test_an_instance_killed_mid_build_frees_the_others_within_the_locks_short_life(
    redis_url: str, request: pytest.FixtureRequest
) -> None:
    """The builder is SIGKILLed while it reads the table: the next instance builds the index itself."""
    name = request.node.name[:40]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BUILDER,
        redis_url,
        name,
        SOURCE,
        str(BUILD_TIMEOUT_S),
        str(LOCK_TTL_S),
        stdout=asyncio.subprocess.PIPE,
    )
    index = shared(redis_url, name)
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"building\n"
        child.kill()  # dies holding the lock: nothing releases it
        await child.wait()
        built = await asyncio.wait_for(index.full(_built_now), 30)
        assert built.keys_for("+14155550132") == (1,)
        assert index.last_source == "table"
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await index.close()


async def test_a_live_builder_keeps_its_lock_and_the_others_load_its_index(
    redis_url: str, request: pytest.FixtureRequest
) -> None:
    """A build that outlasts the lock's life: the lock stays, the second instance loads its index."""
    name = request.node.name[:40]
    first, second = shared(redis_url, name), shared(redis_url, name)
    building, finish = asyncio.Event(), asyncio.Event()
    second_built = False

    async def slow_build() -> PhoneIndex:
        building.set()
        await finish.wait()
        return small_index()

    async def second_build() -> PhoneIndex:
        nonlocal second_built
        second_built = True
        return small_index()

    try:
        builder = asyncio.create_task(first.full(slow_build))
        await building.wait()
        waiter = asyncio.create_task(second.full(second_build))
        await asyncio.sleep(LOCK_TTL_S * 2.5)  # allow-sleep: unrenewed, the lock would be gone twice over
        assert not waiter.done(), "the second instance stopped waiting for a live builder"
        finish.set()
        loaded = await asyncio.wait_for(waiter, 30)
        await asyncio.wait_for(builder, 30)
        assert loaded.keys_for("+12125550199") == (2,)
        assert (first.last_source, second.last_source, second_built) == ("table", "shared", False)
    finally:
        finish.set()
        await first.close()
        await second.close()


async def _built_now() -> PhoneIndex:
    return small_index()
