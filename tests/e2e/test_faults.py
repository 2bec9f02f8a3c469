"""No lost pop when things break: Redis outages, hanging connectors, frozen browsers, floods.

Real `screenpop serve` processes (``tests/support/processes.py``), the session's
real Redis (stopped and started again here), real local HTTP APIs for `http`
connectors, and real agent websockets.  No test asserts an elapsed time: what
must not wait is shown by the order of events (an API held hung by the test
while the thing that must not wait for it happens); the figures are measured
by ``bench/components.py``.
"""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.processes import (
    RawAgentSocket,
    Service,
    agent_on,
    hit_server,
    http_connector,
    ring,
    service_config,
    services,
)
from tests.support.servers import RedisServer
from tests.support.service import ADA, Agent, big_card_connectors
from tests.support.waiting import wait_for

OUTAGE_CALLS = 3


async def _readiness(service: Service) -> tuple[int, dict[str, Any]]:
    status, report = await service.get("/readyz")
    assert isinstance(report, dict), report
    return status, report


async def _complete_card(listener: Agent, service: Service, call_id: str, **fields: Any) -> dict[str, Any]:
    """Ring ``call_id`` on ``service`` (for ``listener`` unless told otherwise); its complete card."""
    fields.setdefault("agent", listener.welcome["agent"])
    status, reply = await ring(service, call_id, **{k: v for k, v in fields.items() if v is not None})
    assert status == 202, reply
    frames = await listener.card_until_complete(call_id)
    return dict(frames[-1]["card"])


async def test_redis_outage_keeps_local_cards_and_recovers_without_restart(
    tmp_path: Path, redis_server: RedisServer, redis_url: str, pg_url: str
) -> None:
    """While Redis is stopped A's agents get cards and /readyz is 503; then all is back, unrestarted."""
    config = service_config(pg_url, redis_url)
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        async with agent_on(a, "agent-1") as on_a, agent_on(b, "agent-2") as on_b:
            redis_server.stop()
            try:
                for n in range(1, OUTAGE_CALLS + 1):
                    card = await _complete_card(on_a, a, f"c-outage-{n}")
                    assert card["customer"]["name"] == "Ada Lovelace"
                    status, report = await _readiness(a)
                    assert status == 503 and report["broker"].startswith("down: "), report
            finally:
                redis_server.start()
            await wait_for(lambda: _all_ready(a, b), 10, "/readyz 200 on both instances")

            card = await _complete_card(on_b, a, "c-after")  # webhook to A, agent on B
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
                    card = await _complete_card(agent, a, f"c-hang-{n}")
                    crm_section = card["sections"]["crm"]
                    assert (crm_section["status"], crm_section["error"]) == ("timeout", "no answer in 300 ms")
                status, report = await _readiness(a)
                assert status == 200 and report["connectors"] == {"crm": "open"}
                assert await a.metric("screenpop_circuit_open", 'connector="crm"') == 1.0

                asked = sum(api.hits.values())
                card = await _complete_card(agent, a, "c-open")
                section = card["sections"]["crm"]
                assert (section["status"], section["error"]) == ("error", "circuit open")
                assert sum(api.hits.values()) == asked, "the open circuit still called the API"

                api.answer()
                await wait_for(lambda: _circuit(a, "half_open"), 2, "the circuit half-open after reset_s")
                card = await _complete_card(agent, a, "c-probe")
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


async def test_frozen_agent_does_not_hold_back_other_agents(tmp_path: Path) -> None:
    """Beside a queue member whose socket stopped reading, the other member still gets every card.

    agent-2 says hello and never reads again; once its kernel buffers are full
    (about 5 MB of cards), every further call to their shared queue still
    completes on agent-1 while agent-2 stays connected (not yet cut off), so
    nothing waits for the frozen socket.  How much it costs agent-1, as a p50
    ratio, is measured by ``bench/components.py`` (``frozen-agent``).
    """
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=big_card_connectors(4, 32))
    config["agents"]["directory"] = [
        {"id": "agent-1", "role": "tier1", "queues": ["shared"]},
        {"id": "agent-2", "role": "tier1", "queues": ["shared"]},
    ]
    config["card"] = {"deadline_ms": 1000, "history": 0}
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        async with agent_on(a, "agent-1") as agent:
            frozen = await RawAgentSocket.open(a, "agent-2")  # says hello, then never reads again
            try:
                for n in range(15):  # ~5 MB: the frozen socket's kernel buffers are full from here on
                    await _complete_card(agent, a, f"fill-{n}", agent=None, queue="shared")
                for n in range(10):
                    card = await _complete_card(agent, a, f"beside-{n}", agent=None, queue="shared")
                    assert card["caller"]["e164"] == ADA
                assert await a.metric("screenpop_agents_connected") == 2.0
            finally:
                frozen.close()


async def test_frozen_agent_is_cut_off_when_its_queue_fills(tmp_path: Path) -> None:
    """The server cuts a socket that stopped reading once 256 frames wait for it, and others go on."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=big_card_connectors(4, 32))
    config["card"] = {"deadline_ms": 1000, "history": 0}
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        async with agent_on(a, "agent-1") as agent:
            frozen = await RawAgentSocket.open(a, "agent-2")  # says hello, then never reads again
            try:
                # about 4 frames (~330 KB) a call: calls go on, 5 at a time, until the kernel's buffers
                # (their size varies with the machine's memory pressure) and the 256 queued frames are
                # full and the socket is cut; 300 calls is far past any buffer, so the cut must come
                sent = 0
                while sent < 300 and not await _only_one_connected(a):
                    ids = {f"flood-{sent + n}" for n in range(5)}
                    for call_id in ids:
                        assert (await ring(a, call_id, queue="support"))[0] == 202
                    await _complete_cards(agent, ids, within=10)
                    sent += len(ids)
                await wait_for(
                    lambda: _only_one_connected(a), 10, f"the frozen socket cut after {sent} calls"
                )
                # the connection ends (a 1013 close frame first if one gets through, or just a reset)
                frames = await frozen.read_until_closed(within=5)
                closes = [payload for opcode, payload in frames if opcode == 0x8]
                assert all(struct.unpack("!H", payload[:2])[0] == 1013 for payload in closes), closes
                card = await _complete_card(agent, a, "after-cut")
                assert card["caller"]["e164"] == ADA
            finally:
                frozen.close()


async def _only_one_connected(service: Service) -> bool:
    return await service.metric("screenpop_agents_connected") == 1.0


# back-pressure ------------------------------------------------------------------------


async def _taken(service: Service, call_id: str) -> bool:
    status, _ = await ring(service, call_id, queue="support")
    return status == 202


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_flood_beyond_max_inflight_calls_is_refused_at_once_and_accepted_calls_complete(
    tmp_path: Path,
) -> None:
    """Past server.max_inflight_calls webhooks get 429 rate_limited at once; accepted calls still complete.

    "At once" is shown by order: the only connector is an API the test holds
    hung, so no accepted card can finish, yet every refusal is answered; the
    cards complete only after the test lets the API answer.
    """
    async with hit_server() as api:
        api.hang()
        crm = http_connector("crm", api.url + "/crm", timeout_ms=20000)
        config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=[crm])
        config["server"] = {"max_inflight_calls": 5}
        config["card"] = {"deadline_ms": 25000, "history": 0}
        async with services(tmp_path, a=config) as started:
            a = started["a"]
            async with agent_on(a, "agent-1") as agent, aiohttp.ClientSession() as session:
                first = await asyncio.gather(
                    *(ring(a, f"f-{n}", session=session, queue="support") for n in range(30))
                )
                accepted = {f"f-{n}" for n, (status, _) in enumerate(first) if status == 202}
                assert len(accepted) == 5, [status for status, _ in first]
                assert all(
                    reply["error"]["code"] == "rate_limited" for status, reply in first if status != 202
                )
                for n in range(20):  # and one at a time, while the accepted calls still wait for the API
                    status, reply = await ring(a, f"one-{n}", session=session, queue="support")
                    assert (status, reply["error"]["code"]) == (429, "rate_limited")

                before = _rss_kib(a.process.pid)
                more = await asyncio.gather(
                    *(ring(a, f"g-{n}", session=session, queue="support") for n in range(200))
                )
                assert {status for status, _ in more} == {429}
                grown = _rss_kib(a.process.pid) - before
                assert grown < 10 * 1024, f"200 refusals grew the process by {grown} KiB"

                # all of that was answered while no accepted card could finish (the API still hangs)
                assert await a.metric("screenpop_card_complete_seconds_count") in (None, 0.0)
                api.answer()
                assert await _complete_cards(agent, accepted, within=10) == accepted
                # a refusal claimed nothing: the phone system's retry is taken once there is room
                retried = sorted({f"f-{n}" for n in range(30)} - accepted)[0]
                await wait_for(lambda: _taken(a, retried), 5, "a refused call taken on retry")
                assert await _complete_cards(agent, {retried}, within=10) == {retried}
