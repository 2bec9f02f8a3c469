"""Order lines as columns: integer codes for customers and products, microseconds for times.

A history of 10^6 order lines must not cost 10^6 Python objects, nor a
Python loop per line on the event loop: the connector reads the history in
chunks and turns each chunk into arrays here (C-level maps over the chunk's
column lists), so what is kept between refreshes is a few flat arrays and one
vocabulary entry per distinct customer and product.

Keys are matched as text (``str``), so a customer id that one database returns
as an integer is found when the call binds it as text, and the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

MICROS = timedelta(microseconds=1)
DAY_US = 86_400 * 1_000_000
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)


def as_utc(value: Any) -> datetime:
    """A database's date, datetime or ISO text as an aware UTC datetime (naive means UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        raise TypeError(f"not a date or time: {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_micros(value: Any) -> int:
    """One date, datetime or ISO text as UTC microseconds since 1970."""
    return (as_utc(value) - _EPOCH_UTC) // MICROS


def from_micros(value: int) -> datetime:
    """UTC microseconds since 1970 as an aware datetime."""
    return _EPOCH_UTC + timedelta(microseconds=int(value))


def micros_column(values: Sequence[Any]) -> I64:
    """A column of times as UTC microseconds, without a Python call per value where avoidable.

    Drivers return one type per column: naive or aware datetimes (PostgreSQL),
    ISO text (SQLite) or dates; the first value picks the fast path and any
    surprise falls back to converting value by value.
    """
    count = len(values)
    if count == 0:
        return np.empty(0, np.int64)
    first = values[0]
    try:
        if isinstance(first, datetime):
            epoch = _EPOCH if first.tzinfo is None else _EPOCH_UTC
            return np.fromiter(((v - epoch) // MICROS for v in values), np.int64, count)
        if isinstance(first, date):
            return np.fromiter(((v - _EPOCH_DAY).days * DAY_US for v in values), np.int64, count)
        if isinstance(first, str) and not any(_has_offset(v) for v in values):
            return np.array(values, dtype="datetime64[us]").astype(np.int64)
    except (TypeError, ValueError, AttributeError):
        pass
    return np.fromiter(map(to_micros, values), np.int64, count)


def _has_offset(text: Any) -> bool:
    """Whether ISO text carries a zone (numpy would warn and misread it), or is not text at all."""
    return not isinstance(text, str) or text.endswith("Z") or "+" in text[10:] or "-" in text[10:]


def quantity_column(values: Sequence[Any] | None, count: int) -> F32:
    """Quantities as floats; a missing column, NULL or non-positive quantity counts as 1."""
    if values is None:
        return np.ones(count, np.float32)
    column = np.array([1.0 if v is None else v for v in values], dtype=np.float32)
    column[~(column > 0)] = 1.0
    return column


class Vocabulary:
    """Distinct keys (as text) and their integer codes, in the order first seen.

    It pickles as two numpy arrays (the keys, and their sorted order), not as
    a dict of one entry per key: a model built in a worker process is unpickled
    with a couple of memory copies, so the event loop does not stall on it.
    Where it was unpickled it finds a key by binary search; the dict used to
    add keys is rebuilt only when keys are added again.
    """

    __slots__ = ("_array", "_index", "_keys", "_order")

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._index: dict[str, int] | None = {}
        self._array: npt.NDArray[np.str_] | None = None
        self._order: npt.NDArray[np.intp] | None = None

    def __len__(self) -> int:
        return len(self._keys) if self._array is None else len(self._array)

    def keys(self) -> list[str]:
        """Every key, by code."""
        return self._keys if self._array is None else self._array.tolist()

    def code(self, key: Any) -> int | None:
        """The code of one key as a call binds it (any type), or None if never seen."""
        text = key if isinstance(key, str) else str(key)
        if self._index is not None or self._array is None or self._order is None:
            return (self._index or {}).get(text)
        at = int(np.searchsorted(self._array, text, sorter=self._order))
        if at < len(self._order) and self._array[self._order[at]] == text:
            return int(self._order[at])
        return None

    def encode(self, values: Sequence[Any]) -> I32:
        """Codes for a column, adding keys never seen; one Python step per distinct key."""
        index = self._writable()
        raw_codes: dict[Any, int] = dict.fromkeys(values, 0)
        for raw in raw_codes:
            key = raw if isinstance(raw, str) else str(raw)
            code = index.get(key)
            if code is None:
                code = index[key] = len(self._keys)
                self._keys.append(key)
            raw_codes[raw] = code
        return np.fromiter(map(raw_codes.__getitem__, values), np.int32, len(values))

    def _writable(self) -> dict[str, int]:
        if self._index is None:
            self._keys = self.keys()
            self._index = {key: code for code, key in enumerate(self._keys)}
            self._array = self._order = None
        return self._index

    def copy(self) -> Vocabulary:
        copied = Vocabulary()
        copied._keys, copied._array, copied._order = list(self._keys), self._array, self._order
        copied._index = None if self._index is None else dict(self._index)
        return copied

    def __getstate__(self) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.intp]]:
        if self._array is not None and self._order is not None:
            return self._array, self._order
        array = np.array(self._keys, dtype=np.str_)
        return array, np.argsort(array, kind="stable")

    def __setstate__(self, state: tuple[npt.NDArray[np.str_], npt.NDArray[np.intp]]) -> None:
        self._array, self._order = state
        self._keys, self._index = [], None


@dataclass
class History:
    """Order lines kept as arrays: the input of a model build, extended chunk by chunk.

    ``copy`` is cheap (arrays are never written after they are added), so a
    refresh extends a copy and the previous history survives a failure.
    """

    customers: Vocabulary = field(default_factory=Vocabulary)
    products: Vocabulary = field(default_factory=Vocabulary)
    names: dict[int, str] = field(default_factory=dict)
    _chunks: list[tuple[I32, I32, I64, F32]] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(chunk[0]) for chunk in self._chunks)

    def add(
        self,
        customer: Sequence[Any],
        product: Sequence[Any],
        at: Sequence[Any] | I64,
        *,
        quantity: Sequence[Any] | None = None,
        product_name: Sequence[Any] | None = None,
    ) -> None:
        """Append one chunk of columns (``at`` as datetimes, dates, ISO text or int64 microseconds)."""
        count = len(customer)
        if not (len(product) == len(at) == count):
            raise ValueError("columns of one chunk must have the same length")
        if count == 0:
            return
        customers = self.customers.encode(customer)
        products = self.products.encode(product)
        times = (
            at.astype(np.int64)
            if isinstance(at, np.ndarray) and at.dtype.kind in "iu"
            else micros_column(list(at))
        )
        if product_name is not None:
            named = dict(zip(products.tolist(), product_name, strict=True))
            self.names.update({code: str(name) for code, name in named.items() if name})
        self._chunks.append((customers, products, times, quantity_column(quantity, count)))

    def arrays(self) -> tuple[I32, I32, I64, F32]:
        """All lines as four flat arrays; the chunks are merged into one so later calls are free."""
        if not self._chunks:
            codes = np.empty(0, np.int32)
            return codes, codes, np.empty(0, np.int64), np.empty(0, np.float32)
        if len(self._chunks) > 1:
            merged = tuple(np.concatenate(parts) for parts in zip(*self._chunks, strict=True))
            self._chunks = [merged]  # type: ignore[list-item]
        return self._chunks[0]

    def copy(self) -> History:
        return History(self.customers.copy(), self.products.copy(), dict(self.names), list(self._chunks))

    def newest(self) -> int | None:
        """The largest ``at`` in microseconds, or None for an empty history."""
        times = [chunk[2] for chunk in self._chunks if len(chunk[2])]
        return max(int(t.max()) for t in times) if times else None
