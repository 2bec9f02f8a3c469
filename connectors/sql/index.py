"""The number index behind ``match: normalized``: compact arrays, built in chunks, refreshed incrementally.

Legacy tables store numbers as people typed them ("(415) 555-0132",
"415.555.0132 x12"), so no ``WHERE phone = :e164`` can find them. Instead the
phone columns are read once, normalised to E.164 in Python, and kept as two
parallel NumPy arrays sorted by number: the E.164 digits as ``int64`` and the
position of the row's key in a sorted key array (``int64`` keys when every key
is an integer, else an object array). A lookup is two ``np.searchsorted``
calls plus a query by primary key. There is no Python object per stored number
(12 bytes per entry plus the key), so a million-row table fits in tens of MB
instead of the ~490 bytes per row of the former dict of tuples (issue 15).

The index is rebuilt in the background and swapped in whole (``keeper.py``).
Building never blocks the event loop for long: a small read is normalised
``CHUNK_ROWS`` rows at a time with a yield to the loop in between; a full read
past ``reading.LOCAL_ROWS`` rows is done by worker processes that read the
table themselves, and the merge and final sort (NumPy, which releases the
GIL) run in a thread.

Incremental refresh (``PhoneIndex.updated``): when ``index_query`` binds
``:since``, a refresh reads only the rows changed since the previous read began
(minus a safety overlap). When every key is one row, every number of a re-read
key is replaced; a row whose phone cells are now all blank (a soft-deleted
row) loses its numbers. When keys repeat (one row per number), the re-read
rows' numbers are added and none is dropped (``PhoneIndex.keys_repeat``). Rows
deleted outright, and numbers no row of a repeated key holds any more, are only
noticed by a full read, which runs every ``index_full_every`` refreshes
(docs/matching.md).
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .index_columns import (
    Ints,
    KeyIds,
    distinct_keys,
    e164_to_int,
    empty_keys,
    key_column,
    not_held,
    plain,
    sorted_unique,
)

#: Rows fetched from the database at a time (one driver round trip).
FETCH_ROWS = 512
#: Rows normalised between two yields to the event loop (~0.5-1 ms of work each).
CHUNK_ROWS = 64


class RowNumbers(Protocol):
    """Reads a row's numbers, and counts the non-blank cells it could not read (``rows.RowReader``)."""

    unreadable: int
    unreadable_examples: dict[str, None]
    """The first few unreadable cells as stored (an insertion-ordered set)."""

    def __call__(self, row: Sequence[Any]) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True, eq=False)
class PhoneIndex:
    """E.164 -> the keys of the rows that carry that number, keys in their DB type.

    ``numbers`` is sorted, ``key_ids[i]`` is the position in ``keys`` (sorted,
    distinct) of the row that stored ``numbers[i]``; (number, key) pairs are
    unique (after a full build they are also sorted by key within a number).
    ``keys_sorted`` is False only when the keys could not be ordered
    (mixed types); they are then in first-seen order.
    """

    numbers: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    key_ids: KeyIds = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    keys: npt.NDArray[Any] = field(default_factory=empty_keys)
    rows: int = 0
    unreadable: int = 0
    """Stored numbers (non-blank cells) that could not be read as a phone number: callers never found."""
    unreadable_examples: tuple[str, ...] = ()
    """A few of them as stored, for `screenpop check` (the company's own data for its IT; never logged)."""
    keys_sorted: bool = True
    keys_repeat: bool = False
    """Some key came from more than one row (a table of one row per number, a join).

    An incremental read then only adds numbers: it returns the changed rows,
    not the key's unchanged ones, and cannot tell a changed row from a new
    one, so replacing a key's numbers would drop those of its rows not
    re-read. A number no row holds any more goes at the next full read. Set
    by the full read, and by an incremental read that returns a key twice.
    """
    keyless: int = 0
    """Rows whose key is NULL, left out: ``IN :keys`` never finds a row by NULL."""

    @property
    def distinct_numbers(self) -> int:
        """How many different numbers the index holds (what the trace and `screenpop check` report)."""
        if not len(self.numbers):
            return 0
        return int(np.count_nonzero(self.numbers[1:] != self.numbers[:-1])) + 1

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (object keys count their pointers only)."""
        return int(self.numbers.nbytes + self.key_ids.nbytes + self.keys.nbytes)

    def keys_for(self, e164: str) -> tuple[Any, ...]:
        number = e164_to_int(e164)
        if number is None:
            return ()
        wanted = np.int64(number)
        start = int(np.searchsorted(self.numbers, wanted, side="left"))
        end = int(np.searchsorted(self.numbers, wanted, side="right"))
        return tuple(plain(self.keys[i]) for i in self.key_ids[start:end])

    def first_key(self) -> Any:
        """One row key as the driver binds it (``check`` tries ``query`` with it)."""
        return plain(self.keys[0])

    def as_dict(self) -> dict[str, tuple[Any, ...]]:
        """The former ``keys_by_number`` mapping (tests and small tables only: one object per entry)."""
        found: dict[str, list[Any]] = {}
        for number, key_id in zip(self.numbers.tolist(), self.key_ids.tolist(), strict=True):
            found.setdefault(f"+{number}", []).append(plain(self.keys[key_id]))
        return {number: tuple(keys) for number, keys in found.items()}

    @property
    def keys_by_number(self) -> dict[str, tuple[Any, ...]]:
        """The former mapping, built on demand (tests, small tables): never on a lookup's path."""
        return self.as_dict()

    def summary(self) -> str:
        """One line for `screenpop check`: the index's size and what it could not read, with examples."""
        text = f"index of {self.distinct_numbers} numbers from {self.rows} rows"
        if self.keyless:
            text += f"; {self.keyless} rows have a NULL key (index_query's first column) and are not indexed"
        if not self.unreadable:
            return f"{text}; every stored number read"
        examples = ", ".join(repr(e) for e in self.unreadable_examples)
        return f"{text}; {self.unreadable} stored numbers could not be read, e.g. {examples}"

    @classmethod
    def build(cls, rows: Iterable[Sequence[Any]], numbers_of: RowNumbers) -> PhoneIndex:
        """Index rows whose key is their first column; ``numbers_of`` reads a row's numbers.

        ``numbers_of`` (a ``RowReader``) knows which columns hold numbers and
        in which country each row's numbers are written; blank or unreadable
        numbers give nothing. (The connector uses ``IndexBuilder`` to do the
        same in chunks on the loop.)
        """
        builder = IndexBuilder(numbers_of)
        builder.add(rows)
        return builder.finish()

    def updated(self, changed: PhoneIndex) -> PhoneIndex:
        """This index with ``changed``'s rows (incremental refresh) merged in; see ``keys_repeat`` for how.

        When every key is one row, a re-read key's old numbers go and its new
        ones come in; a row of ``changed`` without numbers (soft-deleted,
        phones blanked) loses its numbers. When keys repeat, the re-read rows'
        numbers are added and none is dropped. O(n) plus O(m log n) for m
        changed entries in NumPy: ~0.1-0.3 s at 10^6 entries. A read that
        found no row returns this very index: its empty key array is ``int64``
        whatever the table's keys are, which must not send text keys down the
        slow rebuild below.
        """
        if not len(changed.keys):
            return self
        adds = self.keys_repeat or changed.keys_repeat
        if not (self.keys_sorted and changed.keys_sorted) or self.keys.dtype != changed.keys.dtype:
            return self._updated_by_dict(changed, adds)
        old_keys, new_keys = self.keys, changed.keys
        at = np.searchsorted(old_keys, new_keys)
        inside = at < len(old_keys)
        known = np.zeros(len(new_keys), dtype=bool)
        known[inside] = old_keys[at[inside]] == new_keys[inside]
        kept_numbers, kept_ids = self.numbers, self.key_ids
        if not adds:  # one row per key: this read holds every number of a re-read key
            gone = np.zeros(len(old_keys), dtype=bool)
            gone[at[known]] = True
            keep = ~gone[self.key_ids]
            kept_numbers, kept_ids = self.numbers[keep], self.key_ids[keep]
        merged = old_keys
        if not known.all():  # new keys: every key id moves to its place in the merged order
            merged = np.sort(np.concatenate([old_keys, new_keys[~known]]), kind="stable")
            kept_ids = np.searchsorted(merged, old_keys).astype(np.int32)[kept_ids]
        new_numbers = changed.numbers
        new_ids = np.searchsorted(merged, new_keys).astype(np.int32)[changed.key_ids]
        if adds:  # a (number, key) held already is not stored twice
            fresh = not_held(kept_numbers, kept_ids, new_numbers, new_ids)
            new_numbers, new_ids = new_numbers[fresh], new_ids[fresh]
        # both sides are sorted by number and share no (number, key): one O(n) insertion, no re-sort
        where = np.searchsorted(kept_numbers, new_numbers)
        return PhoneIndex(
            np.insert(kept_numbers, where, new_numbers),
            np.insert(kept_ids, where, new_ids),
            merged,
            self.rows + int(np.count_nonzero(~known)),
            self.unreadable + changed.unreadable,
            self.unreadable_examples or changed.unreadable_examples,
            keys_repeat=adds,
            keyless=self.keyless + changed.keyless,
        )

    def _updated_by_dict(self, changed: PhoneIndex, adds: bool) -> PhoneIndex:
        """The same for keys NumPy cannot order (mixed types): rare, so plain Python is fine."""
        table = self.as_dict()
        reread = {plain(k) for k in changed.keys}
        gone = set() if adds else reread
        merged: dict[str, list[Any]] = {n: [k for k in keys if k not in gone] for n, keys in table.items()}
        for number, keys in changed.as_dict().items():
            merged.setdefault(number, []).extend(keys)
        builder = IndexBuilder(_NoReading())
        order: dict[Any, None] = dict.fromkeys(plain(k) for k in self.keys)
        order.update(dict.fromkeys(reread))
        for key in order:
            builder.add_key(key, ())
        for number, holders in merged.items():
            for key in holders:
                builder.add_key(key, (number,))
        fresh = builder.finish()  # a (number, key) held twice is kept once
        return PhoneIndex(
            fresh.numbers,
            fresh.key_ids,
            fresh.keys,
            self.rows + len(order) - len(self.keys),
            self.unreadable + changed.unreadable,
            self.unreadable_examples or changed.unreadable_examples,
            fresh.keys_sorted,
            keys_repeat=adds,
            keyless=self.keyless + changed.keyless,
        )


class _NoReading:
    unreadable = 0
    unreadable_examples: dict[str, None] = {}

    def __call__(self, row: Sequence[Any]) -> Iterable[str]:
        return ()


class IndexBuilder:
    """Collects rows chunk by chunk into flat typed buffers, then sorts once in ``finish``.

    Per stored number it keeps 8 bytes of number and 4 of row position
    (``array.array``), per row its key; nothing else survives a chunk.
    """

    def __init__(self, numbers_of: RowNumbers) -> None:
        self._numbers_of = numbers_of
        self._numbers = array.array("q")
        self._rows = array.array("i")
        self._key_chunks: list[npt.NDArray[Any]] = []
        self._number_chunks: list[Ints] = []
        self._row_chunks: list[npt.NDArray[np.int32]] = []
        self._pending: list[Any] = []
        self._count = 0
        self._more_unreadable = 0
        self._more_examples: dict[str, None] = {}
        self.keyless = 0

    @property
    def rows(self) -> int:
        return self._count

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """One chunk of rows; its keys become one small array at once (no per-row object kept).

        A row whose key is NULL is counted, not indexed: ``IN (NULL)`` finds no
        row, so indexing it would only make its callers "not found".
        """
        for row in rows:
            if row[0] is None:
                self.keyless += 1
                continue
            self.add_key(row[0], self._numbers_of(row))
        self._flush()

    def add_key(self, key: Any, numbers: Iterable[str]) -> None:
        position = self._count
        self._count += 1
        self._pending.append(key)
        for e164 in numbers:
            number = e164_to_int(e164)
            if number is not None:
                self._numbers.append(number)
                self._rows.append(position)

    def add_share(
        self,
        keys: npt.NDArray[Any],
        numbers: Ints,
        positions: npt.NDArray[np.int32],
        unreadable: int,
        examples: Sequence[str],
        keyless: int = 0,
    ) -> None:
        """Rows read elsewhere (``reading.read_share``): keys, and numbers with their row positions."""
        self._flush()
        self.keyless += keyless
        self._number_chunks.append(numbers)
        self._row_chunks.append(positions.astype(np.int32) + np.int32(self._count))
        self._key_chunks.append(keys)
        self._count += len(keys)
        self._more_unreadable += unreadable
        for example in examples:
            if len(self._more_examples) < 3:
                self._more_examples.setdefault(example)

    def _flush(self) -> None:
        """Keys of rows added one by one become an array, and so do their numbers (order kept)."""
        if self._pending:
            self._key_chunks.append(key_column(self._pending))
            self._pending = []
        if self._numbers:
            self._number_chunks.append(np.frombuffer(self._numbers, dtype=np.int64).copy())
            self._row_chunks.append(np.frombuffer(self._rows, dtype=np.int32).copy())
            self._numbers, self._rows = array.array("q"), array.array("i")

    def finish(self) -> PhoneIndex:
        """Distinct keys (sorted when they can be), entries sorted by (number, key), duplicates dropped."""
        self._flush()
        numbers = np.concatenate(self._number_chunks) if self._number_chunks else np.zeros(0, np.int64)
        rows = np.concatenate(self._row_chunks) if self._row_chunks else np.zeros(0, np.int32)
        self._number_chunks, self._row_chunks = [], []
        keys, row_to_key, ordered = distinct_keys(self._key_chunks)
        key_ids = row_to_key[rows].astype(np.int32) if len(rows) else np.zeros(0, np.int32)
        del rows
        numbers, key_ids = sorted_unique(numbers, key_ids)
        reading = self._numbers_of
        return PhoneIndex(
            numbers,
            key_ids,
            keys,
            self._count,
            reading.unreadable + self._more_unreadable,
            tuple({**reading.unreadable_examples, **self._more_examples})[:3],
            ordered,
            keys_repeat=self._count > len(keys),
            keyless=self.keyless,
        )
