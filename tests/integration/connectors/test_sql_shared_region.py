"""A shared index is only loaded by instances that read numbers in the same default region.

``55 9474 4977`` is +1 559 474 4977 read in the US and +52 55 9474 4977 read
in Mexico: an instance whose ``numbers.default_region`` is MX (a second
deployment on the same Redis, or a reload that changed the region) must not
load the index a US instance published, or its callers are not found (and a
Fresno caller gets a Mexican customer) until its next full read.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

import pytest

from screenpop.broker.redis_url import redis_client
from screenpop.connectors.sql import SqlConnector, SqlOptions
from screenpop.plugins import connector_context

pytestmark = pytest.mark.redis


def connector(path: Path, region: str, redis_url: str) -> SqlConnector:
    options = SqlOptions(
        url=f"sqlite+aiosqlite:///{path}",
        match="normalized",
        index_query="SELECT id, phone FROM customers",
        query="SELECT id, name FROM customers WHERE id IN :keys",
    )
    factory = functools.partial(redis_client, redis_url)
    return SqlConnector("crm", options, connector_context(region, Path("."), None, factory))


async def test_an_instance_of_another_default_region_reads_the_table_itself(
    tmp_path: Path, redis_url: str
) -> None:
    """The MX instance finds the Mexican customer by +52; it did not load the US instance's index."""
    path = tmp_path / "crm.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT)")
    db.execute("INSERT INTO customers VALUES (1, 'Lupita', '55 9474 4977')")
    db.commit()
    db.close()
    us, mx = connector(path, "US", redis_url), connector(path, "MX", redis_url)
    try:
        await us.start()
        await mx.start()
        assert (await us.lookup({"e164": "+15594744977"})).data == {"id": 1, "name": "Lupita"}
        assert mx._shared is not None and mx._shared.last_source == "table"
        assert (await mx.lookup({"e164": "+525594744977"})).data == {"id": 1, "name": "Lupita"}
        assert (await mx.lookup({"e164": "+15594744977"})).data is None
    finally:
        await us.close()
        await mx.close()
