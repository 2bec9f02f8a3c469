"""Reading a company's own SQLite file as its owner meant it: legacy text decoded, a missing file refused.

SQLite checks neither: it stores whatever bytes an application wrote into a
TEXT column, and it creates a file that does not exist on connect. The
``sql`` and ``purchases`` kinds read other people's databases, so both are
handled here once, for every engine and index reader they open (they reach
these through ``screenpop.connector_api``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


def legacy_text(raw: bytes) -> str:
    """A SQLite TEXT value as its writer meant it: UTF-8, else Windows-1252 (which reads Latin-1).

    SQLite keeps whatever bytes an old application wrote, and sqlite3's own
    decoding raises on the first one that is not UTF-8: a single ``Müller``
    exported from a Windows program then failed the whole number index, every
    query returning its row and the whole purchase history. The five bytes
    Windows-1252 leaves undefined become U+FFFD.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def source_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` made fit to read a company's own database; only SQLite needs anything.

    Its TEXT is decoded with ``legacy_text``, and a file that does not exist
    is an error naming it instead of a new empty database: SQLite creates a
    missing file on connect, so a typo in the path (``acounting.db``) left
    an empty file beside the real one and answered ``no such table``.
    PostgreSQL and MySQL check their encoding on the way in and never create
    a database on connect.
    """
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "do_connect", _refuse_missing_file)
        event.listen(engine.sync_engine, "connect", _decode_legacy_text)
    return engine


def missing_sqlite_file(database: object) -> str | None:
    """``X does not exist (…)`` when ``database``, a SQLite file name, names no file; None otherwise."""
    name = str(database or "")
    if not name or name == ":memory:" or name.startswith("file:") or Path(name).exists():
        return None  # in memory, or a `file:` URI whose own `mode=` says what to do
    return f"the SQLite file {name} does not exist (a connector reads a database, it never creates one)"


def _refuse_missing_file(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
    problem = missing_sqlite_file(cargs[0] if cargs else cparams.get("database"))
    if problem:
        raise sqlite3.OperationalError(problem)


def _decode_legacy_text(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.driver_connection.text_factory = legacy_text
