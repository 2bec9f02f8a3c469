"""Shared fixtures: real PostgreSQL, Redis and Chromium, started only when asked for.

The servers are session-scoped and synchronous (no event loop to share across
tests); each test still gets a clean slate: a fresh PostgreSQL database, a
flushed Redis, a fresh browser profile.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from playwright.async_api import BrowserContext, async_playwright

from tests.support.ami import FakeAmi
from tests.support.servers import PostgresServer, RedisServer

# On a developer's machine Hypothesis explores new examples every run (and keeps the
# failures it finds in .hypothesis/); in CI (CI=true) every run draws the same ones, so a
# clean clone either passes or fails, never now and then. A case found locally becomes an
# explicit example (`@example`) in the test.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole run; tests get their own database in it."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the whole run; fault tests may stop and restart it."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database (``postgresql+asyncpg://``), dropped after the test.

    Dropping keeps the cluster a few databases big, so stopping and deleting
    it at the end of the run stays quick on a loaded machine.
    """
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of an empty Redis; a test that stopped the server gets it back running."""
    if not redis_server.running:
        redis_server.start()
    redis_server.flushall()
    return redis_server.url


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A headless Chromium context with a fresh profile, closed after the test."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def ami() -> AsyncIterator[FakeAmi]:
    """A scripted Asterisk Manager Interface on a free loopback port, stopped after the test."""
    server = FakeAmi()
    await server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(AssertionError, RuntimeError):  # a test may have stopped it already
            await server.stop()
