"""What the store would refuse behind the 202 is refused at the webhook, and a refusal's log stays short."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from screenpop.errors import BadRequest
from screenpop.model import CallEvent, EventKind
from screenpop.store.call_records import CallRecorder
from screenpop.store.rows import check_event, without_nul


def ringing(**fields: Any) -> CallEvent:
    return CallEvent(**{"provider": "pbx", "call_id": "c-1", "event": EventKind.RINGING, **fields})


TEXT = ["call_id", "from_raw", "to", "caller_name", "agent", "queue", "leg", "from_agent"]


@pytest.mark.parametrize("field", TEXT)
def test_a_lone_surrogate_from_any_provider_is_refused_naming_the_field(field: str) -> None:
    """Every provider's events pass ``check_event``: a parser that let ``\\ud800`` through is caught there."""
    with pytest.raises(BadRequest) as refused:
        check_event(ringing(**{field: "x\ud800y"}))
    assert {"from_raw": "from"}.get(field, field) in str(refused.value)
    assert "\ud800" not in str(refused.value)


def test_a_call_id_with_a_nul_from_any_provider_is_refused() -> None:
    """PostgreSQL refuses NUL in text, and an id cannot drop a character: refused before it pops."""
    with pytest.raises(BadRequest, match="`call_id` must not contain a NUL"):
        check_event(ringing(call_id="c-\x00-1"))


def test_a_nul_in_other_text_is_dropped_before_the_event_is_taken() -> None:
    """A caller name or number with a NUL is taken (the card pops) without it, and then passes the check."""
    taken = without_nul(ringing(caller_name="AD\x00A", from_raw="+1415555\x000132", queue="q"))
    assert (taken.caller_name, taken.from_raw, taken.queue) == ("ADA", "+14155550132", "q")
    check_event(taken)
    plain = ringing(caller_name="Ada")
    assert without_nul(plain) is plain


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
    ],
)
def test_a_time_with_no_utc_equivalent_is_refused(at: datetime) -> None:
    with pytest.raises(BadRequest, match="`at` is out of range"):
        check_event(ringing(at=at))


def test_an_id_over_the_store_limit_is_refused_and_one_at_it_is_not() -> None:
    with pytest.raises(BadRequest, match="call_id"):
        check_event(ringing(call_id="c" * 256))
    check_event(ringing(call_id="c" * 255, caller_name="Ada Lovelace", at=datetime(2026, 1, 1, tzinfo=UTC)))


class Refusing:
    """A store that refuses every batch (not a transient failure: given up at once)."""

    async def record_batch(self, batch: object) -> None:
        raise ValueError("refused")


async def test_the_give_up_line_clips_a_long_call_id(caplog: pytest.LogCaptureFixture) -> None:
    """A refused record is logged by its call id, clipped: not 5,000 characters of whatever was sent."""
    recorder = CallRecorder(Refusing())  # type: ignore[arg-type]
    recorder.start()
    recorder.record(ringing(call_id="c" * 5000), None)
    with caplog.at_level(logging.ERROR, logger="screenpop.store.call_records"):
        await recorder.close()
    [line] = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert "c" * 80 in line and "c" * 81 not in line and len(line) < 250
