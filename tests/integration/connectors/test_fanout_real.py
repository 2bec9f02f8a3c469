"""The fan-out over real sources: SQLite, PostgreSQL and a local HTTP API in one card."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.card import render_card, section_specs
from screenpop.config import Settings
from screenpop.lookup import LookupEngine
from screenpop.model import Card, SectionStatus
from screenpop.phone import parse_caller
from screenpop.plugins import build_connectors, connector_context
from screenpop.testing import make_settings

ADA = "+14155550132"
pytestmark = pytest.mark.postgres


async def run_sql(url: str, *statements: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


class CrmApi:
    """A local CRM: answers, hangs or fails as the test says, and counts what it is asked."""

    def __init__(self) -> None:
        self.hits = 0
        self.mode = "answer"
        self.never = asyncio.Event()  # never set: what a hanging CRM waits for

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.mode == "hang":
            await self.never.wait()
        if self.mode == "fail":
            return web.json_response({"detail": "db down"}, status=500)
        if request.query.get("phone") != ADA:
            return web.json_response({"items": []})
        return web.json_response({"items": [{"full_name": "Ada King", "tier": "gold"}]})


@pytest.fixture
async def crm() -> AsyncIterator[tuple[CrmApi, str]]:
    api = CrmApi()
    app = web.Application()
    app.router.add_get("/contacts", api.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield api, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def sources(tmp_path: Path, pg_url: str) -> tuple[str, str]:
    """Accounting on SQLite (clean E.164), credit on PostgreSQL keyed by the account id."""
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'accounting.db'}"
    await run_sql(
        sqlite_url,
        "CREATE TABLE accounts (account_id INTEGER PRIMARY KEY, phone TEXT, name TEXT, balance NUMERIC)",
        "INSERT INTO accounts VALUES (1001, '+14155550132', 'Ada Lovelace', 120.50)",
        "INSERT INTO accounts VALUES (1002, '+12125550147', 'Grace Hopper', 0)",
    )
    await run_sql(
        pg_url,
        "CREATE TABLE credit (account_id INTEGER PRIMARY KEY, credit_limit NUMERIC(12,2), rating TEXT)",
        "INSERT INTO credit VALUES (1001, 5000.00, 'B')",
    )
    return sqlite_url, pg_url


def settings_for(sqlite_url: str, pg_url: str, crm_url: str, **crm: Any) -> Settings:
    return make_settings(
        [
            {
                "name": "accounting",
                "kind": "sql",
                "url": sqlite_url,
                "query": "SELECT account_id, name, balance FROM accounts WHERE phone = :e164",
                "identity": {"id": "account_id", "name": "name"},
            },
            {
                "name": "credit",
                "kind": "sql",
                "url": pg_url,
                "needs": ["accounting.account_id"],
                "query": "SELECT credit_limit, rating FROM credit WHERE account_id = :accounting_account_id",
            },
            {
                "name": "crm",
                "kind": "http",
                "url": f"{crm_url}/contacts?phone={{e164}}",
                "select": {"full_name": "$.items[0].full_name", "tier": "$.items[0].tier"},
                "identity": {"name": "full_name"},
                "timeout_ms": 300,
                **crm,
            },
        ],
        card={"deadline_ms": 800},
    )


async def final_card(settings: Settings, number: str = ADA) -> dict[str, Any]:
    async with _engine(settings) as engine:
        sections = await engine.lookup(parse_caller(number, "US"))
    card = Card(call_id="t", caller=parse_caller(number, "US"), received_at="", sections=sections)
    return render_card(card, section_specs(settings), frozenset())


class _engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __aenter__(self) -> LookupEngine:
        import aiohttp

        self.http = aiohttp.ClientSession()
        region, config_dir = self.settings.numbers.default_region, Path(self.settings.source).parent
        self.connectors = build_connectors(
            self.settings.connectors, connector_context(region, config_dir, self.http)
        )
        for connector in self.connectors.values():
            await connector.start()
        self.engine = LookupEngine(self.settings, self.connectors)
        return self.engine

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.close()
        for connector in self.connectors.values():
            await connector.close()
        await self.http.close()


async def test_three_real_sources_and_needs(sources: tuple[str, str], crm: tuple[CrmApi, str]) -> None:
    """SQLite, PostgreSQL (bound through needs) and HTTP all answer; their names disagree: a conflict."""
    settings = settings_for(*sources, crm[1])
    card = await final_card(settings)
    sections = card["sections"]
    assert sections["accounting"]["data"] == {"account_id": 1001, "name": "Ada Lovelace", "balance": 120.5}
    assert sections["credit"]["data"] == {"credit_limit": 5000, "rating": "B"}
    assert sections["crm"]["data"]["tier"] == "gold"
    customer = card["customer"]
    assert customer["name"] == "Ada Lovelace"
    assert customer["conflicts"][0]["values"] == ["Ada Lovelace", "Ada King"]
    assert customer["matches"] == 2


async def test_hanging_http_times_out_and_sql_is_ok(
    sources: tuple[str, str], crm: tuple[CrmApi, str]
) -> None:
    """A CRM that hangs is `timeout` at its own timeout; the SQL sections are `ok` and the card completes."""
    crm[0].mode = "hang"
    card = await final_card(settings_for(*sources, crm[1]))
    assert card["sections"]["crm"]["status"] == "timeout"
    assert card["sections"]["crm"]["error"] == "no answer in 300 ms"  # its own timeout, not the deadline
    assert card["sections"]["accounting"]["status"] == "ok"
    assert card["sections"]["credit"]["status"] == "ok"


async def test_failing_http_is_an_error_section(sources: tuple[str, str], crm: tuple[CrmApi, str]) -> None:
    """A 500 from the CRM is `error` with a short text; the others are unaffected."""
    crm[0].mode = "fail"
    card = await final_card(settings_for(*sources, crm[1]))
    assert card["sections"]["crm"] == {
        "status": "error",
        "error": "HTTP 500 from crm",
        "elapsed_ms": card["sections"]["crm"]["elapsed_ms"],
        "title": "Crm",
    }
    assert card["sections"]["credit"]["status"] == "ok"


async def test_needs_missing_is_skipped(sources: tuple[str, str], crm: tuple[CrmApi, str]) -> None:
    """A caller unknown to accounting leaves credit `skipped` without asking PostgreSQL."""
    card = await final_card(settings_for(*sources, crm[1]), "+13125550178")
    assert card["sections"]["accounting"]["status"] == "not_found"
    assert card["sections"]["credit"]["status"] == "skipped"
    assert card["sections"]["credit"]["error"] == "needs accounting.account_id"


async def test_injection_in_the_number_is_harmless(sources: tuple[str, str], crm: tuple[CrmApi, str]) -> None:
    """A number carrying SQL finds nothing and every table is still there."""
    card = await final_card(settings_for(*sources, crm[1]), "1'; DROP TABLE accounts; --")
    assert card["sections"]["accounting"]["status"] == "not_found"
    again = await final_card(settings_for(*sources, crm[1]))
    assert again["sections"]["accounting"]["status"] == "ok"


async def test_cache_hit_within_ttl_does_not_ask_again(
    sources: tuple[str, str], crm: tuple[CrmApi, str]
) -> None:
    """With cache_ttl_s the second lookup of a number is served from the cache: the CRM is asked once."""
    settings = settings_for(*sources, crm[1], cache_ttl_s=30)
    async with _engine(settings) as engine:
        first = await engine.lookup(parse_caller(ADA, "US"))
        second = await engine.lookup(parse_caller("(415) 555-0132", "US"))
    assert crm[0].hits == 1
    assert first["crm"].status is SectionStatus.OK
    assert second["crm"].cached
    assert second["crm"].data == first["crm"].data
