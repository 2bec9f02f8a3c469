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
        keys = np.union1d(before.keys, after.keys)
        ids = (_ids(keys, before), _ids(keys, after))
    except TypeError:
        return _by_dict(before, after)
    numbers = np.concatenate([before.numbers, after.numbers])
    key_ids = np.concatenate(ids)
    order = np.lexsort((key_ids, numbers))
    numbers, key_ids = numbers[order], key_ids[order]
    twin = (numbers[1:] == numbers[:-1]) & (key_ids[1:] == key_ids[:-1])
    paired = np.zeros(len(numbers), dtype=bool)
    paired[1:] |= twin
    paired[:-1] |= twin
    return [f"+{n}" for n in np.unique(numbers[~paired]).tolist()]


def _ids(keys: npt.NDArray[Any], index: PhoneIndex) -> npt.NDArray[np.intp]:
    """Each entry's key as its position in the shared sorted ``keys``."""
    return np.searchsorted(keys, index.keys)[index.key_ids] if len(index.key_ids) else np.zeros(0, np.intp)


def _by_dict(before: PhoneIndex, after: PhoneIndex) -> list[str]:
    old, new = before.as_dict(), after.as_dict()
    return sorted(n for n in old.keys() | new.keys() if set(old.get(n, ())) != set(new.get(n, ())))
