"""A connector's health as IT reads it: a real PostgreSQL that stops and comes back, two real instances.

The service runs in-process (``tests/support/service.py``) with its own
store on SQLite, so stopping the session's PostgreSQL takes away only the
`sql` connector's database; the cross-instance view runs two real
`screenpop serve` processes on the session's Redis.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.config import settings_from_mapping
from tests.support.processes import Service, ring, service_config, services
from tests.support.servers import PostgresServer, RedisServer
from tests.support.service import ADA, api, base_config, event_body, post_event, running
from tests.support.signers import sign
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

DOWN = r"(cannot reach database|database error: \w+: connection is closed)"
"""What the driver says of a database that went away: refused, or a pooled connection found closed."""
ROWS = [
    "CREATE TABLE accounts (account_id INTEGER PRIMARY KEY, phone VARCHAR(40), name VARCHAR(80))",
    "INSERT INTO accounts VALUES (1, '+14155550132', 'Ada Lovelace')",
]


async def _fill(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in ROWS:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


def _sql_config(store_url: str, pg_url: str) -> dict[str, Any]:
    config = base_config(store_url)
    config["roles"] = {"tier1": {}, "supervisor": {}}
    config["connectors"] = [
        {
            "name": "accounts",
            "kind": "sql",
            "url": pg_url,
            "query": "SELECT account_id, name FROM accounts WHERE phone = :e164",
            "timeout_ms": 2000,
            "circuit": {"failures": 2, "reset_s": 0.5},
        }
    ]
    return config


@pytest.mark.postgres
async def test_connector_health_goes_failing_open_and_back_to_ok_with_its_database(
    tmp_path: Path, postgres_server: PostgresServer, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL stopped: failing, then circuit open, in /readyz (still 200) and status; restarted: ok."""
    caplog.set_level(logging.WARNING)
    await _fill(pg_url)
    settings = settings_from_mapping(
        _sql_config(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", pg_url), source="<test>", environ={}
    )
    sup = token_for(settings, "agent-3")
    async with running(settings) as base:
        status, card = await api(base, "GET", f"/api/lookup?number={ADA}", sup)
        assert status == 200 and card["sections"]["accounts"]["data"]["name"] == "Ada Lovelace"
        assert (await api(base, "GET", "/readyz"))[1]["connector_health"] == {"accounts": "ok"}
        postgres_server.stop()
        try:
            await api(base, "GET", f"/api/lookup?number={ADA}", sup)
            ready_status, ready = await api(base, "GET", "/readyz")
            assert ready_status == 200, ready  # a connector never makes the instance unready
            assert ready["connectors"] == {"accounts": "closed"}
            health = ready["connector_health"]["accounts"]
            assert re.fullmatch(rf"failing: {DOWN} \(1 of the last 2 calls\)", health), health
            await api(base, "GET", f"/api/lookup?number={ADA}", sup)
            _, ready = await api(base, "GET", "/readyz")
            assert ready["connectors"] == {"accounts": "open"}
            health = ready["connector_health"]["accounts"]
            assert re.fullmatch(rf"circuit open: {DOWN}; next try in [01] s", health), health
            _, report = await api(base, "GET", "/api/admin/status", sup)
            accounts = report["connectors"]["accounts"]
            assert (accounts["state"], accounts["calls"], accounts["errors"]) == ("open", 3, 2)
            assert re.fullmatch(DOWN, accounts["last_error"]), accounts
        finally:
            postgres_server.start()

        async def answers_again() -> dict[str, Any] | None:
            await api(base, "GET", f"/api/lookup?number={ADA}", sup)
            _, report = await api(base, "GET", "/api/admin/status", sup)
            return report if report["connectors"]["accounts"]["health"] == "ok" else None

        report = await wait_for(answers_again, 30, "the connector ok once PostgreSQL is back", every=0.3)
        _, ready = await api(base, "GET", "/readyz")
    assert report["connectors"]["accounts"]["state"] == "closed"
    assert ready["connectors"] == {"accounts": "closed"} and ready["connector_health"] == {"accounts": "ok"}
    failures = [r.getMessage() for r in caplog.records if "connector accounts failed" in r.getMessage()]
    assert len(failures) == 1, failures  # rate-limited: the first failure only, within a minute
    assert re.fullmatch(f"connector accounts failed: {DOWN}", failures[0]), failures
    assert any("connector accounts answers again after" in r.getMessage() for r in caplog.records)


async def _admin_get(service: Service, path: str, token: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(service.base + path, headers=headers) as reply,
    ):
        return reply.status, await reply.json()


@pytest.mark.redis
async def test_two_instances_status_labelled_per_instance_and_deliveries_shared(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """With Redis, A's status lists A and B by label with each one's own counts; deliveries list both."""
    config = service_config(pg_url, redis_url)
    config["agents"]["directory"].append({"id": "sup-1", "role": "supervisor", "queues": []})
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        admin = token_for(a.settings, "sup-1")
        assert (await ring(a, "c-on-a", agent="agent-1"))[0] == 202
        body = b'{"event": "ringing", "call_id": "c-on-b", "from": "+14155550132"}'
        wrong = sign(body, secret="not-the-pbx-secret-0123456789")
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{b.base}/webhooks/pbx",
                data=body,
                headers={"Content-Type": "application/json", "Screenpop-Signature": wrong},
            ) as reply,
        ):
            assert reply.status == 401

        async def both_listed() -> dict[str, Any] | None:
            _, report = await _admin_get(a, "/api/admin/status", admin)
            views = report["instances"].values()
            # B's snapshot is at most 2 s old: wait for the one taken after its refusal
            return (
                report if len(views) == 2 and any(v["providers"]["pbx"]["refused"] for v in views) else None
            )

        report = await wait_for(both_listed, 10, "both instances in A's status, B's with its refusal")
        _, listed = await _admin_get(a, "/api/admin/deliveries?limit=10", admin)
        _, from_b = await _admin_get(b, "/api/admin/deliveries?limit=10", admin)
    own = report["instance"]
    other = next(name for name in report["instances"] if name != own)
    assert report["instances"][own]["providers"]["pbx"]["accepted"] == 1
    assert report["instances"][other]["providers"]["pbx"] == {
        "accepted": 0,
        "duplicates": 0,
        "refused": 1,
        "last_refusal": report["instances"][other]["providers"]["pbx"]["last_refusal"],
    }
    assert report["instances"][other]["providers"]["pbx"]["last_refusal"]["reason"].startswith("signature: ")
    codes = [(d["code"], d["call_id"]) for d in listed["deliveries"]]
    assert codes == [("bad_signature", None), ("accepted", "c-on-a")]
    assert from_b == listed  # one shared list, whichever instance answers


@pytest.mark.redis
async def test_deliveries_during_a_redis_outage_are_shown_locally_then_shared(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    """Redis stopped: the instance's own deliveries are listed; restarted: they reach the shared list."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", redis_url)
    config["agents"]["directory"].append({"id": "sup-1", "role": "supervisor", "queues": []})
    settings = settings_from_mapping(config, source="<test>", environ={})
    admin = token_for(settings, "sup-1")
    async with running(settings) as base:
        redis_server.stop()
        try:
            assert (await post_event(base, event_body("c-outage", agent="agent-1")))[0] == 202
            _, listed = await api(base, "GET", "/api/admin/deliveries", admin)
            assert [d["call_id"] for d in listed["deliveries"]] == ["c-outage"]
            _, report = await api(base, "GET", "/api/admin/status", admin)
            assert report["broker"].startswith("down: ") and list(report["instances"]) == [report["instance"]]
        finally:
            redis_server.start()

        client = Redis.from_url(redis_url)
        try:

            async def shared() -> list[Any]:
                entries = await client.lrange("screenpop:admin:deliveries", 0, -1)
                return [json.loads(e) for e in entries]

            pushed = await wait_for(shared, 15, "the delivery pushed to Redis once it is back")
        finally:
            await client.aclose()
        _, listed = await api(base, "GET", "/api/admin/deliveries", admin)
    assert [d["call_id"] for d in pushed] == ["c-outage"]
    assert listed["deliveries"] == pushed


@pytest.mark.postgres
async def test_a_misconfigured_database_is_failing_in_readyz_and_logged_without_its_password(
    tmp_path: Path, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A connector on a missing database: /readyz 200 with `failing: <why>`, logged, without the password."""
    caplog.set_level(logging.WARNING)
    password = "hunter2-not-shown"
    url = postgres_server.url_for("no_such_database").replace("postgres@", f"postgres:{password}@")
    config = _sql_config(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", url)
    settings = settings_from_mapping(config, source="<test>", environ={})
    sup = token_for(settings, "agent-3")
    async with running(settings) as base:
        status, card = await api(base, "GET", f"/api/lookup?number={ADA}", sup)
        ready_status, ready = await api(base, "GET", "/readyz")
        _, report = await api(base, "GET", "/api/admin/status", sup)
    assert status == 200 and card["sections"]["accounts"]["status"] == "error"
    assert ready_status == 200 and ready["connectors"] == {"accounts": "closed"}
    health = ready["connector_health"]["accounts"]
    missing = r'failing: database error: \w+: database "no_such_database" does not exist \(the last call\)'
    assert re.fullmatch(missing, health), health
    assert report["connectors"]["accounts"]["health"] == health
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("connector accounts")]
    assert len(logged) == 1 and "no_such_database" in logged[0], logged
    assert password not in json.dumps([ready, report]) + caplog.text
