"""An event's text is checked in one pass when it is clean: the outcome must be the field-by-field one's.

Any webhook field may hold a NUL (dropped before the card pops) or a lone
surrogate (refused, naming the field), in any field or several at once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from screenpop.errors import BadRequest
from screenpop.model import CallEvent, EventKind
from screenpop.store.rows import _EVENT_TEXT, check_event, without_nul
from screenpop.untrusted import is_unicode_text

# text with NULs and lone surrogates among ordinary characters
TEXT = st.text(st.sampled_from(["a", "7", " ", "\x00", "\ud800", "\udfff", "é", "\U0001f600"]), max_size=6)
OPTIONAL = st.none() | TEXT


def field_by_field_without_nul(event: CallEvent) -> CallEvent:
    changes: dict[str, Any] = {
        attribute: value.replace("\x00", "")
        for attribute in _EVENT_TEXT
        if isinstance(value := getattr(event, attribute), str) and "\x00" in value
    }
    return replace(event, **changes) if changes else event


def field_by_field_refusal(event: CallEvent) -> str | None:
    for attribute, name in (("call_id", "call_id"), *_EVENT_TEXT.items()):
        value = getattr(event, attribute)
        if value and not is_unicode_text(value):
            return name
    return None


@given(
    st.text(st.sampled_from(["c", "1", "\ud800"]), min_size=1, max_size=4),
    st.fixed_dictionaries(
        {attribute: TEXT if attribute == "from_raw" else OPTIONAL for attribute in _EVENT_TEXT}
    ),
)
def test_one_pass_agrees_with_checking_each_field(call_id: str, texts: dict[str, Any]) -> None:
    event = replace(CallEvent(provider="pbx", call_id=call_id, event=EventKind.RINGING), **texts)
    assert without_nul(event) == field_by_field_without_nul(event)
    refused = field_by_field_refusal(event)
    if refused is None:
        check_event(event)
    else:
        with pytest.raises(BadRequest, match=f"`{refused}` is not valid Unicode text"):
            check_event(event)


def test_a_clean_event_is_handed_back_as_it_is() -> None:
    event = CallEvent(provider="pbx", call_id="c-1", event=EventKind.RINGING, from_raw="+14155550132")
    assert without_nul(event) is event
