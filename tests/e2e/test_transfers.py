"""Transfers through the real service: the card moves with its hand-off notes and leaves the sender.

Real HTTP, real agent websockets; SQLite store; the memory broker for one
instance and a real Redis shared by two instances (two apps in this
process, each with its own broker connection) for the cluster cases.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from screenpop.broker import CardViews, Delivery, View, make_broker
from screenpop.card import role_views
from screenpop.config import Settings
from tests.support.agents import call_status, has_had, read_until, seen
from tests.support.service import (
    Agent,
    agent_socket,
    api,
    event_body,
    make,
    post_event,
    running,
    sharing_the_tests_loop,
)
from tests.support.tokens import token_for


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def card_of(call_id: str, version: int | None = None) -> Any:
    """A frame test: the card of ``call_id`` (of that version, when given)."""
    return lambda f: (
        f["type"] == "card" and f["call_id"] == call_id and (version is None or f["version"] == version)
    )


def transferred(call_id: str) -> Any:
    return call_status(call_id, "transferred")


async def ring_and_answer(base: str, agent: Agent, call_id: str, agent_id: str) -> dict[str, Any]:
    """Ring one agent, read the card to its last version, answer: the card as it stands."""
    await post_event(base, event_body(call_id, agent=agent_id))
    frames = await agent.card_until_complete(call_id)
    await post_event(base, event_body(call_id, "answered", agent=agent_id))
    await read_until(agent, call_status(call_id, "answered"))
    return frames[-1]


async def test_a_transfer_moves_the_card_with_its_notes_and_withdraws_it_from_the_sender(
    store_url: str,
) -> None:
    """agent-1's card, notes and sections reach agent-2; agent-1 is told where it went and loses it."""
    settings = make(store_url)
    token_1 = token_for(settings, "agent-1")
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        last = await ring_and_answer(base, one, "c-t1", "agent-1")
        note = {"disposition": "follow_up", "notes": "wants a refund"}
        status, _ = await api(base, "POST", "/api/calls/c-t1/notes", token_1, json=note)
        assert status == 201
        body = event_body(
            "c-t1", "transferred", agent="agent-2", from_agent="agent-1", at="2026-11-22T10:05:00Z"
        )
        status, reply = await post_event(base, body)
        assert (status, reply) == (202, {"call_id": "c-t1", "status": "accepted"})

        await read_until(two, card_of("c-t1"))
        got = seen(two, "c-t1")[0][-1]
        assert got["version"] == last["version"] + 1 and got["version"] > 1
        assert got["card"]["sections"] == last["card"]["sections"]  # as they stand: nothing looked up again
        assert got["card"]["agent"] == "agent-2"
        assert got["card"]["transfers"] == [
            {
                "from_agent": "agent-1",
                "to_agent": "agent-2",
                "to_queue": None,
                "at": "2026-11-22T10:05:00.000Z",
            }
        ]
        [handoff] = got["card"]["handoff"]
        assert (handoff["agent"], handoff["disposition"], handoff["notes"]) == ("agent-1", *note.values())
        assert "credit" not in got["card"]["sections"]  # rendered for agent-2's role (tier1 hides credit)

        await read_until(one, transferred("c-t1"))
        message = seen(one, "c-t1")[1][-1]
        assert message == ("c-t1", "transferred", "agent-2")

        # the same transfer again: 202, nothing moves
        status, reply = await post_event(base, body)
        assert (status, reply["status"]) == (202, "accepted")
        # the new holder can annotate it, and the call's end reaches only the holder
        status, _ = await api(
            base, "POST", "/api/calls/c-t1/notes", token_for(settings, "agent-2"), json=note
        )
        assert status == 201
        await post_event(base, event_body("c-t1", "ended"))
        await read_until(two, call_status("c-t1", "ended"))
        assert await one.silent_for(0.3)
        # both keep it in /api/calls; for agent-1 it is no longer theirs
        for agent_id, away in (("agent-1", True), ("agent-2", False)):
            status, listed = await api(base, "GET", "/api/calls", token_for(settings, agent_id))
            [row] = [c for c in listed["calls"] if c["call_id"] == "c-t1"]
            assert (status, row["transferred_away"]) == (200, away)


async def test_transfer_back_to_a_queue_and_to_nobody(store_url: str) -> None:
    """Back to the sender: a new version, no second version 1; a queue: its members; outside: all lose it."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
        agent_socket(base, settings, "agent-3") as three,
    ):
        await ring_and_answer(base, one, "c-t2", "agent-1")
        await post_event(base, event_body("c-t2", "transferred", agent="agent-3", at="2026-11-22T10:01:00Z"))
        await read_until(three, card_of("c-t2"))
        await read_until(one, transferred("c-t2"))
        await post_event(base, event_body("c-t2", "transferred", agent="agent-1", at="2026-11-22T10:02:00Z"))
        await read_until(one, card_of("c-t2"))
        await read_until(three, transferred("c-t2"))
        cards = seen(one, "c-t2")[0]
        assert [c["version"] for c in cards].count(1) == 1
        assert cards[-1]["version"] > cards[-2]["version"]
        assert [t["to_agent"] for t in cards[-1]["card"]["transfers"]] == ["agent-3", "agent-1"]

        # to the support queue: agent-1 (a member, holding it) and agent-2 get it; agent-3 hears nothing
        await post_event(base, event_body("c-t2", "transferred", queue="support", at="2026-11-22T10:03:00Z"))
        await read_until(two, card_of("c-t2"))
        await read_until(one, lambda f: card_of("c-t2")(f) and f["card"]["queue"] == "support")
        assert seen(two, "c-t2")[0][0]["version"] > 1
        assert await three.silent_for(0.3)

        # to an outside number: every holder is told, nobody gets the card
        await post_event(
            base, event_body("c-t2", "transferred", agent="+15550001111", at="2026-11-22T10:04:00Z")
        )
        for agent in (one, two):
            await read_until(agent, transferred("c-t2"))
        assert seen(two, "c-t2")[1][-1] == ("c-t2", "transferred", "+15550001111")


async def test_out_of_order_transfers(store_url: str) -> None:
    """Before the ring: the new agent gets the card (no pop), a late ring pops none; after the end: none."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        body = event_body(
            "c-early", "transferred", agent="agent-2", from_agent="agent-1", at="2026-11-22T10:00:05Z"
        )
        await post_event(base, body)
        frames = await two.card_until_complete("c-early")
        assert 1 not in [f["version"] for f in frames]
        assert frames[-1]["card"]["caller"]["e164"] is not None
        assert frames[-1]["card"]["customer"]["name"] == "Ada Lovelace"
        await post_event(base, event_body("c-early", agent="agent-1", at="2026-11-22T10:00:00Z"))
        assert await one.silent_for(0.3)  # stamped before the transfer: a reordered old ring

        await ring_and_answer(base, one, "c-late", "agent-1")
        await post_event(base, event_body("c-late", "ended"))
        await read_until(one, call_status("c-late", "ended"))
        await post_event(base, event_body("c-late", "transferred", agent="agent-2"))
        assert await two.silent_for(0.3)
        assert await one.silent_for(0.01)


async def test_a_late_answer_from_the_sender_changes_nothing(store_url: str) -> None:
    """An `answered` by agent-1 arriving after the call went to agent-2 reaches and withdraws no one."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        await post_event(base, event_body("c-ooo", agent="agent-1"))
        await one.card_until_complete("c-ooo")
        await post_event(base, event_body("c-ooo", "transferred", agent="agent-2"))
        await read_until(two, card_of("c-ooo"))
        await read_until(one, transferred("c-ooo"))
        await post_event(base, event_body("c-ooo", "answered", agent="agent-1"))
        assert all([await one.silent_for(0.3), await two.silent_for(0.01)])
        await post_event(base, event_body("c-ooo", "answered", agent="agent-2"))
        await read_until(two, call_status("c-ooo", "answered"))


@contextlib.asynccontextmanager
async def two_instances(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    shared = sharing_the_tests_loop(settings)
    async with running(shared) as a, running(shared) as b:
        yield a, b


async def test_a_transfer_taken_by_the_other_instance(store_url: str, redis_url: str) -> None:
    """Ringing on A, the transfer on B: B's agent gets A's card and A's agent is told, through Redis."""
    settings = make(store_url, broker={"url": redis_url})
    async with (
        two_instances(settings) as (a, b),
        agent_socket(a, settings, "agent-1") as one,
        agent_socket(b, settings, "agent-2") as two,
    ):
        last = await ring_and_answer(a, one, "c-x", "agent-1")
        status, _ = await api(
            a, "POST", "/api/calls/c-x/notes", token_for(settings, "agent-1"), json={"notes": "vip"}
        )
        assert status == 201
        body = event_body("c-x", "transferred", agent="agent-2", at="2026-11-22T10:00:00Z")
        await post_event(b, body)
        await read_until(two, card_of("c-x"))
        got = seen(two, "c-x")[0][-1]
        assert got["version"] == last["version"] + 1
        assert got["card"]["sections"] == last["card"]["sections"]
        assert [h["notes"] for h in got["card"]["handoff"]] == ["vip"]
        await read_until(one, transferred("c-x"))
        # the same transfer to the other instance: a duplicate across instances
        status, _ = await post_event(a, body)
        assert status == 202
        assert all([await one.silent_for(0.3), await two.silent_for(0.01)])
        # back again, taken by A this time
        await post_event(a, event_body("c-x", "transferred", agent="agent-1", at="2026-11-22T10:01:00Z"))
        await read_until(one, card_of("c-x", got["version"] + 1))
        await has_had(two, transferred("c-x"))
        assert [c["version"] for c in seen(one, "c-x")[0]].count(1) == 1


async def test_a_ring_after_a_transfer_hands_the_card_on(store_url: str) -> None:
    """Transferred to a queue's extension, then that queue rings agent-2: agent-2 gets the card, not a pop."""
    settings = make(store_url)
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        await ring_and_answer(base, one, "c-q", "agent-1")
        await post_event(base, event_body("c-q", "transferred", agent="600", from_agent="agent-1"))
        await read_until(one, transferred("c-q"))
        await post_event(base, event_body("c-q", agent="agent-2"))
        await read_until(two, card_of("c-q"))
        [card] = seen(two, "c-q")[0]
        assert card["version"] > 1 and card["card"]["transfers"][0]["to_agent"] == "600"
        assert card["card"]["customer"]["name"] == "Ada Lovelace"
        await post_event(base, event_body("c-q", "answered", agent="agent-2"))
        await read_until(two, call_status("c-q", "answered"))
        assert await one.silent_for(0.2)


async def test_a_late_version_from_the_instance_still_building_reaches_nobody(
    store_url: str, redis_url: str
) -> None:
    """After a transfer on B, the version A was still publishing is dropped by each socket's hub.

    Another instance's broker publishes what A would in the race of
    docs/transfers.md: the version the transfer was delivered as, to both
    the sender (already told ``transferred``) and the new holder (who has
    that version).  Neither socket sends it; the next version still passes.
    """
    settings = make(store_url, broker={"url": redis_url})
    late = make_broker(redis_url, 300)
    await late.start()
    try:
        async with (
            two_instances(settings) as (a, b),
            agent_socket(a, settings, "agent-1") as one,
            agent_socket(b, settings, "agent-2") as two,
        ):
            await ring_and_answer(a, one, "c-late", "agent-1")
            await post_event(b, event_body("c-late", "transferred", agent="agent-2"))
            await read_until(two, card_of("c-late"))
            await read_until(one, transferred("c-late"))
            moved = seen(two, "c-late")[0][-1]

            def version(number: int) -> CardViews:
                frame = {**moved, "version": number}
                frame.pop("event_id", None)
                body = json.dumps(frame)
                views = tuple(View(hidden, body, ()) for hidden in role_views(settings))
                return CardViews("c-late", number, views, "pbx")

            stale = version(moved["version"])
            await late.publish([Delivery("agent-1", card=stale), Delivery("agent-2", card=stale)])
            assert all([await one.silent_for(0.3), await two.silent_for(0.01)])
            await late.publish([Delivery("agent-2", card=version(moved["version"] + 1))])
            await read_until(two, card_of("c-late", moved["version"] + 1))
    finally:
        await late.close()
    versions = [c["version"] for c in seen(two, "c-late")[0]]
    assert versions == sorted(set(versions))
