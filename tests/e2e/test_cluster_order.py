"""Two instances on one Redis: what one instance publishes is never overtaken and lost at its own sockets.

Instance B talks to Redis through a loopback proxy that can hold back the
reply to B's append script: Redis has run it (the message is in the streams,
every other instance sees it), only B has not heard yet, exactly as when
B's reply is slower than B's fan-out reader.  Meanwhile instance A publishes
a later message for the same agent, whose socket is on B.  Both must reach
that socket, in id order, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from redis.asyncio import Redis

from screenpop.broker import id_key
from screenpop.broker.redis_layout import stream_key
from screenpop.broker.scripts import APPEND_LUA
from tests.support.processes import (
    Service,
    agent_on,
    hit_server,
    http_connector,
    ring,
    service_config,
    services,
    wait_for,
)
from tests.support.service import Agent

pytestmark = pytest.mark.redis

APPEND_SHA = hashlib.sha1(APPEND_LUA.encode()).hexdigest().encode()  # noqa: S324 - Redis names scripts so


@dataclass
class _Link:
    to_client: asyncio.StreamWriter
    holding: bool = False
    held: list[bytes] = field(default_factory=list)
    saw_marker: bool = False


class HoldingProxy:
    """Forwards loopback TCP to Redis, and can hold back the reply to one append script call.

    ``hold(marker)``: the next append script call's reply waits until B's
    fan-out reader has taken a reply carrying ``marker`` (the later message)
    and asked Redis again, which it does only once it has handed every entry
    of that reply to its sockets.  All of it happens here, on the bytes, so
    the reply is held for as short a time as the race allows: B's client
    gives a reply 0.5 s before it gives up on Redis.  ``hold()`` without a
    marker keeps the reply until B gives up on it and drops the connection:
    a reply lost after Redis ran the script; ``hold(everything=True)`` then
    keeps every reply on B's connections (its reader's too), as when B's
    network stalls.
    """

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = 0
        self._marker: bytes | None = None
        self._armed = False
        self._everything = False
        self._links: list[_Link] = []
        self._server: asyncio.Server | None = None
        self.holding = asyncio.Event()
        self.released = asyncio.Event()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
            for link in self._links:
                link.to_client.close()

    def hold(self, marker: bytes | None = None, everything: bool = False) -> None:
        self._marker = marker
        self._armed = True
        self._everything = everything
        self.holding.clear()
        self.released.clear()

    def release(self) -> None:
        """Let every held reply through, and hold no more."""
        self._marker = None
        self._armed = False
        for link in self._links:
            link.holding = link.saw_marker = False
            if link.held and not link.to_client.is_closing():
                link.to_client.write(b"".join(link.held))
                link.held.clear()
        self.released.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        link = _Link(writer)
        self._links.append(link)
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.gather(self._upstream(reader, up_writer, link), self._downstream(up_reader, link))
        up_writer.close()
        writer.close()

    async def _upstream(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter, link: _Link) -> None:
        while data := await reader.read(65536):
            if link.saw_marker and b"XREAD" in data:
                self.release()  # B's reader took the later message and asks again
            if self._armed and not self.holding.is_set() and APPEND_SHA in data:
                link.holding = True  # set before Redis can answer: its reply is the one held
                for other in self._links if self._everything else ():
                    other.holding = True
            up.write(data)
            await up.drain()
        up.close()

    async def _downstream(self, up: asyncio.StreamReader, link: _Link) -> None:
        while data := await up.read(65536):
            if link.holding:
                link.held.append(data)
                self.holding.set()
                continue
            if self._marker is not None and self.holding.is_set() and self._marker in data:
                link.saw_marker = True
            link.to_client.write(data)
            await link.to_client.drain()
        link.to_client.close()


@contextlib.asynccontextmanager
async def holding_proxy(redis_url: str) -> AsyncIterator[tuple[HoldingProxy, str]]:
    parts = urlsplit(redis_url)
    assert parts.port is not None
    proxy = HoldingProxy(parts.port)
    await proxy.start()
    try:
        yield proxy, f"redis://127.0.0.1:{proxy.port}{parts.path or '/0'}"
    finally:
        await proxy.close()


async def frames_until(
    agent: Agent, wanted: Callable[[list[dict[str, Any]]], bool], within: float = 5.0
) -> None:
    """Read frames into ``agent.raw`` until ``wanted`` holds for all frames read so far."""
    async with asyncio.timeout(within):
        while not wanted(received(agent)):
            await agent.next(within)


def received(agent: Agent) -> list[dict[str, Any]]:
    """Every frame the socket got after its welcome."""
    return [frame for frame in map(json.loads, agent.raw) if frame.get("type") != "welcome"]


def has_answered(frames: list[dict[str, Any]]) -> bool:
    return any(f["type"] == "call" and f["status"] == "answered" for f in frames)


def has_final(frames: list[dict[str, Any]]) -> bool:
    return any(f["type"] == "card" and f["complete"] for f in frames)


def assert_in_order_once(frames: list[dict[str, Any]]) -> None:
    """Every message once, in event-id order, both the answer and the complete card among them."""
    keys = [id_key(f["event_id"]) for f in frames]
    assert keys == sorted(set(keys)), [f["event_id"] for f in frames]
    assert has_answered(frames) and has_final(frames)
    assert [f["type"] for f in frames].count("call") == 1


async def race(
    b: Service,
    agent: Agent,
    proxy: HoldingProxy,
    own: Callable[[], Awaitable[Any]],
    later: Callable[[], Awaitable[Any]],
    marker: bytes,
) -> None:
    """B publishes (``own``), its reply held; A publishes later (``later``); B hears its own reply last.

    ``own`` runs beside the race, not before it: a call event is published
    before its webhook is answered, so B's 202 waits for the very reply the
    proxy holds back.
    """
    proxy.hold(marker)
    published = asyncio.create_task(own())
    try:
        async with asyncio.timeout(10):
            await proxy.holding.wait()  # Redis ran B's script: B's message has the lower id
        await later()
        async with asyncio.timeout(10):
            await proxy.released.wait()  # B's reader handed out A's later message first
        async with asyncio.timeout(10):
            await published
    finally:
        published.cancel()
    await frames_until(agent, lambda frames: has_answered(frames) and has_final(frames))
    assert await agent.silent_for(0.5)
    assert_in_order_once(received(agent))
    assert "redis broker down" not in b.log.read_text(errors="replace"), "B gave up on the held reply"


def two_instances(
    tmp_path: Path, pg_url: str, redis_url: str, b_redis_url: str, crm_url: str
) -> contextlib.AbstractAsyncContextManager[dict[str, Service]]:
    """A straight on Redis, B through the proxy; one http connector that the test lets answer."""
    connectors = [http_connector("crm", crm_url, timeout_ms=30000)]
    a = service_config(pg_url, redis_url, connectors=connectors, card={"deadline_ms": 30000})
    b = service_config(pg_url, b_redis_url, connectors=connectors, card={"deadline_ms": 30000})
    return services(tmp_path, a=a, b=b)


async def test_answered_published_by_the_sockets_instance_is_not_lost_to_a_later_card(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """Card built on A, answered on B: B's answer reaches B's socket though A's final card got there first."""
    async with hit_server() as crm, holding_proxy(redis_url) as (proxy, via_proxy):
        crm.hang()
        async with two_instances(tmp_path, pg_url, redis_url, via_proxy, crm.url) as started:
            a, b = started["a"], started["b"]
            async with agent_on(b, "agent-1") as agent:
                assert (await ring(a, "c-1", agent="agent-1"))[0] == 202
                await frames_until(agent, lambda frames: len(frames) == 1)

                async def answer_on_b() -> None:
                    assert (await ring(b, "c-1", event="answered", agent="agent-1"))[0] == 202

                async def finish_card_on_a() -> None:
                    crm.answer()

                await race(b, agent, proxy, answer_on_b, finish_card_on_a, b"Caller 0132")


async def test_final_card_published_by_the_sockets_instance_is_not_lost_to_a_later_answer(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """Card built on B, answered on A: B's final card reaches B's socket though A's answer got there first."""
    async with hit_server() as crm, holding_proxy(redis_url) as (proxy, via_proxy):
        crm.hang()
        async with two_instances(tmp_path, pg_url, redis_url, via_proxy, crm.url) as started:
            a, b = started["a"], started["b"]
            async with agent_on(b, "agent-1") as agent, aiohttp.ClientSession() as session:
                assert (await ring(b, "c-2", session, agent="agent-1"))[0] == 202
                await frames_until(agent, lambda frames: len(frames) == 1)

                async def finish_card_on_b() -> None:
                    crm.answer()

                async def answer_on_a() -> None:
                    assert (await ring(a, "c-2", session, event="answered", agent="agent-1"))[0] == 202

                await race(b, agent, proxy, finish_card_on_b, answer_on_a, b"answered")
                assert await b.metric("screenpop_frames_out_of_order_total") == 0


@pytest.mark.parametrize("stall", [False, True], ids=["reply-lost", "all-replies-lost"])
async def test_an_append_whose_reply_is_lost_reaches_each_socket_and_the_stream_once(
    tmp_path: Path, redis_url: str, pg_url: str, stall: bool
) -> None:
    """B's append reaches Redis but B times out on its reply: each socket and the stream get it once.

    With ``stall`` B's reader hears nothing either, so B hands the message to
    its socket with a local id, and must not hand out Redis's copy later.
    """
    async with (
        hit_server() as crm,
        holding_proxy(redis_url) as (proxy, via_proxy),
        two_instances(tmp_path, pg_url, redis_url, via_proxy, crm.url) as started,
    ):
        a, b = started["a"], started["b"]
        async with agent_on(b, "agent-1") as on_b, agent_on(a, "agent-1") as on_a:
            assert (await ring(a, "c-3", agent="agent-1"))[0] == 202
            for agent in (on_a, on_b):
                await frames_until(agent, has_final)

            proxy.hold(everything=stall)  # no marker: B waits for this reply until it gives up on Redis
            assert (await ring(b, "c-3", event="answered", agent="agent-1"))[0] == 202
            assert proxy.holding.is_set()

            async def b_reconnected() -> bool:
                return b.log.read_text(errors="replace").count("redis broker connected") >= 2

            await wait_for(b_reconnected, 10, "B back on Redis after the lost reply")
            assert "redis broker down: timeout" in b.log.read_text(errors="replace")
            # a fence: what B published before this reaches every socket before it
            assert (await ring(b, "c-3", event="ended", agent="agent-1"))[0] == 202
            for agent in (on_a, on_b):
                await frames_until(agent, lambda frames: any(f.get("status") == "ended" for f in frames))
                frames = received(agent)
                keys = [id_key(f["event_id"]) for f in frames]
                assert keys == sorted(set(keys)), [f["event_id"] for f in frames]
                assert [f.get("status") for f in frames].count("answered") == 1, frames
            assert await b.metric("screenpop_frames_out_of_order_total") == 0

        async with Redis.from_url(redis_url, decode_responses=True) as redis:
            entries = await redis.xrange(stream_key("agent-1"))
        wanted = '"call_id":"c-3","status":"answered"'
        answered = [i for i, fields in entries if wanted in fields.get("b", "")]
        assert len(answered) == 1, entries
