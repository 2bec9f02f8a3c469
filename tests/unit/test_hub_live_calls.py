"""What a fresh tab is sent of the replay window: the calls still ringing for or held by its agent."""

from __future__ import annotations

import json

from screenpop.broker import CardViews, Message, View
from screenpop.hub.live_calls import live_calls

AGENT = "agent-1"


class Window:
    """An agent's replay window built in publish order, with rising event ids."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def _id(self) -> str:
        return f"1796400000000-{len(self.messages)}"

    def card(self, call_id: str, version: int) -> Message:
        body = json.dumps({"type": "card", "call_id": call_id, "version": version})
        views = (View(frozenset(), body, ()),)
        message = Message(AGENT, self._id(), card=CardViews(call_id, version, views))
        self.messages.append(message)
        return message

    def call(self, call_id: str, status: str, agent: str | None = None) -> Message:
        body = json.dumps({"type": "call", "call_id": call_id, "status": status, "agent": agent})
        message = Message(AGENT, self._id(), body)
        self.messages.append(message)
        return message


def test_only_the_latest_card_of_a_ringing_call_is_sent() -> None:
    """Three versions of a ringing call: the tab gets the last one, not a pop per version."""
    window = Window()
    window.card("c-1", 1)
    window.card("c-1", 2)
    last = window.card("c-1", 3)
    assert live_calls(AGENT, window.messages) == [last]


def test_a_held_call_keeps_its_answer_and_a_late_section_after_it() -> None:
    """Answered by this agent, then a late version: the answer and the newest card are sent, in id order."""
    window = Window()
    window.card("c-1", 1)
    answered = window.call("c-1", "answered", AGENT)
    late = window.card("c-1", 2)
    assert live_calls(AGENT, window.messages) == [answered, late]


def test_calls_gone_from_the_agent_are_not_sent() -> None:
    """Ended, missed, withdrawn, transferred away or answered by another agent: none of them shows."""
    window = Window()
    for call_id, status, agent in [
        ("ended", "ended", None),
        ("missed", "missed", None),
        ("withdrawn", "withdrawn", AGENT),
        ("moved", "transferred", "agent-3"),
        ("taken", "answered", "agent-2"),
    ]:
        window.card(call_id, 1)
        window.call(call_id, status, agent)
    assert live_calls(AGENT, window.messages) == []


def test_an_answer_naming_nobody_keeps_the_card() -> None:
    """A queue call answered by someone unnamed may be this agent's: its card stays, as on a live socket."""
    window = Window()
    first = window.card("c-1", 1)
    answered = window.call("c-1", "answered")
    assert live_calls(AGENT, window.messages) == [first, answered]


def test_a_call_transferred_back_shows_again_and_a_late_older_version_does_not_win() -> None:
    """A card after the call left brings it back; a lower version arriving after a higher one is ignored."""
    window = Window()
    window.card("c-1", 1)
    window.call("c-1", "transferred", "agent-2")
    back = window.card("c-1", 3)
    window.card("c-1", 2)
    assert live_calls(AGENT, window.messages) == [back]


def test_a_status_whose_card_left_the_window_is_not_sent() -> None:
    """An answer for a call whose card is older than the window: no card to show, so nothing."""
    window = Window()
    window.call("c-old", "answered", AGENT)
    window.messages.append(Message(AGENT, "1796400000000-99", "not json"))
    assert live_calls(AGENT, window.messages) == []


def test_a_late_version_of_a_call_that_ended_does_not_bring_it_back() -> None:
    """The lookup's last sections arrive after the call was missed: the call stays gone."""
    window = Window()
    window.card("c-1", 1)
    window.call("c-1", "missed")
    window.card("c-1", 2)
    window.card("c-1", 3)
    assert live_calls(AGENT, window.messages) == []


def test_a_card_after_a_withdrawal_is_the_agent_rung_again() -> None:
    """A queue rings the agent again after their ring was withdrawn: its fresh version 1 is sent."""
    window = Window()
    window.card("c-1", 1)
    window.call("c-1", "withdrawn", AGENT)
    again = window.card("c-1", 1)
    assert live_calls(AGENT, window.messages) == [again]


def test_a_late_version_after_a_transfer_away_does_not_bring_it_back() -> None:
    """The transfer was delivered as the next version: the one before it, arriving late, is no return."""
    window = Window()
    window.card("c-1", 1)
    window.call("c-1", "transferred", "agent-2")
    window.card("c-1", 2)
    assert live_calls(AGENT, window.messages) == []
