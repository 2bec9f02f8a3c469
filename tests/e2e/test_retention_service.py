"""The running service purges at start and again an hour later on its clock, and counts it in /metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from screenpop.app import create_app
from screenpop.config import Settings
from screenpop.store import Store
from screenpop.store.schema import calls
from screenpop.testing import ManualClock
from screenpop.web import server
from tests.support.service import make
from tests.support.store_rows import dump, insert
from tests.support.waiting import wait_for


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: ManualClock) -> AsyncIterator[str]:
    """The real application, on the given clock, on a free loopback port."""
    runner = server.ScreenpopRunner(create_app(settings, clock), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def call_row(call_id: str, received: datetime) -> dict[str, object]:
    return {"provider": "pbx", "call_id": call_id, "status": "ended", "received_at": received}


async def call_ids(url: str) -> list[str]:
    return sorted(r["call_id"] for r in (await dump(url))["calls"])


async def test_service_purges_at_start_and_hourly(tmp_path: Path) -> None:
    """A call past calls_days goes at start; one that passes it later goes when the clock moves an hour on."""
    url = f"sqlite+aiosqlite:///{tmp_path}/screenpop.db"
    await (await Store.open(url)).close()
    clock = ManualClock()
    now = datetime.fromtimestamp(clock.time(), UTC)
    await insert(url, [(calls, call_row("old", now - timedelta(days=30, minutes=1)))])
    settings = make(url, retention={"calls_days": 30})

    async with serving(settings, clock) as base:
        # the purge is counted just before its loop arms the hourly timer, in the same step
        await wait_for(lambda: _purges_counted(base, 1), within=10, what="the purge at start")
        assert await call_ids(url) == []
        await insert(url, [(calls, call_row("ages-soon", now - timedelta(days=30) + timedelta(minutes=30)))])
        await insert(url, [(calls, call_row("young", now - timedelta(days=29)))])

        clock.advance(3600)

        await wait_for(lambda: _gone(url, "ages-soon"), within=10, what="the hourly purge")
        assert await call_ids(url) == ["young"]
        await wait_for(lambda: _purges_counted(base, 2), within=10, what="the second purge counted")
        text = await _metrics(base)
    assert 'screenpop_retention_purged_total{table="calls"} 2.0' in text


async def _gone(url: str, call_id: str) -> bool:
    return call_id not in await call_ids(url)


async def _metrics(base: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as reply:
        return await reply.text()


async def _purges_counted(base: str, n: int) -> bool:
    return f"screenpop_retention_purges_total {n}.0" in await _metrics(base)
