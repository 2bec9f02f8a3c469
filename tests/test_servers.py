"""The test infrastructure itself: real servers and a real browser, as fixtures promise."""

from __future__ import annotations

import asyncio
import subprocess
import threading

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from playwright.async_api import BrowserContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.servers import PostgresServer, RedisServer, ServerError, find_binary


async def test_pg_url_is_a_working_empty_database(pg_url: str) -> None:
    """pg_url points at a live PostgreSQL database with no user tables, where tables can be made."""
    engine = create_async_engine(pg_url)
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
            tables = await conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
            )
            assert tables.scalar_one() == 0
            await conn.execute(text("CREATE TABLE t (n int)"))
            await conn.execute(text("INSERT INTO t VALUES (41), (1)"))
            assert (await conn.execute(text("SELECT sum(n) FROM t"))).scalar_one() == 42
    finally:
        await engine.dispose()


async def test_each_database_is_isolated(pg_url: str, postgres_server: PostgresServer) -> None:
    """A table created in one test database is absent from another database of the same cluster."""
    other_url = postgres_server.create_database("infra_other")
    assert other_url != pg_url
    query = text("SELECT to_regclass('public.only_here') IS NOT NULL")
    found = []
    for url in (pg_url, other_url):
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                if url == pg_url:
                    await conn.execute(text("CREATE TABLE only_here (n int)"))
                found.append((await conn.execute(query)).scalar_one())
        finally:
            await engine.dispose()
    assert found == [True, False]


def test_create_database_rejects_unsafe_names(postgres_server: PostgresServer) -> None:
    """A database name that is not a plain identifier is refused before reaching the server."""
    with pytest.raises(ValueError, match="plain database name"):
        postgres_server.create_database("x; DROP DATABASE postgres")


async def test_redis_url_answers_and_starts_empty(redis_url: str) -> None:
    """redis_url points at a live Redis that stores values and holds no keys from earlier tests."""
    client = aioredis.from_url(redis_url)
    try:
        assert await client.ping() is True
        assert await client.dbsize() == 0
        await client.set("greeting", "hello")
        assert await client.get("greeting") == b"hello"
    finally:
        await client.aclose()


async def test_flushall_empties_every_database(redis_server: RedisServer, redis_url: str) -> None:
    """RedisServer.flushall, which redis_url runs before each test, removes keys in all DBs."""
    clients = [aioredis.from_url(redis_url), aioredis.from_url(redis_url, db=3)]
    try:
        for client in clients:
            await client.set("leftover", "1")
        await asyncio.to_thread(redis_server.flushall)
        assert [await client.exists("leftover") for client in clients] == [0, 0]
    finally:
        for client in clients:
            await client.aclose()


async def test_redis_restart_keeps_the_port(redis_server: RedisServer, redis_url: str) -> None:
    """A stopped Redis refuses connections and, after restart, answers again on the same URL."""
    port = redis_server.port
    redis_server.stop()
    client = aioredis.from_url(redis_url, socket_connect_timeout=1)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()
        await asyncio.to_thread(redis_server.start)
        assert redis_server.port == port
        assert redis_server.url == redis_url
        assert await client.ping() is True
    finally:
        await client.aclose()


def test_missing_binary_is_an_error_not_a_skip() -> None:
    """Looking up a server binary that is not installed raises ServerError with a hint."""
    with pytest.raises(ServerError, match="make test"):
        find_binary("no-such-server-binary", postgres=True)


async def test_chromium_renders_a_loopback_page(chromium: BrowserContext) -> None:
    """Chromium loads a page from an aiohttp server on 127.0.0.1 and reads its rendered text."""

    async def hello(request: web.Request) -> web.Response:
        body = "<html><body><p id='msg'>hello from aiohttp</p></body></html>"
        return web.Response(text=body, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        page = await chromium.new_page()
        await page.goto(f"http://127.0.0.1:{port}/")
        assert await page.text_content("#msg") == "hello from aiohttp"
    finally:
        await runner.cleanup()


def test_a_server_started_from_a_worker_thread_outlives_that_thread(redis_server: RedisServer) -> None:
    """Restarted through ``asyncio.to_thread``, the session's server died when that thread ended.

    Its death signal (``setpriv --pdeathsig``) is tied to the thread that
    spawned it, and the test's loop ends its executor's threads: the next
    test found the session's PostgreSQL or Redis gone.
    """
    redis_server.stop()
    worker = threading.Thread(target=redis_server.start)
    worker.start()
    worker.join()
    process = redis_server._proc
    assert process is not None
    with pytest.raises(subprocess.TimeoutExpired):  # the death signal, had it come, ends it at once
        process.wait(timeout=1.0)
    assert redis_server.is_ready()
