"""What the API answers while the PostgreSQL store is down: the SPEC's 503 `unavailable`, never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.processes import service_config, services
from tests.support.servers import PostgresServer
from tests.support.service import api
from tests.support.tokens import token_for


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
