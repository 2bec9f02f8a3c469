"""A refresh of a normalized index that adds or changes numbers drops the answers cached for them.

A cached ``not_found`` used to hide a customer just added to the legacy table
until the entry expired. Real SQLite and PostgreSQL, real Redis, the real
generation wiring (``build_generation``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connectors.sql import SqlConnector
from screenpop.generation import Generation, Shared, build_generation
from screenpop.lookup import MemoryCache, RedisCache, SectionCache, cache_key
from screenpop.lookup.engine import cache_name
from screenpop.model import SectionStatus
from screenpop.phone import parse_caller
from screenpop.testing import make_settings

OLD, NEW, MOVED = "+14155550101", "+14155550199", "+14155550102"
ALL = "SELECT id, phone FROM crm"
SINCE = "SELECT id, phone FROM crm WHERE updated_at > :since"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'customers.db'}"
    return str(request.getfixturevalue("pg_url"))


async def run(url: str, statement: str, params: dict[str, Any] | None = None) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params or {})
    finally:
        await engine.dispose()


async def customers(url: str) -> None:
    await run(
        url,
        "CREATE TABLE crm (id INTEGER PRIMARY KEY, name VARCHAR(40), phone VARCHAR(40), "
        "updated_at TIMESTAMP)",
    )
    for key, name, phone in ((1, "Old", "(415) 555-0101"), (2, "Moves", "415.555.0102")):
        await run(
            url,
            "INSERT INTO crm VALUES (:id, :name, :phone, CURRENT_TIMESTAMP - INTERVAL '1' HOUR)"
            if "postgresql" in url
            else "INSERT INTO crm VALUES (:id, :name, :phone, datetime('now', '-1 hour'))",
            {"id": key, "name": name, "phone": phone},
        )


def settings(url: str, index_query: str, broker: str | None) -> Any:
    connector = {
        "name": "crm",
        "kind": "sql",
        "url": url,
        "match": "normalized",
        "index_query": index_query,
        "index_refresh_s": 3600,
        "query": "SELECT id, name FROM crm WHERE id IN :keys",
        "cache_ttl_s": 3600,
    }
    blocks = {"broker": {"url": broker}} if broker else {}
    return make_settings([connector], **blocks)


async def instance(http: aiohttp.ClientSession, cache: SectionCache, config: Any) -> Generation:
    return await build_generation(config, Shared(http=http, cache=cache, observer=None))


async def section(generation: Generation, e164: str) -> tuple[SectionStatus, Any, bool]:
    found = await generation.engine.section_for("crm", parse_caller(e164, "US").params())
    return found.status, found.data, found.cached


async def refresh(generation: Generation) -> None:
    connector = generation.connectors["crm"]
    assert isinstance(connector, SqlConnector) and connector._keeper is not None
    assert await connector._keeper.refresh(), connector._keeper.error


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def close(*generations: Generation) -> None:
    for generation in generations:
        for connector in generation.connectors.values():
            await connector.close()
        await generation.engine.cache.close()


@pytest.mark.parametrize("index_query", [ALL, SINCE])
async def test_a_new_customer_is_found_after_the_refresh_that_indexed_it(
    url: str, index_query: str, http: aiohttp.ClientSession
) -> None:
    """A cached not_found for a number goes with the refresh that indexes it; other entries stay cached."""
    await customers(url)
    one = await instance(http, MemoryCache(), settings(url, index_query, None))
    try:
        assert (await section(one, NEW))[0] is SectionStatus.NOT_FOUND
        assert (await section(one, NEW))[2] is True  # the not_found is cached
        assert (await section(one, OLD))[:2] == (SectionStatus.OK, {"id": 1, "name": "Old"})
        await run(url, "INSERT INTO crm VALUES (3, 'New', '415-555-0199', CURRENT_TIMESTAMP)")
        await run(url, "UPDATE crm SET phone = '415 555 0177', updated_at = CURRENT_TIMESTAMP WHERE id = 2")
        await refresh(one)
        assert await section(one, NEW) == (SectionStatus.OK, {"id": 3, "name": "New"}, False)
        assert await section(one, OLD) == (SectionStatus.OK, {"id": 1, "name": "Old"}, True)
    finally:
        await close(one)


async def test_the_shared_cache_forgets_for_every_instance(
    url: str, redis_url: str, http: aiohttp.ClientSession
) -> None:
    """With the Redis cache, the refresh of one instance drops the entry every instance reads."""
    await customers(url)
    config = settings(url, SINCE, redis_url)  # a full read would load the index one just published
    one = await instance(http, RedisCache(redis_url), config)
    other_cache = RedisCache(redis_url)
    other = await instance(http, other_cache, config)
    try:
        assert (await section(one, NEW))[0] is SectionStatus.NOT_FOUND
        assert (await section(other, NEW))[:3:2] == (SectionStatus.NOT_FOUND, True)  # one's answer, shared
        assert (await section(other, MOVED))[0] is SectionStatus.OK
        await run(url, "INSERT INTO crm VALUES (3, 'New', '415-555-0199', CURRENT_TIMESTAMP)")
        await run(url, "UPDATE crm SET phone = NULL, updated_at = CURRENT_TIMESTAMP WHERE id = 2")
        await refresh(one)
        for number in (NEW, MOVED):
            key = cache_key(cache_name(config.connectors[0], "US"), parse_caller(number, "US").params())
            assert await other_cache.get(key) is None
        assert await section(one, NEW) == (SectionStatus.OK, {"id": 3, "name": "New"}, False)
        assert await section(one, MOVED) == (SectionStatus.NOT_FOUND, None, False)
        assert await section(other, NEW) == (SectionStatus.OK, {"id": 3, "name": "New"}, True)
    finally:
        await close(one, other)
