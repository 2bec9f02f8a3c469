"""No lost pop when things break: Redis outages, hanging connectors, frozen browsers, floods.

Real `screenpop serve` processes (``tests/process_helpers.py``), the session's
real Redis (stopped and started again here), real local HTTP APIs for `http`
connectors, and real agent websockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import struct
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.process_helpers import (
    RawAgentSocket,
    Service,
    agent_on,
    hit_server,
    http_connector,
    ring,
    service_config,
    services,
    wait_for,
)
from tests.servers import RedisServer
from tests.service_helpers import ADA, SCRIPTED, Agent

OUTAGE_S = 5.0


async def _readiness(service: Service) -> tuple[int, dict[str, Any]]:
    status, report = await service.get("/readyz")
    assert isinstance(report, dict), report
    return status, report


async def _complete_card(
    listener: Agent, service: Service, call_id: str, **fields: Any
) -> tuple[dict[str, Any], float]:
    """Ring ``call_id`` on ``service`` (for ``listener`` unless told otherwise); its complete card and
    the webhook→complete time as ``listener`` saw it."""
    started = time.perf_counter()
    fields.setdefault("agent", listener.welcome["agent"])
    status, reply = await ring(service, call_id, **{k: v for k, v in fields.items() if v is not None})
    assert status == 202, reply
    frames = await listener.card_until_complete(call_id)
    return frames[-1]["card"], time.perf_counter() - started


async def test_redis_outage_keeps_local_cards_and_recovers_without_restart(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, pg_url: str
) -> None:
    """With Redis stopped for 5 s A's agents still get cards and /readyz is 503; after, all is back in 5 s."""
    config = service_config(pg_url, redis_url)
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        async with agent_on(a, "agent-1") as on_a, agent_on(b, "agent-2") as on_b:
            redis_server.stop()
            try:
                outage_started = time.monotonic()
                calls = 0
                for n in range(1, 30):
                    if time.monotonic() - outage_started > OUTAGE_S - 0.5:
                        break
                    card, _ = await _complete_card(on_a, a, f"c-outage-{n}")
                    calls += 1
                    assert card["customer"]["name"] == "Ada Lovelace"
                    status, report = await _readiness(a)
                    assert status == 503 and report["broker"].startswith("down: "), report
                    await asyncio.sleep(0.4)
                assert calls >= 3
                await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - outage_started)))
            finally:
                redis_server.start()
            back = time.monotonic()
            await wait_for(lambda: _all_ready(a, b), 5, "/readyz 200 on both instances")
            assert time.monotonic() - back < 5

            card, _ = await _complete_card(on_b, a, "c-after")  # webhook to A, agent on B
            assert card["caller"]["e164"] == ADA
            # the outbox flushed on reconnect did not send A's own cards to its agent a second time
            assert await on_a.silent_for(0.3)


async def _all_ready(*instances: Service) -> bool:
    for service in instances:
        status, report = await _readiness(service)
        if status != 200 or report["broker"] != "ok":
            return False
    return True


async def test_hanging_connector_opens_its_circuit_and_closes_it_when_it_answers(tmp_path: Path) -> None:
    """A hanging API times out twice, then is skipped at once while open, and is used again after reset_s."""
    async with hit_server() as api:
        api.hang()
        crm = http_connector("crm", api.url + "/crm", timeout_ms=300, circuit={"failures": 2, "reset_s": 1})
        config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=[crm])
        config["card"] = {"deadline_ms": 500}
        async with services(tmp_path, a=config) as started:
            a = started["a"]
            async with agent_on(a, "agent-1") as agent:
                for n in (1, 2):
                    card, elapsed = await _complete_card(agent, a, f"c-hang-{n}")
                    assert card["sections"]["crm"]["status"] == "timeout", card["sections"]
                    assert 0.3 <= elapsed < 1.0
                status, report = await _readiness(a)
                assert status == 200 and report["connectors"] == {"crm": "open"}
                assert await a.metric("screenpop_circuit_open", 'connector="crm"') == 1.0

                asked = sum(api.hits.values())
                card, elapsed = await _complete_card(agent, a, "c-open")
                section = card["sections"]["crm"]
                assert (section["status"], section["error"]) == ("error", "circuit open")
                assert elapsed < 0.25, f"an open circuit still cost {elapsed:.3f} s"
                assert sum(api.hits.values()) == asked, "the open circuit still called the API"

                api.answer()
                await wait_for(lambda: _circuit(a, "half_open"), 2, "the circuit half-open after reset_s")
                card, _ = await _complete_card(agent, a, "c-probe")
                assert card["sections"]["crm"]["status"] == "ok", card["sections"]
                assert await _circuit(a, "closed")
                assert await a.metric("screenpop_circuit_open", 'connector="crm"') == 0.0


async def _circuit(service: Service, state: str) -> bool:
    _, report = await _readiness(service)
    return bool(report["connectors"]["crm"] == state)


async def _complete_cards(agent: Agent, call_ids: set[str], within: float) -> set[str]:
    done: set[str] = set()
    deadline = time.monotonic() + within
    while done != call_ids:
        frame = await agent.next(max(0.01, deadline - time.monotonic()))
        if frame.get("type") == "card" and frame["complete"]:
            done.add(frame["call_id"])
    return done


# a frozen browser ------------------------------------------------------------------


def _card_connectors(count: int, kilobytes: int) -> list[dict[str, Any]]:
    """``count`` fast scripted connectors answering ``kilobytes`` each: cards of several big versions."""
    return [
        {
            "name": f"system{n}",
            "kind": SCRIPTED,
            "delay_ms": 2 * n,
            "rows": {ADA: {"id": f"S-{n}", "notes": "x" * (kilobytes * 1024)}},
        }
        for n in range(count)
    ]


async def _latency(agent: Agent, service: Service, call_id: str, queue: str) -> float:
    _, elapsed = await _complete_card(agent, service, call_id, agent=None, queue=queue)
    return elapsed


def _p50_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def _ratio(slower: list[float], faster: list[float]) -> float:
    return statistics.median(slower) / statistics.median(faster)


async def _paired(agent: Agent, service: Service, name: str, pairs: int) -> tuple[list[float], list[float]]:
    """Calls to `shared` (with the frozen agent) and `solo` in pairs, their order alternating (ABBA)."""
    beside: list[float] = []
    solo: list[float] = []
    for n in range(pairs):
        for queue in ("shared", "solo") if n % 2 == 0 else ("solo", "shared"):
            elapsed = await _latency(agent, service, f"{name}-{queue}-{n}", queue)
            (beside if queue == "shared" else solo).append(elapsed)
    return beside, solo


async def test_frozen_agent_does_not_slow_other_agents(tmp_path: Path) -> None:
    """A queue member whose socket stopped reading leaves the other member's webhook→card p50 within 20%.

    agent-1 is in queues `shared` (with agent-2) and `solo` (alone).  Once agent-2
    is frozen, calls alternate between the two queues, so both halves see the same
    machine load and only the frozen recipient differs: 20% holds there.  A real
    cost repeats, while a burst of load from elsewhere on a shared 2-core machine
    rarely hits twice, so a second round is measured when the first misses.  The
    baseline taken before agent-2 connected is further away in time, where such
    load moves a p50 by tens of percent, so it only gets a 2x bound: enough to
    catch a frozen socket that stalls the whole process.
    """
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=_card_connectors(4, 32))
    config["agents"]["directory"] = [
        {"id": "agent-1", "role": "tier1", "queues": ["shared", "solo"]},
        {"id": "agent-2", "role": "tier1", "queues": ["shared"]},
    ]
    config["card"] = {"deadline_ms": 1000, "history": 0}
    rounds: list[tuple[list[float], list[float]]] = []
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        async with agent_on(a, "agent-1") as agent:
            for n in range(5):
                await _latency(agent, a, f"warm-{n}", "shared")
            before = [await _latency(agent, a, f"before-{n}", "shared") for n in range(40)]
            frozen = await RawAgentSocket.open(a, "agent-2")  # says hello, then never reads again
            try:
                for n in range(15):  # ~5 MB: the frozen socket's kernel buffers are full from here on
                    await _latency(agent, a, f"fill-{n}", "shared")
                for name in ("first", "second"):
                    rounds.append(await _paired(agent, a, name, 40))
                    if _ratio(*rounds[-1]) < 1.2:
                        break
            finally:
                frozen.close()
    beside, solo = min(rounds, key=lambda r: _ratio(*r))
    figures = f"p50 {_p50_ms(before)} before; " + "; ".join(
        f"{_p50_ms(r[1])} solo, {_p50_ms(r[0])} beside a frozen agent" for r in rounds
    )
    assert _ratio(beside, solo) < 1.2, figures
    assert _ratio(beside, before) < 2.0, figures


async def test_frozen_agent_is_cut_off_when_its_queue_fills(tmp_path: Path) -> None:
    """The server cuts a socket that stopped reading once 256 frames wait for it, and others go on."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=_card_connectors(4, 32))
    config["card"] = {"deadline_ms": 1000, "history": 0}
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        async with agent_on(a, "agent-1") as agent:
            frozen = await RawAgentSocket.open(a, "agent-2")  # says hello, then never reads again
            try:
                sent = 0
                for batch in range(16):  # about 4 frames a call, 80 calls: far past kernel buffers + 256
                    ids = {f"flood-{batch}-{n}" for n in range(5)}
                    for call_id in ids:
                        assert (await ring(a, call_id, queue="support"))[0] == 202
                    await _complete_cards(agent, ids, within=5)
                    sent += len(ids)
                connected = await a.metric("screenpop_agents_connected")
                with contextlib.suppress(AssertionError):
                    connected = await wait_for(lambda: _only_one_connected(a), 2, "the frozen socket cut")
                assert connected is True, f"the frozen socket was still connected 2 s after {sent} calls"
                # the connection ends (a 1013 close frame first if one gets through, or just a reset)
                frames = await frozen.read_until_closed(within=5)
                closes = [payload for opcode, payload in frames if opcode == 0x8]
                assert all(struct.unpack("!H", payload[:2])[0] == 1013 for payload in closes), closes
                card, _ = await _complete_card(agent, a, "after-cut")
                assert card["caller"]["e164"] == ADA
            finally:
                frozen.close()


async def _only_one_connected(service: Service) -> bool:
    return await service.metric("screenpop_agents_connected") == 1.0


# back-pressure ------------------------------------------------------------------------


async def _timed_ring(
    session: aiohttp.ClientSession, service: Service, call_id: str
) -> tuple[int, Any, float]:
    started = time.perf_counter()
    status, reply = await ring(service, call_id, session=session, queue="support")
    return status, reply, time.perf_counter() - started


async def _taken(service: Service, call_id: str) -> bool:
    status, _ = await ring(service, call_id, queue="support")
    return status == 202


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_flood_beyond_max_inflight_calls_is_refused_fast_and_accepted_calls_complete(
    tmp_path: Path,
) -> None:
    """Past server.max_inflight_calls webhooks get 429 rate_limited at once; accepted calls still complete."""
    slow = {"name": "slow", "kind": SCRIPTED, "delay_ms": 1500, "timeout_ms": 2000}
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=[slow])
    config["server"] = {"max_inflight_calls": 5}
    config["card"] = {"deadline_ms": 2500, "history": 0}
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        async with agent_on(a, "agent-1") as agent, aiohttp.ClientSession() as session:
            flood_started = time.perf_counter()
            first = await asyncio.gather(*(_timed_ring(session, a, f"f-{n}") for n in range(30)))
            flood_took = time.perf_counter() - flood_started
            accepted = {f"f-{n}" for n, (status, _, _) in enumerate(first) if status == 202}
            assert len(accepted) == 5, [status for status, _, _ in first]
            assert all(
                reply["error"]["code"] == "rate_limited" for status, reply, _ in first if status != 202
            )
            # nobody waited for the 1.5 s connector: the whole flood was answered long before
            assert flood_took < 0.75, f"30 webhooks took {flood_took:.3f} s to answer"
            # and one at a time, each refusal is quick
            for n in range(20):
                status, reply, took = await _timed_ring(session, a, f"one-{n}")
                assert (status, reply["error"]["code"]) == (429, "rate_limited")
                assert took < 0.1, f"a refusal took {took * 1000:.0f} ms"

            before = _rss_kib(a.process.pid)
            more = await asyncio.gather(*(_timed_ring(session, a, f"g-{n}") for n in range(200)))
            assert {status for status, _, _ in more} == {429}
            grown = _rss_kib(a.process.pid) - before
            assert grown < 10 * 1024, f"200 refusals grew the process by {grown} KiB"

            assert await _complete_cards(agent, accepted, within=5) == accepted
            # a refusal claimed nothing: the phone system's retry is taken once there is room
            retried = sorted({f"f-{n}" for n in range(30)} - accepted)[0]
            await wait_for(lambda: _taken(a, retried), 3, "a refused call taken on retry")
            assert await _complete_cards(agent, {retried}, within=5) == {retried}
