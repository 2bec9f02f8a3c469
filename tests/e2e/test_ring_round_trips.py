"""A ringing webhook costs one Redis round trip before its 202: claim, call state and first frame at once.

The real app runs in this process with a ``redis://`` broker on the
session's Redis; a side connection runs ``MONITOR``.  Each webhook is
bracketed by two ``ECHO`` fences sent on a blocking client, which holds the
event loop while it waits: one once the earlier calls' fan-out tasks are
done, one from inside the app as the webhook's response is prepared, so
nothing the app does after the response (this card's fan-out task) can
reach Redis before it.  The broker's commands between the fences, less the
fan-out reader's ``XREAD`` and what ran inside scripts, are the webhook's
round trips before its 202: each is a single command (so none hides in a
pipeline).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web
from redis.asyncio import Redis

from screenpop.app import create_app
from screenpop.broker.redis import RedisBroker
from screenpop.web import app_keys
from tests.support.service import agent_socket, event_body, make, post_event, running_app
from tests.support.waiting import wait_for

pytestmark = pytest.mark.redis


class Fence:
    """Marks moments in Redis's MONITOR stream: before a webhook, and as its response is prepared."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._count = itertools.count(1)
        self.last = ""

    def mark(self) -> str:
        """An ``ECHO`` on a blocking client: no other task of this process reaches Redis meanwhile."""
        self.last = f"fence-{next(self._count)}"
        self._client.echo(self.last)
        return self.last

    async def on_prepare(self, request: web.Request, _: web.StreamResponse) -> None:
        if request.path.startswith("/webhooks/"):
            self.mark()

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def fence(redis_url: str) -> Iterator[Fence]:
    made = Fence(redis_url)
    yield made
    made.close()


async def commands_between(monitor: Any, start: str, end: str) -> list[tuple[str, str]]:
    """(client address, command name) of what MONITOR saw between two fences, scripts' own left out."""
    seen: list[tuple[str, str]] | None = None
    for _ in range(10_000):
        info = await monitor.next_command()
        words = str(info["command"]).split(" ")
        if words[0].upper() == "ECHO" and words[-1] in (start, end):
            if words[-1] == end:
                assert seen is not None, f"{end} came before {start}"
                return seen
            seen = []
        elif seen is not None and info["client_type"] != "lua":
            seen.append((f"{info['client_address']}:{info['client_port']}", words[0].upper()))
    raise AssertionError(f"{start} .. {end} not seen in 10,000 commands")


async def broker_addresses(side: Redis, broker: RedisBroker) -> set[str]:
    """The addresses of the broker's own connections (named ``screenpop:<instance id>``)."""
    clients = await side.client_list()
    return {str(c["addr"]) for c in clients if c.get("name") == f"screenpop:{broker.instance_id}"}


async def test_a_ringing_webhook_makes_one_round_trip_to_redis_before_its_202(
    tmp_path: Path, redis_url: str, fence: Fence
) -> None:
    """A first ring, its repeat and a second leg: each is one EVALSHA before its 202, and pops right."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", broker={"url": redis_url})
    app = create_app(settings)
    app.on_response_prepare.append(fence.on_prepare)
    side = Redis.from_url(redis_url, decode_responses=True)
    await side.script_flush()  # as a fresh or promoted Redis: the broker loads its scripts as it connects
    try:
        async with running_app(app) as (base, app), agent_socket(base, settings, "agent-1") as agent:
            broker, calls = app[app_keys.BROKER], app[app_keys.CALLS]
            assert isinstance(broker, RedisBroker)
            await wait_for(lambda: _up(broker), 5.0, "the broker connected")
            async with side.monitor() as monitor:
                trips = []
                for body in (
                    event_body("c-trips", agent="agent-1", leg="leg-1"),
                    event_body("c-trips", agent="agent-1", leg="leg-1"),  # the same ring again
                    event_body("c-trips", queue="support", leg="leg-2"),  # a second leg: agent-2 joins
                ):
                    # the previous call's fan-out (its own round trips, after its 202) is over
                    await wait_for(lambda: calls.in_flight == 0, 10.0, "the earlier calls completed")
                    start = fence.mark()
                    status, _ = await post_event(base, body)
                    assert status == 202
                    seen = await commands_between(monitor, start, fence.last)
                    ours = await broker_addresses(side, broker)
                    trips.append([name for addr, name in seen if addr in ours and name != "XREAD"])
            assert trips == [["EVALSHA"], ["EVALSHA"], ["EVALSHA"]]
            frames = await agent.card_until_complete("c-trips")
            assert frames[0]["version"] == 1
    finally:
        await side.aclose()


async def _up(broker: RedisBroker) -> bool:
    return await broker.health() == "ok"
