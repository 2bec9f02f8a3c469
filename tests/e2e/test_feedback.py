"""POST /api/calls/{call_id}/feedback through the real service, on a SQLite and a PostgreSQL store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from screenpop.store import Store
from tests.support.service import agent_socket, api, event_body, make, post_event, running
from tests.support.tokens import token_for

FEEDBACK = "/api/calls/{}/feedback"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store database of each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("pg_url")
    return url


def answer(
    product: str = "SKU-240", outcome: str = "accepted", section: Any = "accounting"
) -> dict[str, Any]:
    """A feedback body; ``section`` may be any JSON value, to send a wrong type."""
    return {"section": section, "product": product, "outcome": outcome}


async def feedback_metric(base: str) -> dict[tuple[str, str], float]:
    """The screenpop_suggestion_feedback_total samples of /metrics, by (section, outcome)."""
    status, text = await api(base, "GET", "/metrics")
    assert status == 200
    return {
        (s.labels["section"], s.labels["outcome"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "screenpop_suggestion_feedback"
        for s in family.samples
        if s.name == "screenpop_suggestion_feedback_total"
    }


async def counts_in(store_url: str) -> dict[str, dict[str, int]]:
    """What the store keeps per section, read through a store of its own."""
    store = await Store.open(store_url)
    try:
        return await store.feedback_counts()
    finally:
        await store.close()


async def test_feedback_is_kept_replaced_and_counted(store_url: str) -> None:
    """Answers are saved (201), a changed answer replaces the kept one, and /metrics counts every answer."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-f1", agent="agent-1"))
        await agent.card_until_complete("c-f1")
        status, saved = await api(base, "POST", FEEDBACK.format("c-f1"), token, json=answer())
        assert status == 201, saved
        assert {k: saved[k] for k in ("call_id", "provider", "section", "product", "outcome")} == {
            "call_id": "c-f1",
            "provider": "pbx",
            **answer(),
        }
        changed = await api(base, "POST", FEEDBACK.format("c-f1"), token, json=answer(outcome="declined"))
        other = await api(base, "POST", FEEDBACK.format("c-f1"), token, json=answer("SKU-9"))
        assert (changed[0], other[0]) == (201, 201)
        metric = await feedback_metric(base)
    assert metric == {("accounting", "accepted"): 2.0, ("accounting", "declined"): 1.0}
    assert await counts_in(store_url) == {"accounting": {"accepted": 1, "declined": 1}}


BAD_BODIES = [
    ({"product": "SKU-1", "outcome": "accepted"}, "section"),
    (answer(section="credit"), "section"),  # tier1 hides credit
    (answer(section="nope"), "section"),
    (answer(section=7), "section"),
    (answer(product=""), "product"),
    (answer(product="x" * 129), "product"),
    (answer(product="SKU\x00240"), "product"),
    (answer(product="SKU\u202e240"), "product"),
    ({"section": "accounting", "outcome": "accepted"}, "product"),
    (answer(outcome="maybe"), "outcome"),
    ({"section": "accounting", "product": "SKU-1"}, "outcome"),
]


async def test_feedback_refuses_strangers_unknown_calls_and_bad_fields(store_url: str) -> None:
    """No token is 401, an unknown call 404, a stranger to the call 403, a bad field a 400 naming it."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-f2", agent="agent-1"))
        await agent.card_until_complete("c-f2")
        path = FEEDBACK.format("c-f2")
        assert (await api(base, "POST", path, json=answer()))[0] == 401
        unknown = await api(base, "POST", FEEDBACK.format("nope"), token, json=answer())
        stranger = await api(base, "POST", path, token_for(settings, "agent-2"), json=answer())
        assert (unknown[0], unknown[1]["error"]["code"]) == (404, "not_found")
        assert (stranger[0], stranger[1]["error"]["code"]) == (403, "forbidden")
        for body, field in BAD_BODIES:
            status, reply = await api(base, "POST", path, token, json=body)
            assert (status, reply["error"]["code"]) == (400, "bad_request"), body
            assert field in reply["error"]["message"], (body, reply)
        metric = await feedback_metric(base)
    assert metric == {}
    assert await counts_in(store_url) == {}


async def test_supervisor_may_answer_for_a_section_tier1_does_not_see(store_url: str) -> None:
    """A role that sees the credit section may answer its suggestions on a call it received."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-3") as agent:
        await post_event(base, event_body("c-f3", agent="agent-3"))
        await agent.card_until_complete("c-f3")
        token = token_for(settings, "agent-3")
        status, _ = await api(base, "POST", FEEDBACK.format("c-f3"), token, json=answer(section="credit"))
        metric = await feedback_metric(base)
    assert status == 201
    assert metric == {("credit", "accepted"): 1.0}
