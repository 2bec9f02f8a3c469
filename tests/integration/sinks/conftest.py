"""Fixtures of the sinks' tests: the store on real SQLite and real PostgreSQL, the sink on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/screenpop.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def sink_db_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A PostgreSQL database of its own: the company's system of record a `sql` sink writes to."""
    name = f"sink_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
