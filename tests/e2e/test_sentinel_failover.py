"""Redis high availability: two instances on ``redis+sentinel://`` survive the primary's SIGKILL.

A real primary, a replica and three sentinels on loopback
(``tests/support/sentinel.py``), two real `screenpop serve` processes and
agents on real websockets.  Calls flow at about 10 a second while the primary
is killed; afterwards every call has popped exactly once on its agent, an
agent that was away resumes what it missed, and ``/readyz`` said 503 during
the outage and 200 after it.  The pause itself is measured by
``bench/sentinel.py``, not asserted here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.support.agents import seen
from tests.support.processes import Service, agent_on, ring, service_config, services
from tests.support.sentinel import SentinelSet, sentinel_set
from tests.support.service import Agent
from tests.support.waiting import wait_for

CALLS = 40
KILL_AFTER = 10
EVERY_S = 0.1  # about 10 calls a second
AWAY_AGENT = "agent-3"


def _plan(n: int) -> tuple[int, str]:
    """Call ``n`` goes to instance 0 or 1 and rings agent-1, agent-2 or the away agent, in every pairing."""
    return n % 2, ("agent-1", "agent-2", AWAY_AGENT)[(n // 2) % 3]


async def _readiness_log(service: Service, log: list[tuple[int, str]], stop: asyncio.Event) -> None:
    """Poll /readyz every 50 ms until ``stop``, keeping (status, broker state) whenever it changes."""
    for _ in range(2000):  # bounded: 100 s at most
        if stop.is_set():
            return
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            status, report = await service.get("/readyz")
            state = (status, str(report.get("broker")) if isinstance(report, dict) else "")
            if not log or log[-1] != state:
                log.append(state)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def _keep_reading(agent: Agent) -> None:
    """Read frames into ``agent.raw`` until cancelled."""
    while True:
        await agent.next(3600)


@contextlib.asynccontextmanager
async def _reading(*listeners: Agent) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(_keep_reading(a)) for a in listeners]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _complete_calls(agent: Agent) -> list[str]:
    cards, _ = seen(agent)
    return [c["call_id"] for c in cards if c["complete"]]


async def _all_complete(agent: Agent, calls: list[str]) -> None:
    """Wait (bounded) until every one of ``calls`` has a complete card; name the missing ones if not."""
    try:
        await wait_for(lambda: set(_complete_calls(agent)) >= set(calls), 20, "every call complete")
    except AssertionError:
        missing = sorted(set(calls) - set(_complete_calls(agent)), key=lambda c: int(c[2:]))
        raise AssertionError(f"{agent.welcome['agent']} never got a complete card of {missing}") from None


def _assert_popped_once(agent: Agent, calls: list[str]) -> None:
    """Each call: one complete card, versions strictly rising from one version 1, no event id twice."""
    cards, _ = seen(agent)
    ids = [c["event_id"] for c in cards]
    assert len(ids) == len(set(ids)), "an event id was delivered twice"
    assert {c["call_id"] for c in cards} == set(calls), sorted({c["call_id"] for c in cards} ^ set(calls))
    for call_id in calls:
        versions = [c["version"] for c in cards if c["call_id"] == call_id]
        assert versions == sorted(set(versions)) and versions[0] == 1, (call_id, versions)
        assert _complete_calls(agent).count(call_id) == 1, call_id


async def _ring_all(instances: list[Service], servers: SentinelSet, away: list[str]) -> None:
    """Post every call at about 10 a second, killing the primary after ``KILL_AFTER``; all answered 202."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for n in range(CALLS):
            if n == KILL_AFTER:
                servers.primary.kill()
            which, agent_id = _plan(n)
            status, reply = await ring(instances[which], f"c-{n}", session, agent=agent_id)
            assert status == 202, (n, reply)
            if agent_id == AWAY_AGENT:
                away.append(f"c-{n}")
            await asyncio.sleep(EVERY_S)  # allow-sleep: the calls' pace (10 a second), not a wait for a state


async def _both_ready(instances: list[Service]) -> bool:
    for service in instances:
        status, report = await service.get("/readyz")
        if status != 200 or not isinstance(report, dict) or report.get("broker") != "ok":
            return False
    return True


async def test_primary_killed_while_calls_flow_every_call_pops_once_and_readyz_tells(
    tmp_path: Path, pg_url: str
) -> None:
    """SIGKILL of the primary mid-flow: no call lost or doubled, resume_from recovers, /readyz 503, 200."""
    async with sentinel_set() as servers:
        config = service_config(pg_url, servers.url)
        async with services(tmp_path, a=config, b=config) as started:
            instances = [started["a"], started["b"]]
            await wait_for(lambda: _both_ready(instances), 10, "/readyz 200 on both instances")
            readiness: list[tuple[int, str]] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(_readiness_log(instances[0], readiness, stop))
            away: list[str] = []
            async with agent_on(instances[0], "agent-1") as one, agent_on(instances[1], "agent-2") as two:
                async with agent_on(instances[1], AWAY_AGENT) as before:
                    resume_from = str(before.welcome["event_id"])
                async with _reading(one, two):
                    await _ring_all(instances, servers, away)
                    expected = {
                        "agent-1": [f"c-{n}" for n in range(CALLS) if _plan(n)[1] == "agent-1"],
                        "agent-2": [f"c-{n}" for n in range(CALLS) if _plan(n)[1] == "agent-2"],
                    }
                    await _all_complete(one, expected["agent-1"])
                    await _all_complete(two, expected["agent-2"])
                    await wait_for(
                        lambda: _both_ready(instances), 20, "/readyz 200 on both after the failover"
                    )
                    assert await servers.primary_port() == servers.replica.port
                _assert_popped_once(one, expected["agent-1"])
                _assert_popped_once(two, expected["agent-2"])
                async with agent_on(instances[1], AWAY_AGENT, resume_from=resume_from) as back:
                    await _resumed(back, away)
            stop.set()
            await watcher
    statuses = [status for status, _ in readiness]
    assert 503 in statuses and statuses[-1] == 200, readiness
    assert any(s == 503 and broker.startswith("down: ") for s, broker in readiness), readiness
    assert statuses.index(503) < len(statuses) - 1 - statuses[::-1].index(200), readiness


async def _resumed(agent: Agent, missed: list[str]) -> None:
    """The away agent's welcome says recovered, and every call it missed arrives complete, once each."""
    assert agent.welcome.get("recovered") is True, agent.welcome
    await wait_for(lambda: _drain_until(agent, missed), 10, "the missed cards replayed")
    _assert_popped_once(agent, missed)


async def _drain_until(agent: Agent, missed: list[str]) -> bool:
    with contextlib.suppress(TimeoutError):
        await agent.next(0.2)
    return set(_complete_calls(agent)) >= set(missed)
