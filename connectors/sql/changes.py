"""Which numbers an index refresh changed, so that the answers cached for them can go.

A cached ``not_found`` for a caller whose customer was just added to the
legacy table would otherwise hide that customer until the entry expires
(``cache_ttl_s``), and a cached card would keep naming a customer who no
longer holds the number. The keeper compares the index it replaces with the
new one and hands the changed numbers to screenpop
(``ConnectorContext.forget_numbers``), which drops their cached answers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .index import PhoneIndex
from .index_columns import Ints

Ids = npt.NDArray[np.intp]


def changed_numbers(before: PhoneIndex, after: PhoneIndex) -> list[str]:
    """E.164 numbers whose rows differ between two indexes: added, gone, or now held by other keys.

    Both sides' keys are put in one sorted key space; a (number, key) pair
    that only one side holds names a changed number. NumPy throughout (the
    keeper runs it in a thread); keys that cannot be ordered together (mixed
    types) are compared the plain Python way.
    """
    if before is after:
        return []
    try:
        keys = _shared_keys(before.keys, after.keys)
        ids = (_ids(keys, before), _ids(keys, after))
    except TypeError:
        return _by_dict(before, after)
    packed = _packed(before.numbers, ids[0], after.numbers, ids[1])
    if packed is not None:
        return [f"+{n}" for n in packed.tolist()]
    numbers = np.concatenate([before.numbers, after.numbers])
    key_ids = np.concatenate(ids)
    order = np.lexsort((key_ids, numbers))
    numbers, key_ids = numbers[order], key_ids[order]
    twin = (numbers[1:] == numbers[:-1]) & (key_ids[1:] == key_ids[:-1])
    paired = np.zeros(len(numbers), dtype=bool)
    paired[1:] |= twin
    paired[:-1] |= twin
    return [f"+{n}" for n in np.unique(numbers[~paired]).tolist()]


def _packed(numbers: Ints, key_ids: Ids, other_numbers: Ints, other_ids: Ids) -> Ints | None:
    """The changed numbers when (number, key id) packs into one ``int64`` (nearly always); else None.

    Each side's packed pairs are sorted already (an index is ordered by
    number, then key, and key ids keep their order in the shared key space),
    so membership is one ``searchsorted`` each way: ~0.1 s per 10^6 entries.
    """
    if not len(numbers) or not len(other_numbers):
        return np.unique(numbers if len(numbers) else other_numbers)
    bits = max(1, int(max(key_ids.max(), other_ids.max())).bit_length())
    top = max(int(numbers.max()), int(other_numbers.max())).bit_length()
    if min(int(numbers.min()), int(other_numbers.min())) < 0 or top + bits > 63:
        return None
    one, two = _pairs(numbers, key_ids, bits), _pairs(other_numbers, other_ids, bits)
    alone = np.concatenate([one[~_within(one, two)], two[~_within(two, one)]])
    return np.unique(alone >> np.int64(bits))


def _pairs(numbers: Ints, key_ids: Ids, bits: int) -> Ints:
    packed = (numbers << np.int64(bits)) | key_ids.astype(np.int64)
    if len(packed) > 1 and not bool(np.all(packed[1:] >= packed[:-1])):
        packed = np.sort(packed)
    return packed


def _within(wanted: Ints, sorted_pool: Ints) -> npt.NDArray[np.bool_]:
    at = np.minimum(np.searchsorted(sorted_pool, wanted), len(sorted_pool) - 1)
    return np.asarray(sorted_pool[at] == wanted)


def _shared_keys(one: npt.NDArray[Any], two: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Both sides' keys, sorted and distinct: most often the very same keys (a stable table read again)."""
    same = one.dtype == two.dtype and one.shape == two.shape and bool(np.array_equal(one, two))
    if same and (len(one) < 2 or bool(np.all(one[1:] > one[:-1]))):
        return one
    if one.dtype == np.int64 and two.dtype == np.int64:  # a stable sort of ints is a radix sort: fast
        merged = np.sort(np.concatenate([one, two]), kind="stable")
        return merged[np.concatenate(([True], merged[1:] != merged[:-1]))] if len(merged) else merged
    return np.union1d(one, two)


def _ids(keys: npt.NDArray[Any], index: PhoneIndex) -> Ids:
    """Each entry's key as its position in the shared sorted ``keys``."""
    return np.searchsorted(keys, index.keys)[index.key_ids] if len(index.key_ids) else np.zeros(0, np.intp)


def _by_dict(before: PhoneIndex, after: PhoneIndex) -> list[str]:
    old, new = before.as_dict(), after.as_dict()
    return sorted(n for n in old.keys() | new.keys() if set(old.get(n, ())) != set(new.get(n, ())))
