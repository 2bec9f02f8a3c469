"""The store's hottest statements, run on the driver's cursor instead of through SQLAlchemy's execute.

Measured on SQLite, one indexed SELECT of five rows costs ~65 µs of CPU
through ``Connection.execute`` (execution context, parameter processing,
the result's type processors per value) and ~10 µs on the cursor, and the
per-call writes behind every card (a call, its first event, its recipient,
its summary, two audit rows) pay the same overhead per statement.  So a
few statements are compiled by SQLAlchemy once per dialect and run here
with their values converted by hand, exactly as ``schema.UTCDateTime`` and
``sa.JSON`` would: the rows written and read are the same.

A driver error is wrapped the way SQLAlchemy wraps it (``sa.exc.DBAPIError``,
parameters hidden), so the retry rules that sort failures see no difference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg

Convert = Callable[[Any], Any]


def dialect_named(name: str) -> sa.Dialect:
    """The dialect the store's engines use for ``name``, to compile statements ahead of any connection."""
    return sqlite.dialect() if name == "sqlite" else asyncpg.dialect()  # type: ignore[no-untyped-call]


def sqlite_time(value: datetime | None) -> str | None:
    """What ``UTCDateTime`` and SQLite's DATETIME store: naive UTC text with microseconds."""
    if value is None:
        return None
    return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def server_time(value: datetime | None) -> datetime | None:
    """What ``UTCDateTime`` hands a server database: the instant in UTC."""
    return None if value is None else _utc(value)


def to_json(value: Any) -> str:
    """``sa.JSON``'s bind value (``None`` is JSON ``null``, as ``none_as_null=False`` stores it)."""
    return json.dumps(value)


def read_time(value: datetime | str | None) -> datetime | None:
    """A stored time as aware UTC, from SQLite's text or a server's ``timestamptz``."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("screenpop stores only timezone-aware datetimes")
    return value.astimezone(UTC)


class RawStatement:
    """A Core statement compiled for one dialect; its named values in, plain tuples out.

    ``times`` and ``jsons`` name the parameters bound to ``UTCDateTime`` and
    JSON columns; every other value goes to the driver as it is.  Literals
    of the statement itself (a subquery's ``LIMIT 1``) are bound from it.
    """

    def __init__(
        self,
        statement: sa.Executable,
        dialect: sa.Dialect,
        *,
        times: Sequence[str] = (),
        jsons: Sequence[str] = (),
        columns: Sequence[str] | None = None,
    ) -> None:
        # ``columns``: the ones an INSERT or UPDATE sets (all of the table's otherwise)
        compiled = statement.compile(dialect=dialect, column_keys=columns)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        names = compiled.positiontup
        if names is None or len(set(names)) != len(names):
            raise ValueError("a raw statement needs positional parameters, each used once")
        # literal values of the statement itself (LIMIT 1 OFFSET 0 of a subquery)
        constants = {k: b.value for k, b in compiled.binds.items() if b.unique}
        time_of = sqlite_time if dialect.name == "sqlite" else server_time
        self._plan: list[tuple[str, Convert | None, Any]] = []
        for name in names:
            convert = time_of if name in times else to_json if name in jsons else None
            self._plan.append((name, convert, constants.get(name, _MISSING)))

    def values(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's positional values for one set of named parameters."""
        out = []
        for name, convert, constant in self._plan:
            value = params[name] if constant is _MISSING else constant
            out.append(value if convert is None else convert(value))
        return tuple(out)

    def all(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row the statement returns."""
        values = self.values(params)
        cursor = _cursor(conn)
        try:
            cursor.execute(self.sql, values)
            return list(cursor.fetchall())
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, self.sql, exc) from exc
        finally:
            cursor.close()

    def first(self, conn: sa.Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row, or None (what ``INSERT … ON CONFLICT DO NOTHING RETURNING`` gives)."""
        rows = self.all(conn, params)
        return rows[0] if rows else None

    def many(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """One ``executemany`` of these rows; nothing for none."""
        if not rows:
            return
        values = [self.values(r) for r in rows]
        cursor = _cursor(conn)
        try:
            cursor.executemany(self.sql, values)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, self.sql, exc) from exc
        finally:
            cursor.close()


_MISSING = object()


def _cursor(conn: sa.Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _wrapped(conn: sa.Connection, sql: str, exc: Exception) -> BaseException:
    """The driver's error as SQLAlchemy raises it from ``execute`` (a lost connection invalidated)."""
    dialect = conn.dialect
    dbapi = dialect.loaded_dbapi
    assert isinstance(exc, dbapi.Error)  # the only kind the callers catch
    invalidated = dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
    if invalidated:
        conn.invalidate(exc)
    return sa.exc.DBAPIError.instance(
        sql,
        None,
        exc,
        dbapi.Error,
        hide_parameters=True,
        connection_invalidated=invalidated,
        dialect=dialect,
    )
