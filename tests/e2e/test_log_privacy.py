"""`screenpop serve` at its default log level, through a whole call, logs nothing personal.

One real service process (``tests/support/processes.py``: its stdout and
stderr go to one file) on real Redis and a fresh PostgreSQL store, real
websocket agents, signed webhooks: a ring, the card, an answer, a note with
a card number in it, a transfer (the hand-off carries the note), two
supervisor lookups (one with a ``secret_`` attribute), a refused webhook,
connectors that fail (a crash, an HTTP source that refuses connections, a
SQL source whose query breaks), and the end of the call.  The note goes to
two sinks: a table in another PostgreSQL database and an HTTP endpoint that
is down (503) at first, then up.  Last, ``screenpop erase`` removes the
caller while the service runs.  Then the service's log and the erase
command's output are searched for every form of the caller's number, the
caller's names, the note's text, the card number, the tokens and the
secrets; the sinks are checked to hold the note masked.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.ports import free_port
from tests.support.processes import ROOT, Service, agent_on, http_connector, ring, service_config, services
from tests.support.servers import PostgresServer
from tests.support.service import ADA, SCRIPTED, SECRET
from tests.support.signers import WEBHOOK_SECRET, sign
from tests.support.sinks import SinkServer, create_sink_table, http_sink, sink_rows, sink_server, sql_sink
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

NATIONAL = "4155550132"
SUBSCRIBER = "5550132"  # the number's last seven digits: any longer stretch of them is a leak
TYPED_NUMBER = "+1 (415) 555-0132"
WEBHOOK_NAME = "ADA KING"
CONNECTOR_NAME = "Ada Lovelace"
PAN = "4111 1111 1111 1111"
PAN_DIGITS = "4111111111111111"
NOTE_TEXT = "prefers Tuesday mornings, paid with card"
PIN = "864213"
CALL = "c-private"
SINK_KEY = "sink-api-key-5f0c1d9e"
MASKED = "**** **** **** 1111"


@pytest.fixture
async def sink_db_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The company's own PostgreSQL database, with its call log table, for a `sql` sink."""
    name = f"sink_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    await create_sink_table(url)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
async def endpoint() -> AsyncIterator[SinkServer]:
    """The company's HTTP endpoint for an `http` sink."""
    async with sink_server() as server:
        yield server


def config(store_url: str, redis_url: str, dead_port: int, tmp_path: Path) -> dict[str, Any]:
    """The test service: a connector that knows the caller, and three that fail each their own way.

    The caller's name and the SQL source's failure are in the card; the
    crash is also logged (as its type): the log line a leak would ride on.
    """
    connectors: list[dict[str, Any]] = [
        {
            "name": "accounting",
            "kind": SCRIPTED,
            "identity": {"id": "account_id", "name": "name"},
            "rows": {ADA: {"account_id": "A-1001", "name": CONNECTOR_NAME, "balance": 120.5}},
        },
        {"name": "broken", "kind": SCRIPTED, "crash": True},
        http_connector("crm", f"http://127.0.0.1:{dead_port}/people", timeout_ms=500),
        {
            "name": "ledger",
            "kind": "sql",
            "url": f"sqlite+aiosqlite:///{tmp_path}/ledger.db",
            "query": "SELECT name FROM no_such_table WHERE phone = :e164 OR pin = :attr_secret_pin",
        },
    ]
    settings = service_config(store_url, redis_url, connectors=connectors)
    settings["agents"]["directory"].append({"id": "boss", "role": "supervisor", "queues": ["sales"]})
    return settings


async def erase(service: Service) -> subprocess.CompletedProcess[str]:
    """``screenpop erase --number`` (the number as a person types it) against the running service's config."""
    command = [sys.executable, "-m", "screenpop", "erase", "--number", TYPED_NUMBER, "--by", "it-desk"]
    command += ["--config", str(service.log.with_suffix(".yaml"))]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


async def post(service: Service, path: str, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(service.base + path, json=body, headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        return reply.status, await reply.json()


async def get(service: Service, path: str, token: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(service.base + path, headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        return reply.status, await reply.json()


async def refused_webhook(service: Service) -> int:
    """A webhook whose signature is wrong: refused, and its body (the caller's number) never logged."""
    body = f'{{"event": "ringing", "call_id": "c-forged", "from": "{ADA}"}}'.encode()
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body, "not-the-secret")}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.post(f"{service.base}/webhooks/pbx", data=body, headers=headers) as reply,
    ):
        return reply.status


async def whole_call(service: Service, endpoint: SinkServer) -> list[str]:
    """Ring, card, answer, note (the HTTP sink down, then up), transfer, lookups, the end; the frames."""
    agent_token, boss = service.token("agent-1"), token_for(service.settings, "boss")
    async with agent_on(service, "agent-1") as first, agent_on(service, "agent-2") as second:
        caller: dict[str, Any] = {
            "number": TYPED_NUMBER,
            "caller_name": WEBHOOK_NAME,
            "attributes": {"secret_pin": PIN},
        }
        status, _ = await ring(service, CALL, agent="agent-1", **caller)
        assert status == 202
        frames = await first.card_until_complete(CALL)
        assert frames[-1]["card"]["customer"]["name"] == CONNECTOR_NAME  # the name really was there
        failed = {n: s["status"] for n, s in frames[-1]["card"]["sections"].items() if n != "accounting"}
        assert failed == {"broken": "error", "crm": "error", "ledger": "error"}, frames[-1]
        assert (await ring(service, CALL, event="answered", agent="agent-1"))[0] == 202
        note = {"disposition": "resolved", "notes": f"{NOTE_TEXT} {PAN}"}
        status, saved = await post(service, f"/api/calls/{CALL}/notes", agent_token, note)
        assert (status, saved["masked"]) == (201, {"card_numbers": 1}), saved
        await wait_for(lambda: endpoint.attempts, 10, "a first delivery to the HTTP sink (down)")
        endpoint.mode = "up"
        assert (await ring(service, CALL, event="transferred", agent="agent-2"))[0] == 202
        handed = await second.card_until_complete(CALL)
        assert any("**** **** **** 1111" in str(f.get("card", {}).get("handoff")) for f in handed), handed
        status, card = await get(service, f"/api/lookup?number={NATIONAL}&attr_secret_pin={PIN}", boss)
        assert (status, card["customer"]["name"]) == (200, CONNECTOR_NAME), card
        assert (await get(service, "/api/lookup?number=(415)%20555-0132", boss))[0] == 200
        assert await refused_webhook(service) == 401
        assert (await ring(service, CALL, event="ended", agent="agent-2"))[0] == 202
        return first.raw + second.raw


def digit_runs(text: str) -> list[str]:
    """Each stretch of digits joined by the characters numbers are typed with, as its digits alone."""
    return [re.sub(r"\D", "", run) for run in re.findall(r"\d[\d\s().+-]*\d", text)]


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_whole_call_leaves_no_personal_data_in_the_log(
    tmp_path: Path, redis_url: str, pg_url: str, sink_db_url: str, endpoint: SinkServer
) -> None:
    """No caller number (any form), name, note, card number, token or secret reaches stderr at INFO."""
    settings = config(pg_url, redis_url, free_port(), tmp_path)
    headers = {"X-Api-Key": SINK_KEY}
    settings["sinks"] = [
        sql_sink("crm_log", sink_db_url),
        http_sink("crm_hook", endpoint.url, headers=headers),
    ]
    endpoint.mode = "down"
    async with services(tmp_path, one=settings) as started:
        service = started["one"]
        frames = await whole_call(service, endpoint)
        # the crash and the sink's 503 were logged: this log is the one that would hold a leak
        await wait_for(lambda: "connector broken failed" in service.log.read_text(), 10, "the crash logged")
        await wait_for(lambda: "sink crm_hook" in service.log.read_text(), 10, "the sink's failure logged")
        await wait_for(lambda: f"{CALL}:1" in endpoint.taken, 30, "the note taken by the HTTP sink")
        [row] = await wait_for(lambda: sink_rows(sink_db_url), 30, "the note in the sink's table")
        erased = await erase(service)
        await service.stop()  # a graceful stop: what shutdown logs is searched too
    assert erased.returncode == 0, erased.stderr
    assert "erasure recorded in the audit log by it-desk" in erased.stdout, erased.stdout
    assert re.search(r"^calls +1$", erased.stdout, re.M), erased.stdout  # the call really was there
    assert all(
        MASKED in n and PAN_DIGITS not in n.replace(" ", "")
        for n in (row["notes"], endpoint.taken[f"{CALL}:1"]["notes"])
    )
    log = service.log.read_text() + erased.stdout + erased.stderr
    assert all(PAN_DIGITS not in re.sub(r"\D", "", f) for f in frames)  # nor in any frame an agent got
    forbidden = [
        ADA,
        TYPED_NUMBER,
        "(415) 555-0132",
        "555-0132",
        WEBHOOK_NAME,
        CONNECTOR_NAME,
        "Lovelace",
        NOTE_TEXT,
        "Tuesday",
        PIN,
        SECRET,
        WEBHOOK_SECRET,
        SINK_KEY,
        service.token("agent-1").split(".")[2],  # a token's signature
        "Bearer",
    ]
    leaks = [word for word in forbidden if word in log]
    assert not leaks, f"the log holds {leaks}:\n{log}"
    runs = digit_runs(log)
    assert not [r for r in runs if SUBSCRIBER in r or PAN_DIGITS[:8] in r], f"a number in the log:\n{log}"
