"""Saved notes reach the sinks through the real service: API, readiness, metrics, SIGKILL, two instances.

The store and the sink database are real PostgreSQL (SQLite for the killed
single instance, whose file survives it), the HTTP sink a real aiohttp app
on loopback; services run in-process (``running``) or as real
``screenpop serve`` processes (``services``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.processes import Service, ring, service_config, services
from tests.support.servers import PostgresServer
from tests.support.service import ADA, agent_socket, api, event_body, make, post_event, running
from tests.support.sinks import SinkServer, create_sink_table, http_sink, sink_rows, sink_server, sql_sink
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


@pytest.fixture
async def server() -> AsyncIterator[SinkServer]:
    async with sink_server() as running_server:
        yield running_server


@pytest.fixture
async def sink_db_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The company's own PostgreSQL database, with its call log table."""
    name = f"sink_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    await create_sink_table(url)
    yield url
    postgres_server.drop_database(name)


def sample(page: str, name: str) -> float | None:
    for line in page.splitlines():
        wanted, _, value = line.rpartition(" ")
        if wanted == name:
            return float(value)
    return None


async def save(base: str, token: str, call_id: str, text: str, session: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    body = {"disposition": "resolved", "notes": text}
    async with session.post(f"{base}/api/calls/{call_id}/notes", json=body, headers=headers) as reply:
        assert reply.status == 201, await reply.text()


@pytest.mark.postgres
async def test_notes_saved_through_the_api_reach_both_sinks_with_the_cards_customer_ids(
    pg_url: str, sink_db_url: str, server: SinkServer
) -> None:
    """A note and an edit make two rows in the sink database and two POSTs with the card's customer ids."""
    sinks = [sql_sink("crm_log", sink_db_url), http_sink("crm_webhook", server.url, headers={"X-Key": "s3"})]
    settings = make(pg_url, sinks=sinks)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-s1", agent="agent-1"))
        await agent.card_until_complete("c-s1")
        async with aiohttp.ClientSession() as session:
            await save(base, token, "c-s1", "refund sent", session)
            await save(base, token, "c-s1", "refund sent, call back Tuesday", session)
        await wait_for(lambda: len(server.taken) == 2, 10, "two POSTs taken by the HTTP sink")
        rows = await wait_for(lambda: _two(sink_rows(sink_db_url)), 10, "two rows in the sink database")
        _, ready = await api(base, "GET", "/readyz")
        page = str((await api(base, "GET", "/metrics"))[1])
    assert [(r["idempotency_key"], r["notes"]) for r in rows] == [
        ("c-s1:1", "refund sent"),
        ("c-s1:2", "refund sent, call back Tuesday"),
    ]
    assert server.order == ["c-s1:1", "c-s1:2"]
    assert server.taken["c-s1:1"]["customer_ids"] == {"accounting": "A-1001"}
    assert server.taken["c-s1:1"]["e164"] == ADA
    assert all(h.get("X-Key") == "s3" for h in server.headers)
    assert ready["sinks"] == {"crm_log": "ok", "crm_webhook": "ok"}
    assert sample(page, 'screenpop_sink_delivered_total{sink="crm_webhook"}') == 2
    assert sample(page, 'screenpop_sink_pending{sink="crm_log"}') == 0


@pytest.mark.postgres
async def test_a_card_number_typed_with_spaced_dashes_reaches_both_sinks_masked(
    pg_url: str, sink_db_url: str, server: SinkServer
) -> None:
    """``4111 - 1111 - 1111 - 1111`` and a number wrapped over a line reach both sinks as last four only.

    The matcher joined groups across one space or dash only: these were
    stored, listed and sent to the company's systems in full.
    """
    sinks = [sql_sink("crm_log", sink_db_url), http_sink("crm_webhook", server.url)]
    settings = make(pg_url, sinks=sinks)
    token = token_for(settings, "agent-1")
    typed = "paid 4111 - 1111 - 1111 - 1111, old card 5555  5555\n5555  4444"
    shown = "paid **** - **** - **** - 1111, old card ****  ****\n****  4444"
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-pan", agent="agent-1"))
        await agent.card_until_complete("c-pan")
        async with aiohttp.ClientSession() as session:
            await save(base, token, "c-pan", typed, session)
        await wait_for(lambda: len(server.taken) == 1, 10, "one POST taken by the HTTP sink")
        rows = await wait_for(lambda: _rows(sink_rows(sink_db_url)), 10, "a row in the sink database")
        _, listed = await api(base, "GET", "/api/calls", token)
    assert [row["notes"] for row in rows] == [shown]
    assert server.taken["c-pan:1"]["notes"] == shown
    assert [note["notes"] for note in listed["calls"][0]["notes"]] == [shown]


async def _rows(rows: Any) -> list[dict[str, Any]] | None:
    return await rows or None


async def _two(rows: Any) -> list[dict[str, Any]] | None:
    found = await rows
    return found if len(found) == 2 else None


@pytest.mark.postgres
async def test_a_failing_sink_is_listed_in_readyz_without_failing_readiness(
    pg_url: str, server: SinkServer
) -> None:
    """While the HTTP sink answers 503, /readyz stays 200 and says `failing`, and /metrics counts it."""
    settings = make(pg_url, sinks=[http_sink("crm_webhook", server.url)])
    token = token_for(settings, "agent-1")
    server.mode = "down"
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-f1", agent="agent-1"))
        await agent.card_until_complete("c-f1")
        async with aiohttp.ClientSession() as session:
            await save(base, token, "c-f1", "note", session)
        await wait_for(lambda: server.attempts, 10, "a first delivery attempt")

        async def failing() -> tuple[int, Any] | None:
            status, ready = await api(base, "GET", "/readyz")
            return (status, ready) if str(ready["sinks"]["crm_webhook"]).startswith("failing") else None

        status, ready = await wait_for(failing, 10, "/readyz listing the sink as failing")
        page = str((await api(base, "GET", "/metrics"))[1])
    assert status == 200
    assert ready["sinks"]["crm_webhook"].startswith("failing: 1 of 1, oldest ")
    assert ready["sinks"]["crm_webhook"].endswith(": HTTP 503")
    assert sample(page, 'screenpop_sink_pending{sink="crm_webhook"}') == 1
    assert sample(page, 'screenpop_sink_attempts_failed_total{reason="unavailable",sink="crm_webhook"}') >= 1
    assert server.taken == {}


async def test_sigkill_between_save_and_delivery_loses_nothing(tmp_path: Path, server: SinkServer) -> None:
    """A note saved while the sink is down survives a SIGKILL of the service; the restart delivers it."""
    config = service_config(
        f"sqlite+aiosqlite:///{tmp_path}/screenpop.db", sinks=[http_sink("crm_webhook", server.url)]
    )
    server.mode = "down"
    async with services(tmp_path, a=config) as started:
        service = started["a"]
        await _ring_and_note(service, "c-k1", ["before the crash", "and an edit"])
        await wait_for(lambda: "c-k1:1" in server.attempts, 10, "a delivery attempt that fails")

        async def settled() -> bool:  # the failed attempt is recorded: the entry is no longer leased
            _, ready = await service.get("/readyz")
            return str(ready["sinks"]["crm_webhook"]).startswith("failing")

        # killed between attempts (the next is due 0.5-1 s later); a kill during an attempt leaves a
        # lease that runs out after timeout_s + 30 s (tests/integration/sinks covers that case)
        await wait_for(settled, 10, "the failed attempt settled in the store")
        await service.kill()
    assert server.taken == {}
    server.mode = "up"
    async with services(tmp_path, a=config):
        await wait_for(lambda: len(server.taken) == 2, 20, "both notes delivered after the restart")
    assert server.order == ["c-k1:1", "c-k1:2"]
    assert server.taken["c-k1:2"]["notes"] == "and an edit"


@pytest.mark.postgres
async def test_two_instances_on_one_postgres_store_deliver_each_entry_once_in_order(
    tmp_path: Path, pg_url: str, sink_db_url: str, server: SinkServer
) -> None:
    """Notes saved on two instances sharing PostgreSQL reach each sink exactly once, in order per call."""
    sinks = [sql_sink("crm_log", sink_db_url), http_sink("crm_webhook", server.url)]
    config = service_config(pg_url, sinks=sinks)
    calls, edits = 6, 5
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        async with aiohttp.ClientSession() as session:
            for n in range(calls):
                status, _ = await ring(a, f"c-{n}", session, agent="agent-1")
                assert status == 202

            async def edits_of(n: int) -> None:
                for v in range(edits):
                    target = (a, b)[(n + v) % 2]
                    await save(target.base, target.token("agent-1"), f"c-{n}", f"edit {v + 1}", session)

            await _until_annotatable(a, "c-0", session)
            await asyncio.gather(*(edits_of(n) for n in range(calls)))
        total = calls * edits
        await wait_for(lambda: len(server.taken) == total, 30, "every note at the HTTP sink")
        rows = await wait_for(lambda: _count(sink_rows(sink_db_url), total), 30, "every note in the sink DB")
    attempts = Counter(server.attempts)
    assert len(attempts) == total and set(attempts.values()) == {1}  # no entry was delivered twice
    keys = [r["idempotency_key"] for r in rows]
    assert len(set(keys)) == total
    for n in range(calls):
        expected = [f"c-{n}:{v}" for v in range(1, edits + 1)]
        assert [k for k in keys if k.startswith(f"c-{n}:")] == expected
        assert [k for k in server.order if k.startswith(f"c-{n}:")] == expected
        notes = [r["notes"] for r in rows if r["call_id"] == f"c-{n}"]
        assert notes == [f"edit {v}" for v in range(1, edits + 1)]


async def _count(rows: Any, total: int) -> list[dict[str, Any]] | None:
    found = await rows
    return found if len(found) >= total else None


async def _until_annotatable(service: Service, call_id: str, session: aiohttp.ClientSession) -> None:
    """Wait until the call's record is written (the write-behind queue), so a note on it is accepted."""

    async def listed() -> bool:
        headers = {"Authorization": f"Bearer {service.token('agent-1')}"}
        async with session.get(f"{service.base}/api/calls?limit=50", headers=headers) as reply:
            body = await reply.json()
        return call_id in {c["call_id"] for c in body.get("calls", [])}

    await wait_for(listed, 10, f"{call_id} in the store")


async def _ring_and_note(service: Service, call_id: str, texts: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        status, _ = await ring(service, call_id, session, agent="agent-1")
        assert status == 202
        await _until_annotatable(service, call_id, session)
        for text in texts:
            await save(service.base, service.token("agent-1"), call_id, text, session)
