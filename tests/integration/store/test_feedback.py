"""Suggestion feedback in the store against real SQLite and real PostgreSQL: kept, replaced, counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from screenpop.errors import BadRequest, Forbidden, NotFound
from screenpop.model import CallEvent, EventKind
from screenpop.store import FeedbackWrite, Store

ADA = "+14155550132"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    """An open store on a fresh database with call c-1 delivered to agent-1, closed after the test."""
    opened = await Store.open(store_url)
    try:
        await opened.record_event(CallEvent(provider="pbx", call_id="c-1", event=EventKind.RINGING), ADA)
        await opened.add_recipients("pbx", "c-1", ["agent-1"])
        yield opened
    finally:
        await opened.close()


async def test_answer_is_kept_and_returned(store: Store) -> None:
    """A saved answer comes back with the call, its provider, the answer and an ISO time."""
    saved = await store.save_feedback("c-1", "agent-1", FeedbackWrite("insight", "SKU-240", "accepted"))
    assert {k: v for k, v in saved.items() if k != "answered_at"} == {
        "call_id": "c-1",
        "provider": "pbx",
        "section": "insight",
        "product": "SKU-240",
        "outcome": "accepted",
    }
    assert str(saved["answered_at"]).endswith("Z")
    assert await store.feedback_counts() == {"insight": {"accepted": 1, "declined": 0}}


async def test_later_answer_replaces_the_earlier_one(store: Store) -> None:
    """A second answer for the same call, agent, section and product replaces the first in the counts."""
    await store.save_feedback("c-1", "agent-1", FeedbackWrite("insight", "SKU-240", "accepted"))
    await store.save_feedback("c-1", "agent-1", FeedbackWrite("insight", "SKU-240", "declined"))
    assert await store.feedback_counts() == {"insight": {"accepted": 0, "declined": 1}}


async def test_counts_are_per_section_and_product(store: Store) -> None:
    """Answers to different products and sections are each counted under their own section."""
    await store.add_recipients("pbx", "c-1", ["agent-2"])
    answers = [
        ("agent-1", FeedbackWrite("insight", "SKU-1", "accepted")),
        ("agent-1", FeedbackWrite("insight", "SKU-2", "accepted")),
        ("agent-2", FeedbackWrite("insight", "SKU-1", "declined")),
        ("agent-1", FeedbackWrite("terms", "net-30", "declined")),
    ]
    for agent, answer in answers:
        await store.save_feedback("c-1", agent, answer)
    assert await store.feedback_counts() == {
        "insight": {"accepted": 2, "declined": 1},
        "terms": {"accepted": 0, "declined": 1},
    }


async def test_no_answers_count_nothing(store: Store) -> None:
    """A store without feedback has no section in its counts."""
    assert await store.feedback_counts() == {}


async def test_agent_who_answered_the_call_may_give_feedback(store: Store) -> None:
    """An agent who answered the call, without having been sent its card, may answer a suggestion."""
    answered = CallEvent(provider="pbx", call_id="c-1", event=EventKind.ANSWERED, agent="agent-7")
    await store.record_event(answered, ADA)
    await store.save_feedback("c-1", "agent-7", FeedbackWrite("insight", "SKU-9", "accepted"))
    assert await store.feedback_counts() == {"insight": {"accepted": 1, "declined": 0}}


async def test_unknown_call_is_not_found_and_stranger_is_forbidden(store: Store) -> None:
    """Feedback on a call the store never saw is NotFound; from an agent who never received it, Forbidden."""
    answer = FeedbackWrite("insight", "SKU-240", "accepted")
    with pytest.raises(NotFound):
        await store.save_feedback("nope", "agent-1", answer)
    with pytest.raises(Forbidden):
        await store.save_feedback("c-1", "agent-9", answer)
    assert await store.feedback_counts() == {}


@pytest.mark.parametrize(
    "answer",
    [
        FeedbackWrite("insight", "", "accepted"),
        FeedbackWrite("insight", "x" * 129, "accepted"),
        FeedbackWrite("insight", "SKU\x00240", "accepted"),
        FeedbackWrite("insight", "SKU-240", "maybe"),
        FeedbackWrite("", "SKU-240", "accepted"),
    ],
    ids=["empty product", "long product", "control character", "bad outcome", "empty section"],
)
async def test_bad_answer_is_a_bad_request(store: Store, answer: FeedbackWrite) -> None:
    """An empty, over-long or control-character product, an unknown outcome or no section is refused."""
    with pytest.raises(BadRequest):
        await store.save_feedback("c-1", "agent-1", answer)
    assert await store.feedback_counts() == {}
