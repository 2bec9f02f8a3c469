"""What the API answers while the PostgreSQL store is down: the SPEC's 503 `unavailable`, never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.processes import service_config, services
from tests.support.servers import PostgresServer
from tests.support.service import api
from tests.support.store_rows import dump
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


async def test_calls_and_notes_answer_503_unavailable_while_the_store_is_down(
    tmp_path: Path, postgres_server: PostgresServer, pg_url: str
) -> None:
    """An agent's call list and note, asked while PostgreSQL is stopped: 503, then 200 again."""
    config = service_config(pg_url)
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        token = token_for(a.settings, "agent-1")
        note = {"json": {"disposition": "sale", "notes": "call back"}}
        await asyncio.to_thread(postgres_server.stop)
        try:
            listed = await api(a.base, "GET", "/api/calls", token)
            saved = await api(a.base, "POST", "/api/calls/c-down/notes", token, **note)
        finally:
            await asyncio.to_thread(postgres_server.start)
        after = await api(a.base, "GET", "/api/calls", token)
    for status, body in (listed, saved):
        assert status == 503, (status, body)
        assert body["error"]["code"] == "unavailable"
        assert body["error"]["message"] == "unavailable: connection refused; try again"
    assert after[0] == 200
    assert "unexpected error" not in a.log_tail(200)


async def test_a_made_up_call_id_is_logged_clipped_while_the_store_is_down(
    tmp_path: Path, postgres_server: PostgresServer, pg_url: str
) -> None:
    """A note for a 6,000-character call id while PostgreSQL is stopped: 503, and the log quotes its start."""
    async with services(tmp_path, a=service_config(pg_url)) as started:
        a = started["a"]
        token = token_for(a.settings, "agent-1")
        note = {"json": {"disposition": "sale"}}
        await asyncio.to_thread(postgres_server.stop)
        try:
            saved = await api(a.base, "POST", "/api/calls/c-" + "7" * 6000 + "/notes", token, **note)
        finally:
            await asyncio.to_thread(postgres_server.start)
        logged = [line for line in a.log_tail(200).splitlines() if "a backend is unavailable" in line]
    assert saved[0] == 503, saved
    assert logged, "the 503 is logged"
    assert all(len(line) < 600 and "7" * 200 not in line for line in logged), logged


async def test_lookup_answers_its_sections_while_the_store_is_down(
    tmp_path: Path, postgres_server: PostgresServer, pg_url: str
) -> None:
    """A supervisor's lookup with PostgreSQL stopped: 200 with the sections and no history, as a card.

    The lookup's audit row waits in the audit queue and is written once the
    store is back, as a card's audit rows are: delayed, not lost.
    """
    async with services(tmp_path, a=service_config(pg_url)) as started:
        a = started["a"]
        token = token_for(a.settings, "agent-1", role="supervisor")
        postgres_server.stop()  # the service is another process: blocking this loop holds nothing up
        try:
            status, card = await api(a.base, "GET", "/api/lookup?number=%2B14155550132", token)
        finally:
            postgres_server.start()  # spawned by the run's one spawner thread (tests/support/servers.py)
        audited = await wait_for(lambda: lookup_audit(pg_url), 30, "the lookup's audit row", every=0.2)
    assert status == 200, (status, card)
    assert card["sections"]["accounting"]["status"] == "ok"
    assert card["customer"]["name"] == "Ada Lovelace"
    assert card["history"] == []
    assert [(row["agent_id"], row["number"]) for row in audited] == [("agent-1", "+14155550132")]
    assert "unexpected error" not in a.log_tail(200)


async def lookup_audit(url: str) -> list[dict[str, Any]]:
    """The audit rows of lookups (empty until the audit queue's retry wrote them)."""
    return [row for row in (await dump(url))["audit"] if row["action"] == "lookup"]
