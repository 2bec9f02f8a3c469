"""The http connector's field selection: the fast reading of plain paths never disagrees with jsonpath-ng."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonpath_ng.ext.parser import parse

from screenpop.connectors.http.select import Path, Selector, plain_keys

PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = st.sampled_from(["name", "id", "a", "b", "tier", "_id", "items"])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@functools.cache
def compiled(path: str) -> Any:
    """jsonpath-ng's own parse (slow: done once per path text)."""
    return parse(path)


@functools.cache
def fast(path: str) -> Path:
    return Path(path, "select.x")


def jsonpath_ng_values(path: str, document: Any) -> list[Any]:
    return [match.value for match in compiled(path).find(document)]


@PROPERTY
@given(keys=st.lists(KEYS, min_size=1, max_size=3), document=DOCUMENTS, bare=st.booleans())
def test_plain_path_reads_what_jsonpath_ng_finds(keys: list[str], document: Any, bare: bool) -> None:
    """A plain key chain, with or without the leading ``$.``, matches exactly what jsonpath-ng matches."""
    text = ".".join(keys) if bare else "$." + ".".join(keys)
    assert plain_keys(compiled(text)) == tuple(keys)  # the fast reading is the one under test
    assert fast(text).values(document) == jsonpath_ng_values(text, document)


@PROPERTY
@given(document=DOCUMENTS)
def test_other_paths_still_go_through_jsonpath_ng(document: Any) -> None:
    """Indexes, wildcards, filters and ``..`` are not plain, and answer as jsonpath-ng does."""
    for text in ("$.items[0].name", "$.*", "$..id", "$.items[?(@.id > 1)].name", "$['a','b']", "$.a[*]"):
        assert plain_keys(compiled(text)) is None
        assert fast(text).values(document) == jsonpath_ng_values(text, document)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"name": None, "tier": "gold"}, {"name": None, "tier": "gold"}),  # a null is selected, as before
        ({"name": None}, None),  # only nulls: not found
        ({"name": {"first": "Ada"}}, {"name": {"first": "Ada"}}),
        ([{"name": "Ada"}], None),  # a list has no keys
        ("Ada", None),
    ],
)
def test_selector_keeps_its_rules_on_the_fast_path(document: Any, expected: Any) -> None:
    """A selected null is kept, a document with only nulls (or not an object) is not found."""
    result = Selector({"name": "$.name", "tier": "tier"}, None, 20).result(document)
    assert result.data == expected
    assert result.rows == (0 if expected is None else 1)


def test_items_on_the_fast_path_apply_select_to_each_item() -> None:
    """``items: $.results`` (plain) lists each result's selected fields, up to ``limit``."""
    document = {"results": [{"id": 1, "x": 0}, {"x": 2}, {"id": 3}, {"id": 4}]}
    result = Selector({"id": "$.id"}, "$.results", 2).result(document)
    assert result.data == {"items": [{"id": 1}, {"id": 3}]}
    assert result.rows == 2
