"""Cached sections are kept apart by ``numbers.default_region``: it decides what a normalized index holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiohttp

from screenpop.generation import Shared, build_generation
from screenpop.lookup import MemoryCache
from screenpop.model import SectionStatus
from screenpop.phone import parse_caller
from screenpop.testing import make_settings


async def test_an_instance_of_another_region_does_not_get_the_answer_cached_for_the_first(
    tmp_path: Path,
) -> None:
    """A US instance finds `55 9474 4977` as +1 559 474 4977; an MX one sharing the cache must not."""
    path = tmp_path / "crm.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT)")
    db.execute("INSERT INTO customers VALUES (1, 'Lupita', '55 9474 4977')")
    db.commit()
    db.close()
    connector = {
        "name": "crm",
        "kind": "sql",
        "url": f"sqlite+aiosqlite:///{path}",
        "match": "normalized",
        "index_query": "SELECT id, phone FROM customers",
        "query": "SELECT id, name FROM customers WHERE id IN :keys",
        "cache_ttl_s": 3600,
    }
    cache = MemoryCache()
    caller = parse_caller("+15594744977", "US").params()
    async with aiohttp.ClientSession() as http:
        shared = Shared(http=http, cache=cache, observer=None)
        us = await build_generation(make_settings([connector], numbers={"default_region": "US"}), shared)
        mx = await build_generation(make_settings([connector], numbers={"default_region": "MX"}), shared)
        try:
            assert (await us.engine.section_for("crm", caller)).status is SectionStatus.OK
            found = await mx.engine.section_for("crm", caller)
            assert (found.status, found.cached) == (SectionStatus.NOT_FOUND, False)
        finally:
            for generation in (us, mx):
                for made in generation.connectors.values():
                    await made.close()
