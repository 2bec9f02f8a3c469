"""Database values and errors made safe to put on a caller card.

Rows become JSON the widget can show without knowing the database (decimals
stay numbers, dates become ISO 8601 text); errors become one short line that
names what went wrong and never the URL or its password, because the text is
sent to agents' browsers as the section's ``error``.
"""

from __future__ import annotations

import base64
import math
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from screenpop.errors import may_quote_values

MAX_ERROR_CHARS = 200
_WRAPPED_CLASS = re.compile(r"^<class '(?:[\w.]+\.)?(\w+)'>:\s*(.*)$", re.DOTALL)


def json_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(column): json_value(value) for column, value in row.items()}


def json_value(value: Any) -> Any:
    """A JSON-safe equivalent of one column value (unknown types become their text)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    for types, convert in _CONVERTERS:
        if isinstance(value, types):
            return convert(value)
    return str(value)


def _decimal(value: Decimal) -> int | float | None:
    """Whole decimals stay exact integers; others become the nearest float (a JSON number)."""
    if not value.is_finite():
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _sequence(value: Any) -> list[Any]:
    return [json_value(item) for item in value]


def _mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key): json_value(item) for key, item in value.items()}


_CONVERTERS: tuple[tuple[type | tuple[type, ...], Callable[[Any], Any]], ...] = (
    (float, _float),
    (Decimal, _decimal),
    ((datetime, date, time), lambda v: v.isoformat()),
    (timedelta, lambda v: v.total_seconds()),
    ((bytes, bytearray, memoryview), lambda v: base64.b64encode(bytes(v)).decode("ascii")),
    (UUID, str),
    (Mapping, _mapping),
    ((list, tuple, set, frozenset), _sequence),
)


def describe_db_error(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """``database error: <Class>: <first line of the driver's message>``, with secrets blanked.

    An error whose sentence may quote a bound value says only its class and SQLSTATE.
    """
    if _unreachable(exc):
        return "cannot reach database"
    origin = getattr(exc, "orig", None) or exc
    state = getattr(origin, "sqlstate", None)
    if origin.__cause__ is not None and type(origin).__module__.startswith("sqlalchemy"):
        origin = origin.__cause__  # SQLAlchemy's asyncpg adapter wraps the driver's own class
    name, message = type(origin).__name__, str(origin)
    wrapped = _WRAPPED_CLASS.match(message)  # asyncpg through SQLAlchemy's adapter
    if wrapped:
        name, message = wrapped.group(1), wrapped.group(2)
    state = state or getattr(origin, "sqlstate", None)
    if _may_quote(origin, state):
        # 'invalid input for query argument $1: ...' quotes a bound value: the caller's number,
        # or a field of a section this card's role does not see (``needs: [credit.rating]``)
        return f"database error: {name} (SQLSTATE {state})" if state else f"database error: {name}"
    lines = message.strip().splitlines()
    text = f"database error: {name}: {lines[0]}" if lines else f"database error: {name}"
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text[:MAX_ERROR_CHARS]


def _may_quote(origin: BaseException, state: object) -> bool:
    """``may_quote_values``, less asyncpg's interface errors (``connection is closed``), which quote nothing.

    Without a SQLSTATE, asyncpg's argument encoding (a ``ValueError``) and
    MySQL's drivers (``Incorrect integer value: '...'``) quote what they were given.
    """
    if not may_quote_values(origin, state):
        return False
    if state:
        return True
    return isinstance(origin, ValueError | TypeError) or type(origin).__module__.split(".")[0] in _MYSQL


_MYSQL = frozenset({"pymysql", "aiomysql", "asyncmy", "MySQLdb"})


def _unreachable(exc: BaseException) -> bool:
    """A refused, unresolvable or timed-out connection anywhere in the exception chain."""
    return any(
        isinstance(link, ConnectionError | socket.gaierror | TimeoutError) or (type(link) is OSError)
        for link in _chain(exc)
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 20:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        orig = getattr(link, "orig", None)
        todo += [link.__cause__, link.__context__, orig if isinstance(orig, BaseException) else None]
