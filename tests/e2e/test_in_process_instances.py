"""An instance served on the test's own event loop waits out a pause of that loop: Redis is not hung.

Two fresh-clone runs side by side failed a two-instance transfer test once
(``redis broker down: timeout`` in its log): a pause of the test process's
loop longer than the broker's 0.5 s, with a blocked read in flight, made
the broker give up on a reply that had arrived.  The tests that run two
instances in one process give them ``redis_hold.SLACK_S``
(``sharing_the_tests_loop``); a process of its own keeps the broker's 0.5 s,
and a stopped Redis is still seen at once (test_admin_health).

The broker now confirms a timed-out fan-out read with a PING before going
down (``tests/integration/broker/test_paused_process.py``), which covers
the blocked read; the slack stays for a pause that lands on a call's own
command, which still goes down at its first timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from tests.support.redis_hold import SLACK_S
from tests.support.service import api, make, running, sharing_the_tests_loop
from tests.support.waiting import wait_for

pytestmark = pytest.mark.redis


def test_only_a_plain_redis_url_gets_the_slack(tmp_path: Path, redis_url: str) -> None:
    store = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    slack = sharing_the_tests_loop(make(store, broker={"url": redis_url})).broker.url
    assert slack.endswith(f"socket_timeout={SLACK_S}")
    memory = make(store)
    assert sharing_the_tests_loop(memory) is memory
    chosen = make(store, broker={"url": f"{redis_url}?socket_timeout=1"})
    assert sharing_the_tests_loop(chosen) is chosen


async def test_a_pause_of_the_tests_loop_does_not_take_the_broker_down(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db", broker={"url": redis_url})
    async with running(sharing_the_tests_loop(settings)) as base:

        async def ready() -> bool:
            status, _ = await api(base, "GET", "/readyz")
            return status == 200

        await wait_for(ready, 10, "the instance ready, its broker connected")
        with caplog.at_level(logging.WARNING, logger="screenpop.broker.redis"):
            for _ in range(3):  # the broker's blocked fan-out read is in flight nearly all the time
                time.sleep(0.7)  # allow-sleep: a stall of the test loop is the input  # noqa: ASYNC251
                await asyncio.sleep(0.3)  # allow-sleep: the loop runs again, its timers and reads due
        assert not [r.getMessage() for r in caplog.records if "down" in r.getMessage()]
        assert await ready()
