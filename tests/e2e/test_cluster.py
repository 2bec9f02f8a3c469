"""Several `screenpop serve` processes on one Redis and one PostgreSQL behave as one service.

Every test here runs real service processes (``tests/support/processes.py``)
against the session's real Redis and a fresh PostgreSQL database, and checks
what agents' websockets receive: which cards, which versions, and how often.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import websockets

from tests.support.processes import (
    Service,
    agent_on,
    hit_server,
    http_connector,
    ring,
    service_config,
    services,
    versions,
)
from tests.support.service import ADA, Agent
from tests.support.waiting import wait_for

OTHER = "+14155550199"


def assert_each_version_once(frames: list[dict[str, Any]]) -> None:
    """Versions 1, 2, … in order with none repeated or missing, the last one complete."""
    assert versions(frames) == list(range(1, len(frames) + 1)), versions(frames)
    assert frames[-1]["complete"] and not any(f["complete"] for f in frames[:-1])


async def test_two_instances_share_pops_duplicates_and_queue_calls(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """A webhook to A pops on B's agent, its repeat to B pops nothing, a queue call reaches each tab once."""
    config = service_config(pg_url, redis_url)
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        async with agent_on(b, "agent-2") as on_b, agent_on(a, "agent-1") as on_a:
            status, reply = await ring(a, "c-cross", agent="agent-2")
            assert (status, reply) == (202, {"call_id": "c-cross", "status": "accepted"})
            frames = await on_b.card_until_complete("c-cross")
            assert_each_version_once(frames)
            assert frames[-1]["card"]["customer"]["name"] == "Ada Lovelace"

            status, reply = await ring(b, "c-cross", agent="agent-2")
            assert status == 202 and reply["call_id"] == "c-cross"
            # neither the addressed agent (on B) nor anyone on A gets anything more
            assert all(await asyncio.gather(on_b.silent_for(0.6), on_a.silent_for(0.6)))

        # a queue call: members on both instances, agent-1 with a tab on each
        async with contextlib.AsyncExitStack() as stack:
            sockets: list[Agent] = []
            for where, agent_id in [
                (a, "agent-1"),
                (a, "agent-3"),
                (b, "agent-2"),
                (b, "agent-4"),
                (b, "agent-1"),
            ]:
                sockets.append(await stack.enter_async_context(agent_on(where, agent_id)))
            status, _ = await ring(b, "c-queue", queue="support")
            assert status == 202
            received = await asyncio.gather(*(s.card_until_complete("c-queue") for s in sockets))
            for frames in received:
                assert_each_version_once(frames)
            finals = {frames[-1]["version"] for frames in received}
            assert len(finals) == 1, f"sockets saw different final versions: {finals}"
            ids = [[f["event_id"] for f in frames] for frames in received]
            assert all(len(set(per_socket)) == len(per_socket) for per_socket in ids)
            # and nothing arrives late: no second copy of any version on any socket
            assert all(await asyncio.gather(*(s.silent_for(0.5) for s in sockets)))


async def test_agent_of_a_killed_instance_resumes_on_another_and_gets_the_missed_card_once(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """After A is SIGKILLed, a card rung on B while the agent was away is replayed once on reconnect to B."""
    config = service_config(pg_url, redis_url)
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        async with agent_on(a, "agent-1") as agent:
            assert (await ring(a, "c-before", agent="agent-1"))[0] == 202
            last_seen = (await agent.card_until_complete("c-before"))[-1]["event_id"]
            await a.kill()
            try:
                await agent.next(5)
                raise AssertionError("the socket of a killed instance stayed open")
            except websockets.ConnectionClosed:
                pass
        assert (await ring(b, "c-missed", agent="agent-1"))[0] == 202
        await wait_for(lambda: _cards_completed(b), 5, "the missed card completing on B")

        async with agent_on(b, "agent-1", resume_from=last_seen) as back:
            assert back.welcome["recovered"] is True
            frames = await back.card_until_complete("c-missed")
            assert_each_version_once(frames)
            assert await back.silent_for(0.5)
            again = [raw for raw in back.raw if json.loads(raw).get("call_id") == "c-before"]
            assert not again, "a message seen before the crash came again"


async def _cards_completed(service: Service) -> bool:
    return bool(await service.metric("screenpop_card_complete_seconds_count"))


async def _complete_card(agent: Agent, service: Service, call_id: str, number: str) -> dict[str, Any]:
    """Ring ``call_id`` on ``service`` and return the complete card."""
    assert (await ring(service, call_id, agent=agent.welcome["agent"], number=number))[0] == 202
    frames = await agent.card_until_complete(call_id)
    return dict(frames[-1]["card"])


async def test_cached_section_is_reused_across_instances_and_stale_one_is_refreshed_behind_the_card(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """Within cache_ttl_s a section is served from the shared cache on any instance; a stale one at once."""
    async with hit_server() as api:
        connectors = [
            http_connector("crm", api.url + "/crm", timeout_ms=1000, cache_ttl_s=30),
            http_connector("fresh", api.url + "/fresh", timeout_ms=5000, cache_ttl_s=0.3, cache_stale_s=30),
        ]
        config = service_config(pg_url, redis_url, connectors=connectors)
        config["card"] = {"deadline_ms": 2000}  # a card that waited for the hung refresh: `timeout` at 2 s
        async with services(tmp_path, a=config, b=config) as started:
            a, b = started["a"], started["b"]
            async with agent_on(a, "agent-1") as on_a, agent_on(b, "agent-2") as on_b:
                first = await _complete_card(on_a, a, "c-1", ADA)
                assert first["sections"]["crm"]["status"] == "ok"
                assert not first["sections"]["crm"].get("cached")
                again = await _complete_card(on_a, a, "c-2", ADA)
                elsewhere = await _complete_card(on_b, b, "c-3", ADA)
                for card in (again, elsewhere):
                    assert card["sections"]["crm"]["status"] == "ok"
                    assert card["sections"]["crm"]["cached"] is True
                    assert card["sections"]["crm"]["data"] == first["sections"]["crm"]["data"]
                assert api.hits[("/crm", ADA)] == 1

                await _complete_card(on_a, a, "c-4", OTHER)
                assert api.hits[("/fresh", OTHER)] == 1
                api.hang()  # from now on the API answers nothing: a card that waited for it would time out
                section = await wait_for(
                    lambda: _stale_fresh_section(on_a, a, OTHER), 10, "a card served past cache_ttl_s"
                )
                assert section["status"] == "ok" and section["cached"] is True
                assert section["age_s"] >= 0.3
                api.answer()
                await wait_for(
                    lambda: _hits_reach(api.hits, ("/fresh", OTHER), 2), 3, "the background refresh"
                )


async def _stale_fresh_section(agent: Agent, service: Service, number: str) -> dict[str, Any] | None:
    """Ring a new call; its `fresh` section if that was served stale (it carries an age), else None."""
    card = await _complete_card(agent, service, f"c-stale-{uuid.uuid4().hex[:8]}", number)
    section = card["sections"]["fresh"]
    return dict(section) if section.get("age_s") is not None else None


async def _hits_reach(hits: Any, key: tuple[str, str], count: int) -> bool:
    return bool(hits[key] >= count)
