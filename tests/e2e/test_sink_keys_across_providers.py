"""Two phone systems that both send call id ``c-1``: each note keeps an idempotency key of its own.

A call id is unique only per provider, but the SPEC's key is
``<call_id>:<note version>``: a note on the second system's ``c-1`` keyed
``c-1:1`` again was dropped by a sink that honours the key, as a repeat of
the first system's note.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from screenpop.config import settings_from_mapping
from tests.support.service import agent_socket, api, base_config, event_body, running
from tests.support.signers import WEBHOOK_SECRET, sign
from tests.support.sinks import SinkServer, http_sink, sink_server
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


@pytest.fixture
async def server() -> AsyncIterator[SinkServer]:
    async with sink_server() as running_server:
        yield running_server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite+aiosqlite:///{tmp_path}/screenpop.db"


async def ring(base: str, provider: str, call_id: str, agent: str = "agent-1") -> None:
    body = event_body(call_id, agent=agent)
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/webhooks/{provider}", data=body, headers=headers) as reply,
    ):
        assert reply.status == 202, await reply.text()


async def test_the_same_call_id_from_two_providers_gets_two_keys_at_the_sink(
    store_url: str, server: SinkServer
) -> None:
    """A note on pbx's c-1 and one on pbx2's c-1 both reach a key-honouring sink, under different keys."""
    providers = [{"name": name, "kind": "generic", "secret": WEBHOOK_SECRET} for name in ("pbx", "pbx2")]
    config = base_config(store_url, providers=providers, sinks=[http_sink("crm_webhook", server.url)])
    settings = settings_from_mapping(config, source="<test>", environ={})
    token = token_for(settings, "agent-1")
    body = {"disposition": "resolved"}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await ring(base, "pbx", "c-1")
        await agent.card_until_complete("c-1")
        first = await api(base, "POST", "/api/calls/c-1/notes", token, json={**body, "notes": "first system"})
        await ring(base, "pbx2", "c-1")
        await agent.card_until_complete("c-1")

        async def both_stored() -> bool:
            _, listed = await api(base, "GET", "/api/calls?limit=10", token)
            return len([c for c in listed["calls"] if c["call_id"] == "c-1"]) == 2

        await wait_for(both_stored, 10, "both calls c-1 in the store")
        second = await api(
            base, "POST", "/api/calls/c-1/notes", token, json={**body, "notes": "second system"}
        )
        await wait_for(lambda: len(server.attempts) >= 2, 10, "two POSTs at the sink")
    assert (first[0], first[1]["provider"], second[0], second[1]["provider"]) == (201, "pbx", 201, "pbx2")
    assert len(set(server.attempts)) == 2, server.attempts
    assert sorted(n["notes"] for n in server.taken.values()) == ["first system", "second system"]


async def test_notes_saved_at_once_on_both_systems_calls_never_share_a_key(
    store_url: str, server: SinkServer
) -> None:
    """Five notes each on pbx's and pbx2's c-7, saved concurrently by their two agents: ten keys."""
    providers = [{"name": name, "kind": "generic", "secret": WEBHOOK_SECRET} for name in ("pbx", "pbx2")]
    config = base_config(store_url, providers=providers, sinks=[http_sink("crm_webhook", server.url)])
    settings = settings_from_mapping(config, source="<test>", environ={})
    agents = {"agent-1": "pbx", "agent-2": "pbx2"}
    async with running(settings) as base:
        for agent, provider in agents.items():
            await ring(base, provider, "c-7", agent)

        async def stored(agent: str) -> bool:
            _, listed = await api(base, "GET", "/api/calls", token_for(settings, agent))
            return any(c["call_id"] == "c-7" for c in listed["calls"])

        for agent in agents:
            await wait_for(functools.partial(stored, agent), 10, f"c-7 stored for {agent}")

        async def save(agent: str, n: int) -> str:
            status, saved = await api(
                base,
                "POST",
                "/api/calls/c-7/notes",
                token_for(settings, agent),
                json={"notes": f"{agent} {n}"},
            )
            assert status == 201, saved
            return str(saved["provider"])

        saved_on = await asyncio.gather(*(save(a, n) for n in range(5) for a in agents))
        await wait_for(lambda: len(server.taken) >= 10, 15, "ten notes at the sink")
    assert sorted(saved_on) == ["pbx"] * 5 + ["pbx2"] * 5
    assert len(server.attempts) == len(set(server.attempts)) == 10
