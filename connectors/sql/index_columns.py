"""The NumPy columns a number index is made of: numbers as ``int64``, keys typed, sorted and distinct.

``index.py`` keeps what the index means (a number's row keys, a refresh
merged in); this module keeps how its columns are made and searched, one
array operation per function, so that neither is a Python object per stored
number.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
KeyIds = npt.NDArray[np.int32]


def e164_to_int(e164: str) -> int | None:
    """``+14155550132`` -> 14155550132; anything that is not ``+`` and 1-15 digits is None."""
    digits = e164[1:]
    if not e164.startswith("+") or not digits.isascii() or not digits.isdigit() or not 0 < len(digits) <= 15:
        return None
    return int(digits)


def empty_keys() -> npt.NDArray[Any]:
    return np.zeros(0, dtype=np.int64)


def not_held(numbers: Ints, key_ids: KeyIds, new_numbers: Ints, new_ids: KeyIds) -> npt.NDArray[np.bool_]:
    """Which (number, key id) pairs of the new side the old side (sorted by number) does not hold.

    Each new entry is compared with the old entries of its number only: a few
    each, so O(m log n) for m new entries, never a pass over all n.
    """
    start = np.searchsorted(numbers, new_numbers, side="left")
    count = np.searchsorted(numbers, new_numbers, side="right") - start
    owner = np.repeat(np.arange(len(new_numbers)), count)
    first = np.repeat(start - np.cumsum(count) + count, count)  # old position = pair index + this
    hit = key_ids[np.arange(len(owner)) + first] == new_ids[owner]
    held = np.zeros(len(new_numbers), dtype=bool)
    held[owner[hit]] = True
    return ~held


def key_column(keys: list[Any]) -> npt.NDArray[Any]:
    """Integer keys as ``int64`` (8 bytes each), any other key as an object array."""
    if all(type(k) is int for k in keys):
        with contextlib.suppress(OverflowError):
            return np.array(keys, dtype=np.int64)
    return _objects(keys)


def distinct_keys(chunks: list[npt.NDArray[Any]]) -> tuple[npt.NDArray[Any], npt.NDArray[np.intp], bool]:
    """Sorted distinct keys and, per row, its key's position; first-seen order when keys cannot be sorted."""
    if not chunks:
        return empty_keys(), np.zeros(0, dtype=np.intp), True
    if all(c.dtype == np.int64 for c in chunks):
        column = np.concatenate(chunks)
        found = _distinct_ints(column)
        if found is not None:
            return found[0], found[1], True
    else:
        column = np.concatenate([c.astype(object) for c in chunks])
    try:
        distinct, inverse = np.unique(column, return_inverse=True)
        return distinct, inverse.reshape(-1), True
    except TypeError:  # keys of several types (rare): keep first-seen order
        seen: dict[Any, int] = {}
        keys = column.tolist()
        positions = np.fromiter((seen.setdefault(k, len(seen)) for k in keys), dtype=np.intp, count=len(keys))
        return _objects(list(seen)), positions, False


def _objects(values: list[Any]) -> npt.NDArray[Any]:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _distinct_ints(column: Ints) -> tuple[Ints, npt.NDArray[np.intp]] | None:
    """Keys that are all different (a primary key) sorted in a stable pass: a few sorted runs merge in O(n).

    None when some key repeats (``np.unique`` then does the general case).
    """
    order = np.argsort(column, kind="stable")
    ordered = column[order]
    if len(ordered) > 1 and not bool(np.all(ordered[1:] > ordered[:-1])):
        return None
    inverse = np.empty(len(column), dtype=np.intp)
    inverse[order] = np.arange(len(column), dtype=np.intp)
    return ordered, inverse


def sorted_unique(numbers: Ints, key_ids: KeyIds) -> tuple[Ints, KeyIds]:
    """Entries ordered by number, then key; a number stored twice for one key (phone = mobile) kept once.

    When number and key id fit in 63 bits together (national numbers of up to
    ~11 digits with 10^7 keys), one sort of packed ``int64`` replaces the
    slower ``lexsort`` of two columns.
    """
    if not len(numbers):
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    id_bits = max(1, int(key_ids.max()).bit_length())
    if int(numbers.min()) >= 0 and int(numbers.max()).bit_length() + id_bits <= 63:
        packed = (numbers << np.int64(id_bits)) | key_ids.astype(np.int64)
        packed.sort()
        packed = packed[np.concatenate(([True], packed[1:] != packed[:-1]))]
        mask = np.int64((1 << id_bits) - 1)
        return packed >> np.int64(id_bits), (packed & mask).astype(np.int32)
    order = np.lexsort((key_ids, numbers))
    numbers, key_ids = numbers[order], key_ids[order]
    fresh = np.ones(len(numbers), dtype=bool)
    fresh[1:] = (numbers[1:] != numbers[:-1]) | (key_ids[1:] != key_ids[:-1])
    return np.ascontiguousarray(numbers[fresh]), np.ascontiguousarray(key_ids[fresh].astype(np.int32))


def plain(key: Any) -> Any:
    """NumPy scalars back to the Python value a driver binds (``np.int64(7)`` -> ``7``)."""
    return key.item() if isinstance(key, np.generic) else key
