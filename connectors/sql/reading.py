"""Reading stored numbers in a worker process, so that a big table's normalisation leaves the loop alone.

Normalising a cell costs ~10-15 us of Python (labels, phonenumbers); at 10^6
rows that is 15-20 s of CPU. Done on the event loop, even in small chunks, it
competes with every call for that time (issue 15: loop lag p99 <= 5 ms during
a rebuild). So after the first ``LOCAL_ROWS`` rows of a full read (an
incremental read is small and stays here), the connector hands chunks of
phone cells to one worker process (``forkserver``: never a fork of a
process that runs threads and a loop) and gets back only arrays:
E.164 digits as ``int64`` and, per number, the row's position in the chunk.
The event loop keeps the keys, the streaming and the merge.
"""

from __future__ import annotations

import array
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from screenpop.connector_api import ConnectorContext

from .index import e164_to_int
from .rows import UNREADABLE_EXAMPLES, RowReader

#: Rows read on the loop before a worker process is worth starting (tests, small tables stay in-process).
LOCAL_ROWS = 8192
#: Rows sent to the worker at a time, and how many chunks may be in flight.
WORKER_ROWS = 4096
IN_FLIGHT = 3

_reader: RowReader | None = None


def start_pool(context: ConnectorContext, columns: Sequence[str], region: str | None) -> ProcessPoolExecutor:
    """One worker that reads cells the way ``context`` does (its callables are module-level partials)."""
    plain = ConnectorContext(context.default_region, context.normalize, read_numbers=context.read_numbers)
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=_init,
        initargs=(plain, tuple(columns), region),
    )


def _init(context: ConnectorContext, columns: tuple[str, ...], region: str | None) -> None:
    global _reader
    _reader = RowReader(columns, region, context)


ChunkResult = tuple[bytes, bytes, int, list[str]]


def read_chunk(rows: list[tuple[Any, ...]]) -> ChunkResult:
    """In the worker: (numbers int64 bytes, row positions int32 bytes, unreadable cells, a few examples)."""
    assert _reader is not None
    before = _reader.unreadable
    numbers, positions = array.array("q"), array.array("i")
    for position, row in enumerate(rows):
        for e164 in _reader(row):
            number = e164_to_int(e164)
            if number is not None:
                numbers.append(number)
                positions.append(position)
    examples = list(_reader.unreadable_examples)[:UNREADABLE_EXAMPLES]
    return numbers.tobytes(), positions.tobytes(), _reader.unreadable - before, examples


Submit = Callable[[list[tuple[Any, ...]]], ChunkResult]
