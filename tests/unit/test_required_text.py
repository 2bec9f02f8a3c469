"""A required id or name is taken at once when it is plain text; the outcome must be the full check's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screenpop.errors import BadRequest
from screenpop.providers.signing import required_text, text_field
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
