"""A ringing event's claim, call state and first frame in one step (``Broker.ring``), on both brokers.

The behaviour tests run the same steps on ``memory://`` and on a real Redis,
so the two brokers are held to one contract; the races run two
``RedisBroker`` instances (two connections, as two services would have)
against the session's real Redis.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from screenpop.broker import Broker, CardViews, Delivery, MemoryBroker, Message, Ring, Rung, View
from screenpop.broker.redis import RedisBroker
from tests.support.servers import RedisServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.redis

Pops = list[tuple[str, str]]  # (agent, call id) of every card message a broker's listener got


def card(call_id: str, version: int = 1) -> CardViews:
    body = json.dumps({"type": "card", "call_id": call_id, "version": version})
    return CardViews(call_id, version, (View(frozenset(), body, ()),), "pbx")


def ringing(call_id: str, leg: str, *agents: str, state: str | None = None) -> Ring:
    """The Ring ``CallService`` makes for leg ``leg`` of ``call_id`` ringing ``agents``."""
    return Ring(
        event_key=f"event:pbx:{call_id}:ringing#{leg}",
        event_ttl_s=600,
        state_key=state or f"call-state:pbx:{call_id}",
        recipients_key=f"recipients:pbx:{call_id}",
        agents=agents,
        recipients_ttl_s=600,
        card=card(call_id),
    )


def listener(broker: Broker) -> Pops:
    pops: Pops = []

    def handler(message: Message) -> None:
        if message.card is not None:
            pops.append((message.agent_id, message.card.call_id))

    broker.listen(handler)
    return pops


async def settled(broker: Broker, pops: Pops, marker: str = "c-marker") -> Pops:
    """Publish a marker card and wait for it: any frame published before it has arrived by then."""
    await broker.publish([Delivery("agent-marker", card=card(marker))])
    await wait_for(lambda: ("agent-marker", marker) in pops, 5.0, "the marker card")
    return [pop for pop in pops if pop[1] != marker]


@pytest.fixture(params=["memory", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    """Each broker kind in turn: what a ring does must not depend on it."""
    made: Broker
    if request.param == "memory":
        made = MemoryBroker(300)
    else:
        made = RedisBroker(request.getfixturevalue("redis_url"), 300)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


async def test_a_ring_pops_for_its_agents_once_and_its_repeat_changes_nothing(broker: Broker) -> None:
    """The first ring claims, pops for each agent once (repeats in the list too); its repeat pops nothing."""
    pops = listener(broker)
    first = await broker.ring(ringing("c-1", "leg-1", "agent-2", "agent-1", "agent-2"))
    assert first == Rung(True, None, ("agent-2", "agent-1"))
    assert await broker.ring(ringing("c-1", "leg-1", "agent-1", "agent-3")) == Rung(False)
    assert await settled(broker, pops) == [("agent-2", "c-1"), ("agent-1", "c-1")]
    assert await broker.members("recipients:pbx:c-1") == ["agent-1", "agent-2"]
    messages, _ = await broker.replay("agent-1", "0-0")
    assert [m.card.version for m in messages if m.card is not None] == [1]


async def test_a_second_leg_pops_only_for_agents_the_call_did_not_ring(broker: Broker) -> None:
    """Another leg of a ringing call adds its agents; the card goes to the new ones only."""
    pops = listener(broker)
    await broker.ring(ringing("c-2", "leg-1", "agent-1", "agent-2"))
    second = await broker.ring(ringing("c-2", "leg-2", "agent-2", "agent-3"))
    assert second == Rung(True, None, ("agent-3",))
    assert await broker.ring(ringing("c-2", "leg-3", "agent-1")) == Rung(True, None, ())
    assert sorted(await settled(broker, pops)) == [(f"agent-{n}", "c-2") for n in (1, 2, 3)]
    assert await broker.members("recipients:pbx:c-2") == ["agent-1", "agent-2", "agent-3"]


async def test_a_call_with_state_is_claimed_and_pops_nothing(broker: Broker) -> None:
    """A ring after the call was answered is claimed, reads the state, and neither rings nor pops."""
    pops = listener(broker)
    await broker.put("call-state:pbx:c-3", "answered:agent-9", 600)
    assert await broker.ring(ringing("c-3", "leg-1", "agent-1")) == Rung(True, "answered:agent-9")
    assert await broker.ring(ringing("c-3", "leg-1", "agent-1")) == Rung(False)
    assert await settled(broker, pops) == []
    assert await broker.members("recipients:pbx:c-3") is None


async def test_a_ring_for_no_one_still_marks_the_call_as_ringing(broker: Broker) -> None:
    """A ring that routes to no agent is claimed and leaves an empty recipients set (not "unknown")."""
    assert await broker.ring(ringing("c-4", "leg-1")) == Rung(True, None, ())
    assert await broker.members("recipients:pbx:c-4") == []


async def test_a_ring_keeps_the_latest_ring_time_in_its_own_step(broker: Broker) -> None:
    """The agent's latest ring time goes with the ring's claim (no round trip more); a late ring keeps none.

    A stale withdrawal is told apart by that time (``StatusSteps._rung_since``):
    a ring that arrived late must not set it back, and neither must a
    duplicate, which claims nothing, or a hand-over stamped earlier.
    """
    key = "ringat:pbx:c-7:agent-1"
    newer = replace(ringing("c-7", "leg-2", "agent-1"), ring_time=(key, 1_800_000_100.25))
    older = replace(ringing("c-7", "leg-1", "agent-1"), ring_time=(key, 1_800_000_000.5))
    await broker.ring(newer)
    assert await broker.get(key) == "1800000100.250000"
    await broker.ring(older)  # claimed (another leg), but earlier: the kept time stays
    await broker.keep_latest(key, 1_800_000_050.0, 600)
    assert await broker.get(key) == "1800000100.250000"
    await broker.keep_latest(key, 1_800_000_200.0, 600)
    assert await broker.get(key) == "1800000200.000000"
    await broker.ring(replace(newer, ring_time=(key, 1_800_000_300.0)))  # a duplicate: claims nothing
    assert await broker.get(key) == "1800000200.000000"
    await broker.put("call-state:pbx:c-8", "answered:agent-9", 600)
    answered = replace(ringing("c-8", "leg-1", "agent-1"), ring_time=("ringat:pbx:c-8:agent-1", 5.0))
    assert await broker.ring(answered) == Rung(True, "answered:agent-9")
    assert await broker.get("ringat:pbx:c-8:agent-1") == "5.000000"  # a claimed ring's time, popped or not


async def test_a_released_ring_pops_again_for_agents_taken_out(broker: Broker) -> None:
    """What CallService does when handling fails: give back the claim and members; the retry pops."""
    pops = listener(broker)
    ring = ringing("c-5", "leg-1", "agent-1")
    assert (await broker.ring(ring)).new == ("agent-1",)
    await broker.release(ring.event_key)
    assert await broker.remove_member(ring.recipients_key, "agent-1")
    assert await broker.ring(ring) == Rung(True, None, ("agent-1",))
    assert await settled(broker, pops) == [("agent-1", "c-5"), ("agent-1", "c-5")]


async def test_racing_instances_claim_each_event_once_and_pop_each_agent_once(
    pair: tuple[RedisBroker, RedisBroker],
) -> None:
    """Legs raced into two instances, each leg twice: one claim per leg, one pop per agent, everywhere."""
    a, b = pair
    pops_a, pops_b = listener(a), listener(b)
    calls = [f"c-race-{n}" for n in range(20)]
    legs = [("leg-1", ("agent-1", "agent-2", "agent-3")), ("leg-2", ("agent-2", "agent-3", "agent-4"))]
    work = [
        (call_id, leg, broker.ring(ringing(call_id, leg, *agents)))
        for call_id in calls
        for leg, agents in legs
        for broker in ((a, b) if calls.index(call_id) % 2 else (b, a))
    ]
    results = await asyncio.gather(*(ring for _, _, ring in work))
    for call_id in calls:
        mine = [rung for (c, _, _), rung in zip(work, results, strict=True) if c == call_id]
        assert sum(rung.claimed for rung in mine) == 2  # one per leg, whichever instance got it
        popped = [agent for rung in mine for agent in rung.new]
        assert sorted(popped) == ["agent-1", "agent-2", "agent-3", "agent-4"]
    expected = sorted((f"agent-{n}", call_id) for call_id in calls for n in range(1, 5))
    assert sorted(await settled(a, pops_a)) == expected
    assert sorted(await settled(a, pops_b)) == expected


async def test_a_ring_reloads_its_script_on_a_redis_that_lost_it(
    pair: tuple[RedisBroker, RedisBroker], redis_url: str
) -> None:
    """After SCRIPT FLUSH (what a promoted replica looks like to EVALSHA) a ring still runs, broker up."""
    a, _ = pair
    assert (await a.ring(ringing("c-6", "leg-1", "agent-1"))).claimed
    side = Redis.from_url(redis_url)
    try:
        await side.script_flush()
    finally:
        await side.aclose()
    assert await a.ring(ringing("c-6", "leg-2", "agent-2")) == Rung(True, None, ("agent-2",))
    assert await a.health() == "ok"


async def test_a_ring_during_an_outage_pops_here_and_reaches_the_others_on_return(
    pair: tuple[RedisBroker, RedisBroker], redis_server: RedisServer
) -> None:
    """Without Redis a ring claims and pops on this instance; back, the card and the claim are shared."""
    a, b = pair
    pops_a, pops_b = listener(a), listener(b)
    ring = ringing("c-7", "leg-1", "agent-1", "agent-2")
    try:
        redis_server.stop()
        assert await a.ring(ring) == Rung(True, None, ("agent-1", "agent-2"))
        assert await a.ring(ring) == Rung(False)  # dedupe is per instance while Redis is away
        assert pops_a == [("agent-1", "c-7"), ("agent-2", "c-7")]
        redis_server.start()
        await wait_for(lambda: len(pops_b) == 2, 10.0, "the outbox on B", every=0.02)
        await wait_for(lambda: up(b), 10.0, "B back up", every=0.02)
        assert await b.ring(ring) == Rung(False)  # the claim was copied to Redis
        assert (await b.ring(ringing("c-7", "leg-2", "agent-2", "agent-3"))).new == ("agent-3",)
        assert sorted(await settled(a, pops_a)) == [(f"agent-{n}", "c-7") for n in (1, 2, 3)]
    finally:
        if not redis_server.running:
            redis_server.start()


async def up(broker: RedisBroker) -> bool:
    return await broker.health() == "ok"
