"""What the store says about a failed statement (logs, /readyz) never quotes the values it was given."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.store.connections import failure_reason

NUMBER = "+14155550132"


@pytest.mark.postgres
async def test_a_postgresql_error_is_described_without_the_value_it_quotes(pg_url: str) -> None:
    """PostgreSQL quotes a value it cannot convert; the reason names the error and SQLSTATE instead."""
    engine = create_async_engine(pg_url, hide_parameters=True)
    try:
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError) as failed:
                await conn.execute(sa.text(f"SELECT CAST('{NUMBER}' AS integer)"))
    finally:
        await engine.dispose()
    assert NUMBER in str(failed.value.orig)  # the driver's own sentence does quote it
    reason = failure_reason(failed.value)
    assert NUMBER not in reason
    assert reason == "NumericValueOutOfRangeError (SQLSTATE 22003)", reason


@pytest.mark.postgres
async def test_an_asyncpg_argument_error_is_described_without_the_argument(pg_url: str) -> None:
    """asyncpg quotes an argument it cannot encode; the reason names only the error."""
    engine = create_async_engine(pg_url, hide_parameters=True)
    try:
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError) as failed:
                await conn.execute(sa.text("SELECT CAST(:n AS integer)"), {"n": NUMBER})
    finally:
        await engine.dispose()
    assert NUMBER in str(failed.value.orig)
    assert NUMBER not in failure_reason(failed.value), failure_reason(failed.value)


async def test_a_sqlite_error_keeps_its_sentence() -> None:
    """SQLite's sentences name tables and columns only, and stay as the reason."""
    engine = create_async_engine("sqlite+aiosqlite://", hide_parameters=True)
    try:
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError) as failed:
                await conn.execute(sa.text("SELECT * FROM calls WHERE e164 = :n"), {"n": NUMBER})
    finally:
        await engine.dispose()
    assert failure_reason(failed.value) == "no such table: calls"
