"""Every webhook's events pass ``admitted`` before the first frame: its quick look must decide as the two
steps it stands for (``as_taken``, then ``check_event``), event for event, refusal for refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from screenpop.errors import BadRequest
from screenpop.model import CallEvent, EventKind
from screenpop.store.rows import admitted, as_taken, check_event
from screenpop.store.schema import MAX_TEXT


def two_steps(event: CallEvent) -> CallEvent:
    taken = as_taken(event)
    check_event(taken)
    return taken


def outcome(step: Any, event: CallEvent) -> tuple[str, object]:
    try:
        return "taken", step(event)
    except BadRequest as exc:
        return "refused", str(exc)


PLAIN = st.text(st.sampled_from(["a", "7", " ", "-", ".", "é"]), min_size=1, max_size=6)
ODD = st.text(st.sampled_from(["a", "7", " ", ".", "\x00", "\ud800", "\u202e", "\x07"]), max_size=6)
TEXT = PLAIN | ODD  # mostly plain: a refusal of one field would hide what the others decide
IDS = PLAIN | ODD | st.sampled_from([".", "..", "", "x" * MAX_TEXT, "x" * (MAX_TEXT + 1)])
NAMES = st.none() | TEXT | st.sampled_from(["4111 1111 1111 1111", "Card 4111111111111111", "Ada Lovelace"])
ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))])
TIMES = st.none() | st.builds(
    lambda when, zone: when.replace(tzinfo=zone),
    st.sampled_from([datetime(1, 1, 1), datetime(2026, 12, 6, 18, 0), datetime(9999, 12, 31, 23, 59)]),
    ZONES,
)


@settings(max_examples=400)
@given(
    call_id=IDS,
    from_raw=TEXT,
    caller_name=NAMES,
    optional=st.lists(st.none() | TEXT, min_size=5, max_size=5),
    at=TIMES,
)
def test_admitted_decides_as_the_two_steps(
    call_id: str, from_raw: str, caller_name: str | None, optional: list[str | None], at: datetime | None
) -> None:
    to, agent, queue, leg, from_agent = optional
    event = CallEvent(
        provider="pbx",
        call_id=call_id,
        event=EventKind.RINGING,
        from_raw=from_raw,
        to=to,
        caller_name=caller_name,
        agent=agent,
        queue=queue,
        leg=leg,
        from_agent=from_agent,
        at=at,
    )
    assert outcome(admitted, event) == outcome(two_steps, event)


def test_the_usual_event_is_taken_as_it_came() -> None:
    event = CallEvent(
        provider="pbx",
        call_id="c-1",
        event=EventKind.RINGING,
        from_raw="+14155550132",
        caller_name="Ada Lovelace",
        at=datetime(2026, 12, 6, 18, 0, tzinfo=UTC),
    )
    assert admitted(event) is event
