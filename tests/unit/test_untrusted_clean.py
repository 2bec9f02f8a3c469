"""``clean_json``'s fast type checks clean exactly what the plain recursive definition cleans.

The definition includes numbers: NaN and the infinities (``NaN`` from a
Python-made answer, ``1e999`` from any) become ``None``, since ``JSON.parse``
refuses the ``NaN`` and ``Infinity`` that encoding them would write.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from screenpop.untrusted import clean_json, clean_text, standard_json


class Level(StrEnum):
    WARN = "warn\u202e"


def reference(value: Any) -> Any:
    """The definition: every string cleaned, keys included, any mapping or sequence walked.

    Numbers a browser cannot read back: NaN and infinities are None, an
    integer beyond JavaScript's safe range is its digits.
    """
    if type(value) is int and abs(value) > 2**53 - 1:
        return str(value)
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {(clean_text(k) if isinstance(k, str) else k): reference(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reference(v) for v in value]
    return value


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.floats().map(np.float64)
    | TEXT
    | st.just(Level.WARN)
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(TEXT | st.integers(), inner, max_size=3)
        | st.dictionaries(TEXT, inner, max_size=2).map(MappingProxyType)
    ),
    max_leaves=10,
)


@given(VALUES)
def test_clean_json_is_the_recursive_definition(value: Any) -> None:
    """Plain dicts, lists, tuples, read-only mappings, str subclasses, hostile text: the same result."""
    assert clean_json(value) == reference(value)


def test_controls_and_bidi_overrides_go_everywhere() -> None:
    """A right-to-left override in a key, a value and a nested list is removed, newlines kept."""
    dirty = {"na\u202eme": ["a\x1bb", {"x": "line\nnext\u2066"}], "ok": 1}
    assert clean_json(dirty) == {"name": ["ab", {"x": "line\nnext"}], "ok": 1}


def test_numbers_json_parse_refuses_become_null() -> None:
    """What ``json.loads`` makes of a CRM's ``NaN`` and ``1e999`` leaves as ``null``; finite numbers stay."""
    read = json.loads('{"a": NaN, "b": 1e999, "c": [-Infinity, 2.5], "d": 7}')
    assert clean_json(read) == {"a": None, "b": None, "c": [None, 2.5], "d": 7}
    assert standard_json(read) == '{"a": null, "b": null, "c": [null, 2.5], "d": 7}'
    assert standard_json({"x": 1.5}) == '{"x": 1.5}'
