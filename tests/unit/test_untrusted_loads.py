"""A body that starts like a JSON object is decoded without json.loads's encoding sniffer: same outcome.

The outcome is the parsed value, or a 400 where json.loads would have raised,
for any bytes at all (broken UTF-8, lone surrogates as escapes or as bytes,
UTF-16 with and without a byte order mark).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screenpop.errors import BadRequest
from screenpop.untrusted import loads

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


def outcome(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", json.loads(raw)
    except (RecursionError, ValueError):
        return "refused", None


def ours(raw: bytes) -> tuple[str, Any]:
    try:
        return "value", loads(raw)
    except BadRequest:
        return "refused", None


@given(
    st.dictionaries(st.text(), VALUES, max_size=4),
    st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32"]),
)
def test_an_encoded_object_reads_as_json_loads_reads_it(value: dict[str, Any], encoding: str) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass")
    assert ours(raw) == outcome(raw)


@given(st.binary(max_size=40).map(lambda tail: b"{" + tail))
def test_any_bytes_after_a_brace_read_as_json_loads_reads_them(raw: bytes) -> None:
    assert ours(raw) == outcome(raw)


@pytest.mark.parametrize("raw", [b'{"a": "\\ud800"}', b'{"a": "\xed\xa0\x80"}', b"{\x00\x00\x00", b"{\x00"])
def test_surrogates_and_nul_bytes(raw: bytes) -> None:
    assert ours(raw) == outcome(raw)


def message(raw: bytes) -> str:
    """The 400's message as json.loads's error would make it."""
    try:
        json.loads(raw)
    except ValueError as exc:
        return f"the body is not valid JSON: {exc}"
    return ""


@given(
    st.dictionaries(st.text(max_size=5), VALUES, max_size=3),
    st.text(alphabet=" \t\n\r\u00a0\u2028x{}[]0,", max_size=6),
)
def test_what_follows_the_object_is_judged_and_named_as_json_loads_does(
    value: dict[str, Any], tail: str
) -> None:
    """Whitespace after the object is allowed; anything else is refused at the place json.loads names."""
    raw = (json.dumps(value) + tail).encode()
    assert ours(raw) == outcome(raw)
    if ours(raw)[0] == "refused":
        with pytest.raises(BadRequest) as refused:
            loads(raw)
        assert str(refused.value) == message(raw)


@pytest.mark.parametrize("raw", [b'{"a":', b"{", b'{"a": 1,', b'{"a": 1} x', b'{"a": 1}\n\n{"b": 2}'])
def test_a_broken_object_is_named_as_json_loads_names_it(raw: bytes) -> None:
    with pytest.raises(BadRequest) as refused:
        loads(raw)
    assert str(refused.value) == message(raw)
