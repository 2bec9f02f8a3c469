"""``changed_numbers``: the numbers whose rows differ between the index a refresh replaced and the new one."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from screenpop.connectors.sql.changes import changed_numbers
from screenpop.connectors.sql.index import PhoneIndex
from screenpop.connectors.sql.rows import RowReader
from screenpop.plugins import connector_context


def index(rows: list[tuple[Any, ...]]) -> PhoneIndex:
    return PhoneIndex.build(rows, RowReader(("id", "phone"), None, connector_context("US", Path("."), None)))


def by_sets(before: PhoneIndex, after: PhoneIndex) -> list[str]:
    old, new = before.as_dict(), after.as_dict()
    return sorted(n for n in old.keys() | new.keys() if set(old.get(n, ())) != set(new.get(n, ())))


def test_added_moved_and_removed_numbers_are_changed_and_the_rest_are_not() -> None:
    """A new row's number, a number that moved to another key and a number no row holds are changed."""
    before = index([(1, "415 555 0101"), (2, "415 555 0102"), (3, "415 555 0103"), (4, "415 555 0104")])
    after = index(
        [(1, "415 555 0101"), (2, "415 555 0103"), (4, None), (5, "415 555 0199"), (3, "415 555 0103")]
    )
    assert changed_numbers(before, after) == ["+14155550102", "+14155550103", "+14155550104", "+14155550199"]
    assert changed_numbers(before, before) == []


@pytest.mark.parametrize("keys", ["int", "text", "mixed"])
@pytest.mark.parametrize("seed", range(5))
def test_changed_numbers_equal_the_comparison_of_each_numbers_keys(keys: str, seed: int) -> None:
    """On generated tables, the NumPy comparison gives what comparing each number's set of keys gives."""
    rng = random.Random(seed)

    def key(i: int) -> Any:
        return i if keys == "int" or (keys == "mixed" and i % 2) else f"K{i:04d}"

    def table() -> list[tuple[Any, ...]]:
        return [
            (key(rng.randrange(60)), f"415 555 {rng.randrange(80):04d}") for _ in range(rng.randrange(0, 120))
        ]

    before, after = index(table()), index(table())
    assert sorted(changed_numbers(before, after)) == by_sets(before, after)
    assert sorted(changed_numbers(before, before.updated(after))) == by_sets(before, before.updated(after))


def test_long_numbers_of_many_keys_are_compared_without_packing() -> None:
    """15-digit numbers with 20,000 keys do not pack into an int64; the general way agrees."""
    rng = random.Random(3)
    numbers = [f"+{rng.randrange(10**14, 10**15)}" for _ in range(300)]

    def table() -> list[tuple[Any, ...]]:
        return [(k, rng.choice(numbers)) for k in range(0, 20_000, rng.choice([1, 2]))]

    reader = RowReader(("id", "phone"), None, connector_context("US", Path("."), None))
    before, after = PhoneIndex.build(table(), reader), PhoneIndex.build(table(), reader)
    assert int(before.numbers.max()).bit_length() + (20_000).bit_length() > 63
    assert sorted(changed_numbers(before, after)) == by_sets(before, after)
