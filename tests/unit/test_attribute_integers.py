"""Integers a browser cannot hold exactly (beyond JavaScript's safe range) in call attributes."""

from __future__ import annotations

import json

import pytest

from screenpop.call_context import MAX_SAFE_INTEGER, normalise_provider_attributes, parse_attributes
from screenpop.errors import BadRequest


def test_the_safe_range_is_javascripts() -> None:
    """The bound is Number.MAX_SAFE_INTEGER: the next integer up already collides in a double."""
    assert MAX_SAFE_INTEGER == 9007199254740991
    assert float(MAX_SAFE_INTEGER + 1) == float(MAX_SAFE_INTEGER + 2)


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**400])
def test_a_sender_is_told_to_send_a_big_integer_as_text(value: int) -> None:
    """The generic webhook and the attributes API refuse it with a 400 naming the key, not the value."""
    with pytest.raises(BadRequest) as refused:
        parse_attributes(json.loads(json.dumps({"record_id": value})))
    assert "'record_id'" in str(refused.value)
    assert str(value)[-8:] not in str(refused.value)


def test_a_phone_systems_big_integer_is_kept_as_its_digits() -> None:
    """A provider's call is never refused for an attribute: its big integer becomes exact text."""
    kept = normalise_provider_attributes({"RecordId": 12345678901234567890, "tries": 2, "ok": True})
    assert dict(kept) == {"recordid": "12345678901234567890", "tries": 2, "ok": True}
    assert kept.dropped == ()
