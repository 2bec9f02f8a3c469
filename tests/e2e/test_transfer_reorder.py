"""Transfers as phone systems send them: retried and reordered, on two instances of one real Redis.

A transfer that arrives after a later one (by its ``at``) moves nobody and
is not added to the card's ``transfers`` (docs/transfers.md): the call stays
with the holder the latest transfer gave it to.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from redis.asyncio import Redis

from screenpop.broker.redis_layout import value_key
from screenpop.config import Settings, settings_from_mapping
from tests.support.agents import call_status, read_until, seen
from tests.support.service import (
    SCRIPTED,
    agent_socket,
    base_config,
    event_body,
    make,
    post_event,
    running,
    sharing_the_tests_loop,
)
from tests.support.waiting import wait_for

AT_05, AT_09, AT_12 = "2026-12-05T10:00:05Z", "2026-12-05T10:00:09Z", "2026-12-05T10:00:12Z"


@contextlib.asynccontextmanager
async def two_instances(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    shared = sharing_the_tests_loop(settings)
    async with running(shared) as a, running(shared) as b:
        yield a, b


def transfer(call_id: str, to: str, frm: str, at: str) -> bytes:
    return event_body(call_id, "transferred", agent=to, from_agent=frm, at=at)


async def read_until_stored(redis_url: str, done: Callable[[str], bool], within: float = 5.0) -> None:
    """Read the call's kept card (the card as it stands, in Redis) until ``done`` says it is far enough."""
    async with Redis.from_url(redis_url, decode_responses=True) as redis:

        async def far_enough() -> bool:
            kept = await redis.get(value_key("card:pbx:c-q2"))
            return kept is not None and done(kept)

        await wait_for(far_enough, within, "the kept card getting there", every=0.01)


def card_of(call_id: str) -> object:
    return lambda f: f["type"] == "card" and f["call_id"] == call_id


async def test_an_older_transfer_arriving_late_takes_the_call_from_no_one(
    tmp_path: Path, redis_url: str
) -> None:
    """B→C at :09 taken on B, then A→B at :05 arriving late on A: agent-3 keeps it, agent-2 gets nothing."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db", broker={"url": redis_url})
    async with (
        two_instances(settings) as (a, b),
        agent_socket(a, settings, "agent-1") as one,
        agent_socket(a, settings, "agent-2") as two,
        agent_socket(b, settings, "agent-3") as three,
    ):
        await post_event(a, event_body("c-late", agent="agent-1", at="2026-12-05T10:00:00Z"))
        await one.card_until_complete("c-late")
        assert (await post_event(b, transfer("c-late", "agent-3", "agent-2", AT_09)))[0] == 202
        await read_until(three, card_of("c-late"))
        await read_until(one, call_status("c-late", "transferred"))
        assert (await post_event(a, transfer("c-late", "agent-2", "agent-1", AT_05)))[0] == 202
        assert all([await two.silent_for(0.4), await three.silent_for(0.01), await one.silent_for(0.01)])
        # a later transfer still moves it; the card lists the transfers that moved it, oldest first
        assert (await post_event(a, transfer("c-late", "agent-2", "agent-3", AT_12)))[0] == 202
        await read_until(two, card_of("c-late"))
        await read_until(three, call_status("c-late", "transferred"))
        await post_event(b, event_body("c-late", "ended"))
        await read_until(two, call_status("c-late", "ended"))
    [card] = seen(two, "c-late")[0]
    listed = [(t["from_agent"], t["to_agent"], t["at"]) for t in card["card"]["transfers"]]
    assert listed == [
        ("agent-2", "agent-3", "2026-12-05T10:00:09.000Z"),
        ("agent-3", "agent-2", "2026-12-05T10:00:12.000Z"),
    ]
    assert card["card"]["agent"] == "agent-2"
    assert [s for _, s, _ in seen(three, "c-late")[1]] == ["transferred"]


async def test_without_times_transfers_keep_their_arrival_order(tmp_path: Path) -> None:
    """Unstamped transfers are applied as they arrive: the last one to arrive holds the call."""
    settings = make(f"sqlite+aiosqlite:///{tmp_path}/store.db")
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as one,
        agent_socket(base, settings, "agent-2") as two,
    ):
        await post_event(base, event_body("c-plain", agent="agent-1"))
        await one.card_until_complete("c-plain")
        await post_event(base, event_body("c-plain", "transferred", agent="agent-2"))
        await read_until(two, card_of("c-plain"))
        await post_event(base, event_body("c-plain", "transferred", agent="agent-1"))
        await read_until(one, card_of("c-plain"))
        await read_until(two, call_status("c-plain", "transferred"))


async def test_a_transfer_back_taken_elsewhere_reaches_the_agent_while_the_card_is_still_built(
    tmp_path: Path, redis_url: str
) -> None:
    """To agent-2 on A (the instance building the card), back to agent-1 on B: agent-1 gets it at once.

    B hands on the card version A kept; had A not kept the version it moved
    the card as, B's would carry the number agent-1 was told ``transferred``
    at, and agent-1's socket would drop it as not newer.
    """
    slow = [{"name": "slow", "kind": SCRIPTED, "delay_ms": 30_000, "timeout_ms": 30_000, "rows": {}}]
    settings = make(
        f"sqlite+aiosqlite:///{tmp_path}/store.db",
        broker={"url": redis_url},
        connectors=slow,
        roles={"tier1": {}, "supervisor": {}},
        card={"deadline_ms": 30_000},
        server={"allowed_origins": ["http://agents.example"], "shutdown_grace_s": 0},
    )
    async with (
        two_instances(settings) as (a, b),
        agent_socket(a, settings, "agent-1") as one,
        agent_socket(a, settings, "agent-2") as two,
    ):
        await post_event(a, event_body("c-back", agent="agent-1"))
        await read_until(one, card_of("c-back"))
        await post_event(a, transfer("c-back", "agent-2", "agent-1", AT_05))
        await read_until(two, card_of("c-back"))
        await read_until(one, call_status("c-back", "transferred"))
        await post_event(b, transfer("c-back", "agent-1", "agent-2", AT_09))
        await read_until(one, card_of("c-back"))
    back = seen(one, "c-back")[0][-1]
    assert [t["to_agent"] for t in back["card"]["transfers"]] == ["agent-2", "agent-1"]
    assert back["version"] > seen(two, "c-back")[0][-1]["version"]


async def test_a_queue_ringing_after_a_transfer_on_another_instance_gets_the_card_completed(
    tmp_path: Path, redis_url: str
) -> None:
    """Sent to an outside number, then the support queue rings agent-2 (both on B) while A still builds
    the card: agent-2 gets the rest of it as A finds it, up to the complete card."""
    slow = {"name": "slow", "kind": SCRIPTED, "delay_ms": 1500, "timeout_ms": 5000, "rows": {}}
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", broker={"url": redis_url})
    config["connectors"].append(slow)
    settings = settings_from_mapping(config, source="<test>", environ={})
    async with (
        two_instances(settings) as (a, b),
        agent_socket(a, settings, "agent-1") as one,
        agent_socket(b, settings, "agent-2") as two,
    ):
        await post_event(a, event_body("c-q2", agent="agent-1"))
        await read_until(one, card_of("c-q2"))
        await post_event(b, event_body("c-q2", "transferred", agent="600", from_agent="agent-1"))
        await read_until(one, call_status("c-q2", "transferred"))
        # A follows that transfer with its next version (the fast sections), before the queue rings
        await read_until_stored(redis_url, lambda card: '"status":"ok"' in card)
        await post_event(b, event_body("c-q2", queue="support"))
        frames = await two.card_until_complete("c-q2")
    assert frames[-1]["card"]["sections"]["slow"]["status"] != "pending"
    assert frames[-1]["card"]["transfers"][0]["to_agent"] == "600"
