"""One refresh of a purchases model, run in a separate process.

Reading 10^6 order lines through a driver makes millions of short-lived
Python objects, and each of them is work for the interpreter that holds the
GIL and, every so often, a full garbage collection (over 100 ms in a process
that has imported SQLAlchemy).  Done in the server's process, that stalls
every other card while the history is read.  So the whole refresh (open a
pool, stream the rows, turn them into arrays, count) runs in a worker process
of its own, and what comes back is the model and the history as a few numpy
arrays, which unpickle with memory copies.

Only picklable values cross: the job's settings, the previous history (for a
``:since`` refresh), the new model, and a ``ConnectorError`` with a safe text
when anything fails (never the driver's exception, which may carry the URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, String, bindparam, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.connector_api import source_engine
from screenpop.errors import ConnectorError, may_quote_values

from .columns import History, TextZone
from .model import PurchaseModel

REQUIRED = ("customer", "product", "at")
OPTIONAL = ("product_name", "quantity")
MAX_ERROR_CHARS = 300
WRAPPED_CLASS = re.compile(r"^<class '(?:[\w.]+\.)?(\w+)'>:\s*(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Job:
    """What one refresh needs: where to read, from when, and how to count."""

    url: str
    query: str
    since: datetime | str | None  # None: the query does not bind :since; str: as a text column writes it
    history: History  # the lines already read (empty unless :since)
    min_customers: int
    as_of: datetime | None
    chunk_rows: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The new model, the history it was built from, and how many rows this refresh read."""

    model: PurchaseModel
    history: History
    read: int
    aware: bool = False
    """The driver handed ``at`` over as aware datetimes (a ``timestamptz``): ``:since`` is bound so too."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Lines of this read left out, by reason (``columns.SKIP_REASONS``)."""
    text_zone: TextZone | None = None
    """``at`` came as text with a zone: ``:since`` is written as that text is."""


NICENESS = 10  # the worker yields the CPU to the server's process (2 cores are common)


def lower_priority() -> None:
    """Run in the worker as it starts: a refresh may take a few seconds longer, a call never waits."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(NICENESS)


def rebuild(job: Job) -> Outcome:
    """Read the (new) lines and build a model; any failure becomes a ConnectorError with a safe text."""
    try:
        return asyncio.run(_rebuild(job))
    except ConnectorError:
        raise
    except Exception as exc:
        password = make_url(job.url).password
        raise ConnectorError(describe(exc, (str(password),) if password else ())) from None


async def _rebuild(job: Job) -> Outcome:
    history = job.history
    before, mark = dict(history.skipped), history.mark()
    read, aware, text_zone = await read_history(job, history)
    history.drop_overlap(mark)  # the lines a :since read returned again replace those kept
    skipped = {reason: n - before.get(reason, 0) for reason, n in history.skipped.items()}
    model = PurchaseModel(history, min_customers=job.min_customers, as_of=job.as_of)
    # only a :since refresh needs the lines again; the rest would be copied back for nothing
    kept = history if job.since is not None else History()
    left_out = {reason: n for reason, n in skipped.items() if n}
    return Outcome(model, kept, read, aware, left_out, text_zone)


async def read_history(job: Job, history: History) -> tuple[int, bool, TextZone | None]:
    """Stream the rows into ``history``: how many rows were read, whether ``at`` is aware, its text's zone.

    ``:since`` goes back as the column gave its times, typed to match: an
    aware instant as ``timestamptz`` (exact whatever the server's TimeZone),
    a naive wall time as ``timestamp`` (the same wall time it was read as).
    Bound naive against a ``timestamptz`` column, PostgreSQL read it in its
    session TimeZone: on a server in Berlin the next refresh began an hour
    late and missed that hour's lines.
    """
    statement = text(job.query)
    bound: dict[str, Any] = {}
    if isinstance(job.since, str):  # a text column with a zone: compared as text (TextZone)
        statement = statement.bindparams(bindparam("since", type_=String()))
        bound["since"] = job.since
    elif job.since is not None:
        aware_since = job.since.tzinfo is not None
        statement = statement.bindparams(bindparam("since", type_=DateTime(timezone=aware_since)))
        bound["since"] = job.since
    # hide_parameters: a failed read's text then never quotes its bound values (SPEC: no data in logs)
    engine = source_engine(create_async_engine(job.url, hide_parameters=True))
    read, aware, text_zone = 0, False, None
    try:
        async with engine.connect() as conn:
            result = await conn.stream(statement, bound)
            where = column_positions(list(result.keys()))
            name, quantity = where.get("product_name"), where.get("quantity")
            async for rows in result.partitions(job.chunk_rows):
                columns = list(zip(*rows, strict=True))
                if not read:
                    first = next((at for at in columns[where["at"]] if at is not None), None)
                    aware = isinstance(first, datetime) and first.tzinfo is not None
                    text_zone = TextZone.of(first) if isinstance(first, str) else None
                history.add(
                    columns[where["customer"]],
                    columns[where["product"]],
                    columns[where["at"]],
                    quantity=None if quantity is None else columns[quantity],
                    product_name=None if name is None else columns[name],
                )
                read += len(rows)
    finally:
        await engine.dispose()
    return read, aware, text_zone


def column_positions(names: list[str]) -> dict[str, int]:
    """Where each known column is in the query's rows; a missing required one is a clear error.

    Names are matched without case, as SQL matches unquoted names: a legacy
    schema's ``"Customer"`` or a SQLite ``AS Customer`` is the ``customer``
    column (an exact spelling wins when both come back).
    """
    exact = {str(name): index for index, name in reversed(list(enumerate(names)))}
    folded = {str(name).lower(): index for index, name in reversed(list(enumerate(names)))}
    where = {c: exact.get(c, folded.get(c)) for c in (*REQUIRED, *OPTIONAL)}
    for column in REQUIRED:
        if where[column] is None:
            returned = ", ".join(str(name) for name in names)
            raise ConnectorError(
                f"history_query returns no column {column!r} "
                f"(it returns {returned}; name it with AS {column})"
            )
    return {column: index for column, index in where.items() if index is not None}


def describe(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A failure as the IT person can act on it, never quoting a value or a secret.

    A database's sentence that names an object (``no such table: orders``,
    ``column l.qty does not exist``) is kept, first line only, as the sql
    kind keeps it: "OperationalError while reading the history" alone did
    not say whether a table, a column or the server was wrong.  A sentence
    that may quote a value (``may_quote_values``) gives only its class and
    SQLSTATE; the URL's password is blanked wherever it appears.
    """
    if isinstance(exc, ConnectorError):
        return str(exc)
    if not isinstance(exc, DBAPIError):
        return f"{type(exc).__name__} while reading the history"
    origin: BaseException = exc.orig or exc
    state = getattr(origin, "sqlstate", None)
    name, message = type(origin).__name__, str(origin)
    wrapped = WRAPPED_CLASS.match(message)  # asyncpg's own class, through SQLAlchemy's adapter
    if wrapped:
        name, message = wrapped.group(1), wrapped.group(2)
    if may_quote_values(origin, state):
        return f"database error: {name}" + (f" (SQLSTATE {state})" if state else "")
    first = (message.strip().splitlines() or [""])[0]
    text = f"database error: {name}: {first}" if first else f"database error: {name}"
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:MAX_ERROR_CHARS]
