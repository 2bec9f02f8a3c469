"""Rows written straight into a store's tables (a separate engine), and every row read back.

Retention and erasure tests need rows of a given age and rows of every
table, including the sink outbox that the notes path fills on another
branch; writing them with the schema's own ``Table`` objects keeps them
exactly what the store would hold.  ``dump`` reads every table of
``schema.metadata``, so a check over it covers a table added later too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.store.schema import metadata


async def insert(url: str, rows: Sequence[tuple[sa.Table, Mapping[str, Any]]]) -> list[int]:
    """Insert each (table, row) in order in one transaction; the new primary keys (0 for composite keys)."""
    engine = create_async_engine(url)
    ids: list[int] = []
    try:
        async with engine.begin() as conn:
            for table, row in rows:
                result = await conn.execute(table.insert().values(**row))
                key = result.inserted_primary_key
                ids.append(int(key[0]) if key and len(key) == 1 and isinstance(key[0], int) else 0)
    finally:
        await engine.dispose()
    return ids


async def dump(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the schema declares, as plain dicts."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                t.name: [dict(r._mapping) for r in (await conn.execute(sa.select(t))).all()]
                for t in metadata.sorted_tables
            }
    finally:
        await engine.dispose()


def text_of(row: Mapping[str, Any]) -> str:
    """A row's values as one searchable text (JSON columns included)."""
    return json.dumps(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}, default=str
    )


def rows_mentioning(tables: Mapping[str, list[dict[str, Any]]], needles: Sequence[str]) -> list[str]:
    """``table: row`` for every row whose text contains one of ``needles``."""
    return [
        f"{name}: {text_of(row)}"
        for name, rows in tables.items()
        for row in rows
        if any(needle in text_of(row) for needle in needles)
    ]
