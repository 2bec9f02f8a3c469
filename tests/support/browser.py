"""What the browser tests share: real servers on known loopback ports, real connectors, a host page.

The widget's socket is refused unless the page's origin is in
``server.allowed_origins``, so every server here is started on a port chosen
before its settings are written (``free_port``), never on port 0.  The
connectors are the real ``sql`` kind over SQLite files the tests write and the
real ``http`` kind over a small aiohttp server that answers as slowly as told.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import Page

from screenpop.app import create_app
from screenpop.config import Settings, settings_from_mapping
from tests.support.service import base_config, event_body, post_event

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
WAIT_MS = 5000  # the longest any single expected change in the page may take
MODELS_WITHIN_S = 60.0
"""A purchase model is built by a spawned worker process at low priority: seconds on a busy CI machine."""


def origin(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def write_accounts(path: Path, rows: Iterable[tuple[str, str, str, float]]) -> str:
    """An accounting SQLite database with ``accounts(phone, account_id, name, balance)``; its URL."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE accounts (phone TEXT, account_id TEXT, name TEXT, balance REAL)")
        db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)", rows)
    return f"sqlite+aiosqlite:///{path}"


def sql_accounting(url: str) -> dict[str, Any]:
    """The real ``sql`` connector over ``write_accounts``'s table."""
    return {
        "name": "accounting",
        "kind": "sql",
        "url": url,
        "query": "SELECT account_id, name, balance FROM accounts WHERE phone = :e164",
        "timeout_ms": 1500,
        "identity": {"id": "account_id", "name": "name"},
        "display": {
            "title": "Accounting",
            "fields": {
                "name": {"label": "Name"},
                "balance": {"label": "Balance", "format": "currency", "currency": "USD"},
            },
        },
    }


def http_section(name: str, base: str, delay_ms: int, timeout_ms: int) -> dict[str, Any]:
    """The real ``http`` connector, asking ``slow_api`` to answer after ``delay_ms``."""
    return {
        "name": name,
        "kind": "http",
        "method": "GET",
        "url": f"{base}/contacts?phone={{e164}}&delay_ms={delay_ms}",
        "select": {"tier": "$.items[0].tier", "owner": "$.items[0].owner"},
        "timeout_ms": timeout_ms,
        "display": {
            "title": name.title(),
            "fields": {"tier": {"label": "Tier"}, "owner": {"label": "Owner"}},
        },
    }


def service_config(
    store_url: str, port: int, origins: Iterable[str] = (), **overrides: Any
) -> dict[str, Any]:
    """``base_config`` served on ``port``, allowing its own origin (the /agent page) and ``origins``."""
    config = base_config(store_url, **{"roles": {"tier1": {}, "supervisor": {}}, **overrides})
    config["server"] = {"port": port, "allowed_origins": [origin(port), *origins]}
    return config


def settings_of(config: dict[str, Any], environ: dict[str, str] | None = None) -> Settings:
    return settings_from_mapping(config, source="<browser test>", environ=environ or {})


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, port: int, shutdown_timeout: float = 60.0) -> AsyncIterator[str]:
    """Any aiohttp app on 127.0.0.1:``port``; yields its base URL.

    ``shutdown_timeout`` bounds how long stopping waits for handlers still
    running (the slow API's sleeping requests, whose clients gave up).
    """
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield origin(port)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def screenpop_on(settings: Settings) -> AsyncIterator[str]:
    """The real screenpop application on the port its settings name."""
    async with serve_app(create_app(settings), settings.server.port) as base:
        yield base


async def _contacts(request: web.Request) -> web.Response:
    """A CRM-like API: one contact per number, after the delay the caller asked for."""
    delay_s = int(request.query.get("delay_ms", "0")) / 1000
    await asyncio.sleep(delay_s)  # allow-sleep: a deliberately slow API (the delay is the test's input)
    phone = request.query.get("phone", "")
    return web.json_response({"items": [{"phone": phone, "tier": "Gold", "owner": "Dana Scully"}]})


@contextlib.asynccontextmanager
async def slow_api(port: int) -> AsyncIterator[str]:
    """The CRM-like API on ``port``; requests still sleeping when the test ends are dropped."""
    app = web.Application()
    app.router.add_get("/contacts", _contacts)
    async with serve_app(app, port, shutdown_timeout=0.2) as base:
        yield base


HOST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme desk</title>
<style>* {{ color: #b00020 !important; }} div {{ border: 2px dashed magenta; }}</style>
<script type="module" src="{server}/widget/screenpop.js"></script>
</head><body><h1>Acme desk</h1>
<screenpop-card server="{server}" token="{token}" notifications="off" sound="off"></screenpop-card>
</body></html>
"""


@contextlib.asynccontextmanager
async def host_page(port: int, server: str, token: str) -> AsyncIterator[str]:
    """A customer's own web app on another origin, embedding the widget with the two documented tags."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=HOST_PAGE.format(server=server, token=token), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with serve_app(app, port, shutdown_timeout=0.2) as base:
        yield base


async def ring(base: str, call_id: str, number: str, event: str = "ringing", **extra: Any) -> None:
    """Send one correctly signed generic webhook and insist it was accepted."""
    status, reply = await post_event(base, event_body(call_id, event, number, **extra))
    assert status == 202, reply


def card(call_id: str) -> str:
    return f"[data-testid=card][data-call-id={call_id}]"


def section(call_id: str, name: str, status: str | None = None) -> str:
    found = f"{card(call_id)} [data-testid=section][data-section={name}]"
    return f"{found}[data-status={status}]" if status else found


async def open_agent_page(page: Page, base: str, token: str) -> None:
    """/agent with the token in the fragment, connected (the banner says so) before returning."""
    await page.goto(f"{base}/agent#token={token}")
    await connected(page)


async def connected(page: Page) -> None:
    """Wait for the widget's welcome (the banner is hidden once connected, so only attached)."""
    banner = "[data-testid=status-banner][data-state=connected]"
    await page.wait_for_selector(banner, state="attached", timeout=WAIT_MS)


async def count_of(page: Page, selector: str) -> int:
    return await page.locator(selector).count()


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """docs/screenshots/NAME when SCREENPOP_WRITE_SCREENSHOTS=1, else a temporary file (CI stays clean)."""
    if os.environ.get("SCREENPOP_WRITE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS / name
    return tmp_path / name
