"""The hub's one timer for every socket's token ``exp``: who is due when, and what a closed socket leaves."""

from __future__ import annotations

from typing import Any

from screenpop.hub import Expiries
from screenpop.testing import ManualClock


def make(clock: ManualClock) -> tuple[Expiries, list[Any]]:
    due: list[Any] = []
    return Expiries(clock, due.append), due


def test_sockets_come_due_in_exp_order_each_at_its_own_time() -> None:
    """Entries watched in any order are handed out once their exp has come, soonest first, never early."""
    clock = ManualClock(start=1000.0)
    expiries, due = make(clock)
    for exp, name in ((1030, "c"), (1010, "a"), (1020, "b")):
        expiries.watch(exp, name)
    clock.advance(9)
    assert due == []
    clock.advance(1)
    assert due == ["a"]
    clock.advance(20)
    assert due == ["a", "b", "c"]


def test_a_sooner_exp_watched_later_rearms_the_timer() -> None:
    """A socket whose token ends before every other one's is still closed on time."""
    clock = ManualClock(start=1000.0)
    expiries, due = make(clock)
    expiries.watch(1100, "late")
    expiries.watch(1005, "soon")
    clock.advance(5)
    assert due == ["soon"]


def test_a_forgotten_socket_is_never_due_and_is_not_held() -> None:
    """A closed socket's entry is emptied at once, so the heap holds no socket after close."""
    clock = ManualClock(start=1000.0)
    expiries, due = make(clock)
    entry = expiries.watch(1010, "closed")
    expiries.watch(1020, "open")
    expiries.forget(entry)
    assert "closed" not in entry
    clock.advance(30)
    assert due == ["open"]


def test_forgotten_entries_are_dropped_once_they_are_half_the_heap() -> None:
    """Sockets that reconnect all day do not grow the heap with entries of closed sockets."""
    clock = ManualClock(start=1000.0)
    expiries, _ = make(clock)
    for n in range(1000):
        expiries.forget(expiries.watch(5000 + n, f"s{n}"))
    assert len(expiries._heap) <= 65
