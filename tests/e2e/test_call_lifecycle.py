"""The call lifecycle over loopback: what a reader may see of a call, whose call a note is, free dispositions.

Each test runs the real application (``tests/support/service.running``) with
real agent websockets and signed webhooks; the store is SQLite in the test's
temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from screenpop.broker import Delivery, MemoryBroker
from screenpop.card import summary_for
from screenpop.config import Settings, settings_from_mapping
from tests.support.servers import PostgresServer
from tests.support.service import (
    ADA,
    WEBHOOK_SECRET,
    Agent,
    agent_socket,
    api,
    base_config,
    event_body,
    make,
    post_event,
    running,
)
from tests.support.signers import sign
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


async def test_without_configured_dispositions_any_short_text_is_a_disposition(store_url: str) -> None:
    """With no `card.dispositions`, a note's disposition is free text of 1-64 characters (SPEC release 2)."""
    settings = make(store_url)
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        assert agent.welcome["dispositions"] is None
        await post_event(base, event_body("c-free", agent="agent-1"))
        await agent.card_until_complete("c-free")
        note = {"disposition": "payment-promised", "notes": "pays Friday"}
        status, saved = await api(base, "POST", "/api/calls/c-free/notes", token, json=note)
        assert (status, saved["disposition"]) == (201, "payment-promised"), saved
        status, refused = await api(base, "POST", "/api/calls/c-free/notes", token, json={"disposition": ""})
        assert (status, refused["error"]["code"]) == (400, "bad_request")


async def test_the_welcome_tells_the_card_deadline(store_url: str) -> None:
    """The welcome carries `card.deadline_ms`, so a widget can tell a card still growing from one cut off."""
    settings = make(store_url, card={"deadline_ms": 2345})
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        assert agent.welcome["card"] == {"deadline_ms": 2345}


async def test_configured_dispositions_are_the_only_ones_accepted(store_url: str) -> None:
    """With `card.dispositions` set, a note's disposition must be one of them."""
    settings = make(store_url, card={"deadline_ms": 1000, "dispositions": ["resolved"]})
    token = token_for(settings, "agent-1")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        assert agent.welcome["dispositions"] == ["resolved"]
        await post_event(base, event_body("c-list", agent="agent-1"))
        await agent.card_until_complete("c-list")
        path = "/api/calls/c-list/notes"
        status, refused = await api(base, "POST", path, token, json={"disposition": "payment-promised"})
        assert (status, refused["error"]["code"]) == (400, "bad_request")
        assert "resolved" in refused["error"]["message"]
        status, saved = await api(base, "POST", path, token, json={"disposition": "resolved"})
        assert status == 201, json.dumps(saved)


def with_credit_holder(store_url: str) -> Settings:
    """The test config, with the credit section naming the caller differently (an identity of its own)."""
    config = base_config(store_url)
    credit = config["connectors"][1]
    credit["rows"] = {ADA: {"credit_limit": 5000, "rating": "D", "holder": "Augusta King"}}
    return settings_from_mapping(config, source="<test>", environ={})


async def listed(base: str, token: str, call_id: str) -> dict[str, Any] | None:
    """The call's entry in GET /api/calls once its summary is written, else None."""
    status, body = await api(base, "GET", "/api/calls?limit=50", token)
    assert status == 200, body
    found = [c for c in body["calls"] if c["call_id"] == call_id and c["summary"] is not None]
    return found[0] if found else None


async def test_calls_api_summaries_are_rendered_for_the_readers_role(store_url: str) -> None:
    """A tier1 reader's /api/calls summary holds nothing of the hidden credit section; a supervisor's does."""
    settings = with_credit_holder(store_url)
    tier1 = token_for(settings, "agent-1")
    supervisor = token_for(settings, "agent-3")
    supervisor_as_tier1 = token_for(settings, "agent-3", role="tier1")
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-3") as three,
    ):
        await post_event(base, event_body("c-seen", agent="agent-1"))
        await post_event(base, event_body("c-sup", agent="agent-3"))
        await one.card_until_complete("c-seen")
        await three.card_until_complete("c-sup")
        mine = await wait_for(lambda: listed(base, tier1, "c-seen"), 5, "agent-1's summary")
        full = await wait_for(lambda: listed(base, supervisor, "c-seen"), 5, "the supervisor's summary")
        claimed = await wait_for(
            lambda: listed(base, supervisor_as_tier1, "c-sup"), 5, "a tier1 token's summary"
        )
    assert full["summary"]["sections"]["credit"] == "ok"
    assert {"section": "credit", "text": "Credit hold", "level": "info"} in full["summary"]["badges"]
    assert "Augusta King" in json.dumps(full)
    for entry in (mine, claimed):
        text = json.dumps(entry["summary"])
        assert "credit" not in text.lower() and "Credit hold" not in text and "Augusta King" not in text, text
        assert entry["summary"]["customer"]["name"] == "Ada Lovelace"
        assert entry["summary"]["sections"] == {"accounting": "ok"}


def test_a_summary_is_never_shown_to_a_role_that_hides_more_than_it_was_rendered_for() -> None:
    """summary_for picks the view that hides at least the reader's sections, and trims an old summary."""
    narrow = {"customer": {"name": "A"}, "badges": [], "sections": {"accounting": "ok"}}
    wide = {"customer": {"name": "B"}, "badges": [], "sections": {"accounting": "ok", "credit": "ok"}}
    stored = {"views": [{"hidden": [], "summary": wide}, {"hidden": ["credit"], "summary": narrow}]}
    assert summary_for(stored, frozenset()) == wide
    assert summary_for(stored, frozenset({"credit"})) == narrow
    assert summary_for(stored, frozenset({"credit", "crm"})) is None
    legacy = {
        "customer": {"name": "Augusta King", "ids": {"credit": "K-1", "accounting": "A-1"}, "matches": 1},
        "badges": [{"section": "credit", "text": "Credit hold", "level": "alert"}],
        "sections": {"accounting": "ok", "credit": "ok"},
    }
    trimmed = summary_for(legacy, frozenset({"credit"}))
    assert trimmed is not None and "credit" not in json.dumps(trimmed).lower()
    assert "Augusta King" not in json.dumps(trimmed) and trimmed["customer"]["ids"] == {"accounting": "A-1"}


async def post_to(base: str, provider: str, body: bytes, secret: str) -> int:
    """A generic webhook to ``/webhooks/{provider}``, signed with that provider's secret."""
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body, secret)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/webhooks/{provider}", data=body, headers=headers) as reply,
    ):
        return reply.status


async def test_a_note_goes_to_the_call_of_that_id_the_agent_received(store_url: str) -> None:
    """Two providers, one call id: each agent's note lands on the call it received, none is locked out."""
    providers = [
        {"name": "pbx", "kind": "generic", "secret": WEBHOOK_SECRET},
        {"name": "pbx2", "kind": "generic", "secret": "second-pbx-secret"},
    ]
    settings = make(store_url, providers=providers)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        assert await post_to(base, "pbx", event_body("c-same", agent="agent-1"), WEBHOOK_SECRET) == 202
        await one.card_until_complete("c-same")
        assert await post_to(base, "pbx2", event_body("c-same", agent="agent-2"), "second-pbx-secret") == 202
        await two.card_until_complete("c-same")
        path = "/api/calls/c-same/notes"
        first = await api(base, "POST", path, token_for(settings, "agent-1"), json={"notes": "first"})
        second = await api(base, "POST", path, token_for(settings, "agent-2"), json={"notes": "second"})
        outsider = await api(
            base, "POST", path, token_for(settings, "agent-3", role="tier1"), json={"notes": "x"}
        )
        _, listing = await api(base, "GET", "/api/calls", token_for(settings, "agent-1"))
    assert (first[0], first[1]["provider"]) == (201, "pbx"), first
    assert (second[0], second[1]["provider"]) == (201, "pbx2"), second
    assert (outsider[0], outsider[1]["error"]["code"]) == (403, "forbidden")
    [mine] = listing["calls"]
    assert (mine["provider"], [n["notes"] for n in mine["notes"]]) == ("pbx", ["first"])


# -- duplicates, replays and failures ---------------------------------------------------------------


async def frames_until(agent: Agent, last: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Every frame the agent receives up to and including the first for which ``last`` holds."""
    seen = []
    while True:
        frame = await agent.next(5.0)
        seen.append(frame)
        if last(frame):
            return seen


def first_card_of(call_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "card" and f["call_id"] == call_id and f["version"] == 1


def card_of(call_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "card" and f["call_id"] == call_id


def pops(frames: list[dict[str, Any]], call_id: str, holding: bool = False) -> int:
    """How many times a card for ``call_id`` popped in ``frames``: a card frame while not holding it.

    The agent holds the card from its first card frame until a ``withdrawn``
    (a card growing version by version is one pop).
    """
    count = 0
    for frame in frames:
        if frame.get("call_id") != call_id:
            continue
        if frame["type"] == "card" and not holding:
            count, holding = count + 1, True
        elif frame["type"] == "call" and frame["status"] == "withdrawn":
            holding = False
    return count


async def test_replayed_ring_and_withdrawal_change_nothing_but_a_new_ring_pops(store_url: str) -> None:
    """Replays of ringing / withdrawn pop once; a new ring (a new `at`) after a withdrawal pops again."""
    settings = make(store_url)
    ring = event_body("c-replay", agent="agent-1", at="2026-12-03T10:00:00Z")
    withdraw = event_body("c-replay", "withdrawn", agent="agent-1", at="2026-12-03T10:00:15Z")
    ring_again = event_body("c-replay", agent="agent-1", at="2026-12-03T10:00:30Z")
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        for body in (ring, withdraw, ring, withdraw, ring):
            status, reply = await post_event(base, body, sign(body, at=int(time.time()) - 5))
            assert status == 202, reply
        await post_event(base, event_body("c-mark-1", agent="agent-1"))
        before = await frames_until(agent, first_card_of("c-mark-1"))
        assert pops(before, "c-replay") == 1, before
        withdrawn = [f for f in before if f.get("type") == "call" and f["status"] == "withdrawn"]
        assert len(withdrawn) == 1, withdrawn

        await post_event(base, ring_again)
        again = await frames_until(agent, card_of("c-replay"))
        assert again[-1]["card"]["caller"]["e164"] == ADA

        for body in (ring_again, ring):
            signature = sign(body, at=int(time.time()) - 5)
            assert (await post_event(base, body, signature))[0] == 202
        await post_event(base, event_body("c-mark-2", agent="agent-1"))
        after = await frames_until(agent, first_card_of("c-mark-2"))
        assert pops(after, "c-replay", holding=True) == 0, after


async def test_a_ring_whose_first_frame_cannot_be_published_is_503_and_its_retry_pops(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the broker refuses the first frame the webhook is 503, and the retry pops the card."""
    settings = make(store_url)
    publish = MemoryBroker._publish  # what a ring publishes through (no coroutine per step)
    refused: list[int] = []

    def refuse_first_card(self: MemoryBroker, deliveries: Sequence[Delivery]) -> None:
        if not refused and any(d.card is not None for d in deliveries):
            refused.append(len(deliveries))
            raise ConnectionError("the broker refused the frame")
        publish(self, deliveries)

    monkeypatch.setattr(MemoryBroker, "_publish", refuse_first_card)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        body = event_body("c-lost", agent="agent-1")
        status, reply = await post_event(base, body)
        assert (status, reply["error"]["code"]) == (503, "unavailable"), reply
        assert refused == [1]
        status, reply = await post_event(base, body, sign(body, at=int(time.time()) - 5))
        assert (status, reply) == (202, {"call_id": "c-lost", "status": "accepted"})
        frames = await agent.card_until_complete("c-lost")
    assert pops(frames, "c-lost") == 1


async def test_an_answer_the_store_cannot_route_is_503_and_its_retry_reaches_every_recipient(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    """With the store down, an `answered` that needs its recipients is 503; resent later, it reaches them."""
    settings = make(pg_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as one:
        await post_event(base, event_body("c-down", queue="support"))
        await one.card_until_complete("c-down")
        token = token_for(settings, "agent-1")
        await wait_for(lambda: listed_at_all(base, token, "c-down"), 5, "the call's recipients in the store")
    # a restarted instance: the broker's shared recipients are gone, the store has them
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as one:
        answered = event_body("c-down", "answered", agent="agent-2")
        async with database_refusing_connections(postgres_server, pg_url):
            status, reply = await post_event(base, answered)
            assert (status, reply["error"]["code"]) == (503, "unavailable"), reply
        status, reply = await post_event(base, answered, sign(answered, at=int(time.time()) - 5))
        assert status == 202, reply
        frame = await one.next()
    assert (frame["type"], frame["call_id"], frame["status"], frame["agent"]) == (
        "call",
        "c-down",
        "answered",
        "agent-2",
    )


async def listed_at_all(base: str, token: str, call_id: str) -> bool:
    status, body = await api(base, "GET", "/api/calls", token)
    return status == 200 and any(c["call_id"] == call_id for c in body["calls"])


@contextlib.asynccontextmanager
async def database_refusing_connections(server: PostgresServer, url: str) -> AsyncIterator[None]:
    """The store's PostgreSQL database refuses new connections and has its open ones cut, until the end."""
    name = sa.engine.make_url(url).database
    admin = create_async_engine(server.url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            await conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
        yield
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        await admin.dispose()


async def test_a_call_that_rings_no_one_is_still_recorded(store_url: str) -> None:
    """A ringing for a queue with no members pops nothing but is kept, with its summary, for supervisors."""
    settings = make(store_url, routing={"unrouted": "none"})
    supervisor = token_for(settings, "agent-3")
    async with running(settings) as base:
        status, _ = await post_event(base, event_body("c-nobody", queue="empty-queue"))
        assert status == 202
        entry = await wait_for(
            lambda: listed(base, supervisor, "c-nobody"), 5, "the unanswered call's record"
        )
    assert entry["queue"] == "empty-queue" and entry["summary"]["sections"]["accounting"] == "ok"
