"""A `screenpop serve` whose index refresh fails says so in /readyz and the admin status, and stays ready.

Before, a failed refresh was only logged: /readyz and /api/admin/status said
``ok`` while every call was answered from an index that no longer followed
the table. A real process on a real SQLite file; the index reads a view
that the test drops and restores.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.processes import Service, services
from tests.support.service import base_config
from tests.support.waiting import wait_for

WITHIN_S = 20.0  # a bound on waiting for the server, never an assertion about speed
PHONES_VIEW = "CREATE VIEW phones AS SELECT id, phone FROM customers"


def crm(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT)")
    db.execute("INSERT INTO customers VALUES (7, 'Ada Lovelace', '(415) 555-0132 x12')")
    db.execute(PHONES_VIEW)
    db.commit()
    db.close()


def sql(path: Path, statement: str) -> None:
    db = sqlite3.connect(path)
    db.execute(statement)
    db.commit()
    db.close()


def config(tmp_path: Path) -> dict[str, Any]:
    crm(tmp_path / "crm.db")
    connector = {
        "name": "crm",
        "kind": "sql",
        "url": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
        "match": "normalized",
        "index_query": "SELECT id, phone FROM phones",
        "index_refresh_s": 0.2,
        "query": "SELECT id, name FROM customers WHERE id IN :keys",
    }
    return base_config(
        f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        connectors=[connector],
        roles={"tier1": {}, "supervisor": {}},
    )


async def status(service: Service) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {service.token('agent-3')}"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(f"{service.base}/api/admin/status", headers=headers) as reply,
    ):
        assert reply.status == 200, await reply.text()
        found: dict[str, Any] = await reply.json()
        return found["connectors"]["crm"]


async def test_a_failing_refresh_is_reported_as_a_stale_index_and_readiness_holds(tmp_path: Path) -> None:
    """/readyz stays 200 and names the stale index, since when and why; the status lists the index."""
    async with services(tmp_path, crm=config(tmp_path)) as started:
        service = started["crm"]

        async def healthy() -> bool:
            code, body = await service.get("/readyz")
            return code == 200 and body["connector_health"]["crm"] == "ok"

        await wait_for(healthy, WITHIN_S, "the crm index built")
        first = (await status(service))["index"]
        assert first["numbers"] == 1 and first["refresh_error"] is None and first["refreshed_at"]
        sql(tmp_path / "crm.db", "DROP VIEW phones")

        async def stale() -> bool:
            code, body = await service.get("/readyz")
            assert code == 200, body  # a stale index still answers calls: never a reason to be unready
            return "stale" in body["connector_health"]["crm"]

        await wait_for(stale, WITHIN_S, "/readyz naming the stale index")
        _, ready = await service.get("/readyz")
        health = ready["connector_health"]["crm"]
        assert health.startswith("serving a stale number index (refreshed 20"), health
        assert "refresh failing since 20" in health and "no such table: phones" in health
        assert str(tmp_path) not in health  # the database URL (a path, a password) is never shown
        crm_status = await status(service)
        assert crm_status["health"] == health
        index = crm_status["index"]
        assert index["numbers"] == 1 and index["refresh_failing_since"] is not None
        assert "no such table: phones" in index["refresh_error"]
        sql(tmp_path / "crm.db", PHONES_VIEW)
        await wait_for(healthy, WITHIN_S, "the crm index refreshed again")
        assert (await status(service))["index"]["refresh_failing_since"] is None
