"""A big table's full read in worker processes that open their own connection (issue 15).

Normalising a cell costs a few microseconds of Python; at 10^6 rows that is
seconds of CPU, and at 10^7 a minute. Done on the event loop, even in small
chunks, it competes with every call for that time (loop lag p99 <= 5 ms
during a rebuild), and handing rows to one worker as pickled tuples cost the
loop nearly as much as normalising them. So once a full read passes
``LOCAL_ROWS`` rows, the connector stops reading and starts ``workers()``
processes (``forkserver``: never a fork of a process that runs threads and a
loop), each of which runs ``index_query`` on its own connection and keeps
only the rows of its share of the keys (``owner``: by key, not by row order,
so two reads that return rows in a different order still split them
exactly). A worker sends back NumPy arrays only -- its keys, E.164 digits as
``int64`` and the row of each number -- once, at the end; the loop merely
waits, then merges the shares in a thread.

Every worker reads the whole result; the rows it skips cost it ~1 us each,
which buys using every core without a process passing rows to another. An
in-memory SQLite database cannot be opened by another process: it is read
on the loop, like an incremental read.
"""

from __future__ import annotations

import array
import asyncio
import logging
import multiprocessing
import os
import sqlite3
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from screenpop.connector_api import ConnectorContext, legacy_text, missing_sqlite_file, source_engine
from screenpop.errors import ConnectorError

from .index import IndexBuilder
from .index_columns import Ints, e164_to_int, key_column
from .rows import UNREADABLE_EXAMPLES, RowReader
from .since import index_statement
from .values import describe_db_error

#: Rows read on the loop before worker processes are worth starting (tests, small tables stay here).
LOCAL_ROWS = 8192
#: Rows a worker fetches from the database at a time.
WORKER_FETCH_ROWS = 8192
#: Added to the workers' niceness: when the CPU is short, calls on the loop come before a
#: rebuild (an idle core still goes to the workers). On this project's shared 2-core machine
#: (load average 8-11) the loop's wake-up lag p99 during a 10^6-row build was 20 ms at 0 and
#: 15 ms at 10, against 3-7 ms with no build at all.
WORKER_NICE = 10
#: More workers than this only add database reads: two cores' worth is what issue 15 measures.
MAX_WORKERS = 2

log = logging.getLogger(__name__)

_context: ConnectorContext | None = None


def workers() -> int:
    """One worker per core this process may use, at most ``MAX_WORKERS``."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


@dataclass(frozen=True, slots=True)
class FullRead:
    """What a worker needs to run ``index_query`` by itself (the URL holds the password: never logged)."""

    url: str
    query: str
    bound: dict[str, Any]
    region_column: str | None
    timeout_ms: int
    connect_args: dict[str, Any]
    server_timeout: bool
    secrets: tuple[str, ...]
    sqlite_path: str | None = None
    """A SQLite file: read with the stdlib driver's cursor, read-only (half the cost of the async engine)."""


@dataclass(frozen=True, slots=True)
class Share:
    """One worker's rows: their keys in read order, and each number with the position of its row."""

    keys: npt.NDArray[Any]
    numbers: Ints
    positions: npt.NDArray[np.int32]
    unreadable: int
    examples: tuple[str, ...]
    keyless: int = 0
    """Rows with a NULL key (counted by share 0 only, so each is counted once)."""


async def read_in_workers(job: FullRead, context: ConnectorContext) -> IndexBuilder:
    """Every share read by its worker, merged (off the loop) into one builder.

    The workers are this function's own processes, not a pool's: however the
    read ends (done, failed, timed out, or cancelled by a closing connector)
    every worker still running is terminated before it returns, so none reads
    the table on for minutes.
    """
    count = workers()
    log.info("a full index read continues in %d worker processes", count)
    plain = ConnectorContext(context.default_region, context.normalize, read_numbers=context.read_numbers)
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload([__name__])  # the next builds' workers start without imports
    started = [_Worker.start(forkserver, plain, job, share, count) for share in range(count)]
    try:
        shares = await asyncio.gather(*(worker.share() for worker in started))
    finally:
        for worker in started:
            worker.stop()
        await asyncio.to_thread(_joined, started)
    return await asyncio.to_thread(_merged, RowReader((), None, context), shares)


@dataclass(frozen=True, slots=True)
class _Worker:
    """One worker process and the read end of the pipe its share (or its safe error) comes back on."""

    process: BaseProcess
    answers: Connection

    @classmethod
    def start(
        cls, processes: BaseContext, context: ConnectorContext, job: FullRead, share: int, shares: int
    ) -> _Worker:
        answers, sender = processes.Pipe(duplex=False)
        process = processes.Process(  # type: ignore[attr-defined]
            target=_serve_share,
            args=(sender, context, job, share, shares),
            name=f"screenpop-index-{share}",
            daemon=True,
        )
        process.start()
        sender.close()  # the worker's end now: a worker gone without an answer reads as EOF here
        return cls(process, answers)

    async def share(self) -> Share:
        """The worker's share; its safe error, or a clear one when it died without a word."""
        try:
            kind, found = await asyncio.to_thread(self.answers.recv)
        except (EOFError, OSError):
            raise ConnectorError("an index worker stopped unexpectedly") from None
        if kind == "error":
            raise ConnectorError(found)
        return cast(Share, found)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.answers.close()  # a thread still waiting on it gets EOF


def _joined(started: Sequence[_Worker]) -> None:
    for worker in started:
        worker.process.join()


def _serve_share(
    sender: Connection, context: ConnectorContext, job: FullRead, share: int, shares: int
) -> None:
    """A worker's whole life: read its share, send it back (or the error's safe text), exit."""
    _init(context)
    answer: tuple[str, Any]
    try:
        answer = ("share", read_share(job, share, shares))
    except ConnectorError as exc:
        answer = ("error", str(exc))
    except Exception as exc:  # read_share turns the database's errors into safe text; this is the rest
        answer = ("error", f"index worker failed ({type(exc).__name__})")
    try:
        sender.send(answer)
    finally:
        sender.close()


def _merged(reading: RowReader, shares: Sequence[Share]) -> IndexBuilder:
    builder = IndexBuilder(reading)
    for share in shares:
        builder.add_share(
            share.keys, share.numbers, share.positions, share.unreadable, share.examples, share.keyless
        )
    return builder


def _init(context: ConnectorContext) -> None:
    global _context
    _context = context
    os.nice(WORKER_NICE)


def owner(key: Any, shares: int) -> int:
    """Which share a row key belongs to: the same in every process (no salted ``hash``)."""
    if type(key) is int:
        return key % shares
    return zlib.crc32(str(key).encode("utf-8", "surrogatepass")) % shares


def read_share(job: FullRead, share: int, shares: int) -> Share:
    """In a worker: run the query and keep the rows of ``share`` (safe errors only cross back)."""
    try:
        if job.sqlite_path is not None:
            return _read_sqlite(job, share, shares)
        return asyncio.run(_read_share(job, share, shares))
    except ConnectorError:
        raise
    except TimeoutError:
        raise ConnectorError(f"index query ran longer than {job.timeout_ms} ms") from None
    except Exception as exc:
        raise ConnectorError(describe_db_error(exc, job.secrets)) from None


async def _read_share(job: FullRead, share: int, shares: int) -> Share:
    assert _context is not None
    engine = source_engine(
        create_async_engine(job.url, poolclass=NullPool, hide_parameters=True, connect_args=job.connect_args)
    )
    limit = asyncio.timeout(job.timeout_ms / 1000)
    try:
        async with limit, engine.connect() as conn:
            if job.server_timeout:
                await conn.execute(text(f"SET LOCAL statement_timeout = {int(job.timeout_ms)}"))
            result = await conn.stream(index_statement(job.query, engine.dialect.name), job.bound)
            collected = _Collected(RowReader(tuple(result.keys()), job.region_column, _context))
            async for part in result.partitions(WORKER_FETCH_ROWS):
                collected.add(part, share, shares)
            return collected.share()
    except TimeoutError as exc:
        if limit.expired():
            raise
        raise ConnectorError(describe_db_error(exc, job.secrets)) from None  # the connect timeout
    finally:
        await engine.dispose()


#: How SQLAlchemy's SQLite dialect stores a ``datetime`` (what ``:since`` is compared with).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def _read_sqlite(job: FullRead, share: int, shares: int) -> Share:
    """The same read through ``sqlite3``: plain tuples, no thread hop per fetch; stopped at the timeout."""
    assert _context is not None
    assert job.sqlite_path is not None
    deadline = time.monotonic() + job.timeout_ms / 1000
    bound = {k: v.strftime(_SQLITE_DATETIME) if isinstance(v, datetime) else v for k, v in job.bound.items()}
    if problem := missing_sqlite_file(job.sqlite_path):
        raise ConnectorError(problem)
    db = sqlite3.connect(f"file:{job.sqlite_path}?mode=ro", uri=True)
    db.text_factory = legacy_text
    try:
        db.set_progress_handler(lambda: time.monotonic() > deadline, 100_000)
        try:
            cursor = db.execute(job.query, bound)
            columns = tuple(d[0] for d in cursor.description)
            collected = _Collected(RowReader(columns, job.region_column, _context))
            while rows := cursor.fetchmany(WORKER_FETCH_ROWS):
                collected.add(rows, share, shares)
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:  # the progress handler stopped it: say so, not "interrupted"
                raise TimeoutError from None
            raise
        return collected.share()
    finally:
        db.close()


class _Collected:
    """The rows of one share as flat typed buffers: no Python object per row survives."""

    def __init__(self, reader: RowReader) -> None:
        self._reader = reader
        self._keys: list[Any] = []
        self._numbers = array.array("q")
        self._positions = array.array("i")
        self._keyless = 0

    def add(self, rows: Sequence[Any], share: int, shares: int) -> None:
        keys, numbers, positions, reader = self._keys, self._numbers, self._positions, self._reader
        for row in rows:
            key = row[0]
            if key is None:  # never findable (``IndexBuilder.add``): counted once, by the first share
                self._keyless += 1 if share == 0 else 0
                continue
            if shares > 1 and owner(key, shares) != share:
                continue
            position = len(keys)
            keys.append(key)
            for e164 in reader(row):  # screenpop's E.164 text: "+" and at most 15 digits
                number = int(e164) if len(e164) <= 16 and e164[1:].isdigit() else e164_to_int(e164)
                if number is not None:
                    numbers.append(number)
                    positions.append(position)

    def share(self) -> Share:
        return Share(
            key_column(self._keys),
            np.array(self._numbers, dtype=np.int64),
            np.array(self._positions, dtype=np.int32),
            self._reader.unreadable,
            tuple(self._reader.unreadable_examples)[:UNREADABLE_EXAMPLES],
            self._keyless,
        )
