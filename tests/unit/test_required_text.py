"""A required id or name (or a row of optional texts) is taken at once when it is plain text; the outcome
must be the full check's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screenpop.errors import BadRequest
from screenpop.providers.signing import required_text, text_field, text_fields
from screenpop.untrusted import clean_line


def fully_checked(data: dict[str, Any], key: str) -> str:
    value = text_field(data, key)
    if value is None or not value.strip():
        raise BadRequest(f"`{key}` is required")
    if clean_line(value) != value:
        raise BadRequest(f"`{key}` must not contain control characters")
    return value


def outcome(check: Any, data: dict[str, Any]) -> tuple[str, str]:
    try:
        return "taken", check(data, "call_id")
    except BadRequest as exc:
        return "refused", str(exc)


VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.sampled_from(["a", " ", "\u3000", "\x07", "\n", "\u202e", "\ud800", "7"]), max_size=4)
    | st.lists(st.integers(), max_size=1)
)


@given(VALUES)
def test_the_quick_path_agrees_with_the_full_check(value: Any) -> None:
    assert outcome(required_text, {"call_id": value}) == outcome(fully_checked, {"call_id": value})


@pytest.mark.parametrize("value", ["", " ", "\u3000", "\t"])
def test_empty_or_blank_is_refused(value: str) -> None:
    with pytest.raises(BadRequest, match="is required"):
        required_text({"call_id": value}, "call_id")


def field_by_field(data: dict[str, Any], keys: list[str]) -> tuple[str, Any]:
    try:
        return "taken", [text_field(data, key) for key in keys]
    except BadRequest as exc:
        return "refused", str(exc)


def all_at_once(data: dict[str, Any], keys: list[str]) -> tuple[str, Any]:
    try:
        return "taken", text_fields(data, keys)
    except BadRequest as exc:
        return "refused", str(exc)


@given(st.dictionaries(st.sampled_from(["from", "to", "agent", "queue", "at"]), VALUES, max_size=5))
def test_optional_texts_read_at_once_agree_with_each_field_read_alone(data: dict[str, Any]) -> None:
    """Numbers become their text, anything else not text is refused naming the first such field."""
    keys = ["from", "to", "agent", "queue", "at"]
    assert all_at_once(data, keys) == field_by_field(data, keys)
