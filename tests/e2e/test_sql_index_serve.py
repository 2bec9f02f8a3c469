"""The process-based index build inside a real `screenpop serve` (issue 15).

A ``match: normalized`` SQLite source of more rows than ``LOCAL_ROWS`` is read
by worker processes started from the server itself (forkserver, its own
imports); this proves they start, read and hand their arrays back there, and
that a customer stored in a legacy format is then found by the API.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from screenpop.connectors.sql.reading import LOCAL_ROWS
from tests.support.processes import services
from tests.support.service import base_config
from tests.support.waiting import wait_for

ROWS = LOCAL_ROWS + 4000
ADA_KEY = ROWS - 7  # far past the rows the server reads itself before handing over
ADA = "+14155550132"
WITHIN_S = 20.0  # a bound on waiting for the server, never an assertion about speed


def customers(path: Path) -> None:
    """Generated customers in legacy formats, Ada among them as ``415.555.0132 (work)``."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT, mobile TEXT)")
    rows = [
        (k, f"Customer {k}", f"({200 + k % 700}) {300 + k % 600}-{k % 10000:04d}", None)
        for k in range(1, ROWS)
    ]
    rows[ADA_KEY - 1] = (ADA_KEY, "Ada Lovelace", "020 7946 0000 / nope", "415.555.0132 (work)")
    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def config(tmp_path: Path) -> dict[str, Any]:
    customers(tmp_path / "crm.db")
    connector = {
        "name": "crm",
        "kind": "sql",
        "url": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
        "match": "normalized",
        "index_query": "SELECT id, phone, mobile FROM customers",
        "query": "SELECT id, name FROM customers WHERE id IN :keys",
        "identity": {"id": "id", "name": "name"},
    }
    return base_config(
        f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        connectors=[connector],
        roles={"tier1": {}, "supervisor": {}},
    )


async def test_serve_builds_a_big_index_in_worker_processes_and_finds_a_legacy_number(tmp_path: Path) -> None:
    """A served index of >LOCAL_ROWS rows is read by workers; /api/lookup finds `415.555.0132 (work)`."""
    async with services(tmp_path, crm=config(tmp_path)) as started:
        service = started["crm"]

        async def ready() -> bool:
            status, body = await service.get("/readyz")
            return status == 200 and "crm" in str(body)

        await wait_for(ready, WITHIN_S, "/readyz with the crm connector")
        headers = {"Authorization": f"Bearer {service.token('agent-3')}"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WITHIN_S)) as session,
            session.get(f"{service.base}/api/lookup?number={quote(ADA)}", headers=headers) as reply,
        ):
            assert reply.status == 200, await reply.text()
            card = await reply.json()
        log = service.log.read_text(errors="replace")
    assert card["sections"]["crm"]["status"] == "ok", card["sections"]["crm"]
    assert card["sections"]["crm"]["data"]["id"] == ADA_KEY
    assert card["customer"]["name"] == "Ada Lovelace"
    assert "continues in" in log and "worker processes" in log, log[-2000:]
    assert f"from {ROWS - 1} rows" in log
