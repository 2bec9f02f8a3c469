"""A card's ``received_at`` is formatted from a per-second cache; it must read as ``datetime`` writes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import screenpop.clock as clock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_9999_END_NS = 253_402_300_799_999_999_999


def as_datetime_writes(ns: int) -> str:
    moment = EPOCH + timedelta(microseconds=ns // 1000)  # exact (no float)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.integers(min_value=0, max_value=YEAR_9999_END_NS))
def test_any_moment_reads_as_datetime_writes_it(ns: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock.time, "time_ns", lambda: ns)
        assert clock.utc_now_text() == as_datetime_writes(ns)


def test_the_kept_second_is_not_reused_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    moments = iter([1_765_015_199_999_000_000, 1_765_015_200_000_000_000, 1_765_015_200_001_000_000])
    monkeypatch.setattr(clock.time, "time_ns", lambda: next(moments))
    assert clock.utc_now_text() == "2025-12-06T09:59:59.999Z"
    assert clock.utc_now_text() == "2025-12-06T10:00:00.000Z"
    assert clock.utc_now_text() == "2025-12-06T10:00:00.001Z"
