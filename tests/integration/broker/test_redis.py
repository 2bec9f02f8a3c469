"""The Redis broker against a real Redis: fan-out across instances, replay, dedupe, outages.

"Nothing more arrives" is shown by a marker frame published afterwards: frames
reach a handler in publish order, so once the marker is in, any duplicate
would have been in before it.  How fast frames travel is measured in
``bench/components.py``, not asserted here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest
from redis.asyncio import Redis

from screenpop.broker import Delivery, id_key
from screenpop.broker.redis import RedisBroker
from tests.support.broker_frames import Received, card, recorder, text, until, until_health
from tests.support.servers import RedisServer

pytestmark = pytest.mark.redis


async def replayed(broker: RedisBroker, agent_id: str, after: str) -> tuple[list[tuple[str, str]], bool]:
    """``broker.replay`` as (event id, frame) pairs."""
    messages, complete = await broker.replay(agent_id, after)
    return [(m.event_id, text(m)) for m in messages], complete


MARKER = Delivery("agent-marker", json.dumps({"type": "marker"}))  # its own stream: replays stay clean


def is_marker(frame: str) -> bool:
    return bool(json.loads(frame).get("type") == "marker")


async def after_marker(broker: RedisBroker, got: Received) -> Received:
    """Publish a marker on ``broker``, wait until it is in ``got``, and return what came before it."""
    await broker.publish([MARKER])
    assert await until(lambda: any(is_marker(f) for _, _, f in got)), "the marker never arrived"
    return [entry for entry in got if not is_marker(entry[2])]


async def test_frame_reaches_remote_handler_once_and_local_handler_once(
    pair: tuple[RedisBroker, RedisBroker],
) -> None:
    """A frame published on A is handed to A's handler directly and to B's through Redis, once each."""
    a, b = pair
    got_a, handler_a = recorder()
    got_b, handler_b = recorder()
    a.listen(handler_a)
    b.listen(handler_b)
    await a.publish([Delivery("agent-1", '{"type":"card","call_id":"c-1"}')])
    assert len(got_a) == 1  # the local agent does not wait for pub/sub
    assert await until(lambda: len(got_b) == 1)
    assert await after_marker(a, got_b) == await after_marker(a, got_a) == got_a[:1]
    agent, event_id, frame = got_a[0]
    assert agent == "agent-1"
    assert json.loads(frame) == {"event_id": event_id, "type": "card", "call_id": "c-1"}


async def test_ids_sort_in_publish_order_across_instances(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """Messages published alternately on two instances carry ids that sort in publish order."""
    a, b = pair
    got, handler = recorder()
    a.listen(handler)
    for n in range(20):
        await (a if n % 2 == 0 else b).publish([card(n)])
    assert await until(lambda: len(got) == 20)
    got = await after_marker(b, got)
    assert [json.loads(frame)["n"] for _, _, frame in got] == list(range(20))
    keys = [id_key(event_id) for _, event_id, _ in got]
    assert keys == sorted(keys)
    assert len(set(keys)) == 20


async def test_batch_of_deliveries_reaches_each_agent(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """One publish for a queue of agents reaches every one of them on the other instance."""
    a, b = pair
    got, handler = recorder()
    b.listen(handler)
    agents = [f"agent-{i}" for i in range(50)]
    await a.publish([Delivery(agent, '{"type":"card"}') for agent in agents])
    assert await until(lambda: len(got) == 50)
    assert [agent for agent, _, _ in got] == agents


async def test_replay_gives_exactly_the_later_frames_in_order(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """Replay after an id returns the frames published after it, in order, once, and says complete."""
    a, b = pair
    got, handler = recorder()
    a.listen(handler)
    start = await b.latest_id("agent-1")
    for n in range(6):
        await (a if n % 2 else b).publish([card(n)])
    assert await until(lambda: len(got) == 6)
    frames, complete = await replayed(b, "agent-1", got[2][1])
    assert complete is True
    assert frames == [(event_id, frame) for _, event_id, frame in got[3:]]
    everything, complete = await replayed(a, "agent-1", start)
    assert complete is True
    assert [json.loads(f)["n"] for _, f in everything] == list(range(6))
    assert await b.latest_id("agent-1") == got[-1][1]
    assert await replayed(a, "agent-1", got[-1][1]) == ([], True)


async def test_replay_of_a_position_older_than_the_window_is_incomplete(redis_url: str) -> None:
    """A frame that fell out of the window is not replayed, and the replay says it is incomplete."""
    broker = RedisBroker(redis_url, replay_s=1)
    await broker.start()
    try:
        before = await broker.latest_id("agent-1")
        await broker.publish([card(1)])
        first = await broker.latest_id("agent-1")
        await asyncio.sleep(1.2)  # allow-sleep: the replay window runs on Redis's own clock (TIME)
        await broker.publish([card(2)])
        frames, complete = await replayed(broker, "agent-1", before)
        assert complete is False
        assert [json.loads(f)["n"] for _, f in frames] == [2]
        frames, complete = await replayed(broker, "agent-1", first)
        assert complete is True
        assert [json.loads(f)["n"] for _, f in frames] == [2]
    finally:
        await broker.close()


async def test_unknown_or_unreadable_positions_are_incomplete(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """Ids from before this Redis's history, from the future, or not ids at all are never 'recovered'."""
    a, _ = pair
    await a.publish([card(1)])
    for position in ["1-0", "junk", "", f"{2**70}-1", f"{(time.time() + 3600) * 1000:.0f}-0"]:
        frames, complete = await replayed(a, "agent-1", position)
        assert complete is False, position
    frames, complete = await replayed(a, "agent-1", "junk")
    assert [json.loads(f)["n"] for _, f in frames] == [1]


async def test_latest_id_of_an_agent_without_messages_precedes_the_next_message(
    pair: tuple[RedisBroker, RedisBroker],
) -> None:
    """Resuming from the position given before any message replays the first message."""
    a, b = pair
    position = await a.latest_id("agent-9")
    frames, complete = await replayed(a, "agent-9", position)
    assert (frames, complete) == ([], True)
    await b.publish([Delivery("agent-9", '{"type":"call"}')])
    frames, complete = await replayed(a, "agent-9", position)
    assert complete is True
    assert len(frames) == 1


async def test_claim_is_true_once_across_instances(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """The duplicate guard lets exactly one of many concurrent claims on two instances win."""
    a, b = pair
    results = await asyncio.gather(*[(a if i % 2 else b).claim("pbx:c-1:ringing", 600) for i in range(10)])
    assert results.count(True) == 1
    assert await a.claim("pbx:c-2:ringing", 600) is True
    await a.put("answered:c-1", "agent-2", 60)
    assert await b.get("answered:c-1") == "agent-2"
    assert await b.get("missing") is None


async def test_claim_and_get_in_one_trip_and_release(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """claim_and_get claims once across instances and reads a key; a released claim is taken again."""
    a, b = pair
    await b.put("call-state:c-9", "answered:agent-2", 60)
    assert await a.claim_and_get("ring:c-9", 600, "call-state:c-9") == (True, "answered:agent-2")
    assert await b.claim_and_get("ring:c-9", 600, "nothing") == (False, None)
    await b.release("ring:c-9")
    assert await a.claim("ring:c-9", 600) is True


async def test_outage_keeps_local_delivery_and_recovers_by_itself(
    pair: tuple[RedisBroker, RedisBroker], redis_server: RedisServer
) -> None:
    """With Redis stopped, local agents still get cards and health says down; after restart all resumes."""
    a, b = pair
    got_a, handler_a = recorder()
    got_b, handler_b = recorder()
    a.listen(handler_a)
    b.listen(handler_b)
    try:
        redis_server.stop()
        await a.publish([card(1)])
        assert len(got_a) == 1
        assert await until_health(a, b, lambda h: h.startswith("down: "), within_s=1.0)
        await a.publish([card(2)])
        assert [json.loads(f)["n"] for _, _, f in got_a] == [1, 2]
        assert await b.claim("pbx:c-9:ringing", 600) is True
        assert await b.claim("pbx:c-9:ringing", 600) is False
        assert await a.health() == "down: connection refused"
        redis_server.start()
        assert await until_health(a, b, lambda h: h == "ok", within_s=5.0)
        assert await until(lambda: len(got_b) == 2)  # the outbox reached the other instance
        await a.publish([card(3)])
        # A has handed out every fan-out entry up to its own by now: the flushed ones not again
        assert [json.loads(f)["n"] for _, _, f in got_a] == [1, 2, 3]
        assert await until(lambda: len(got_b) == 3)
        frames, _ = await replayed(b, "agent-1", "0-0")
        assert [json.loads(f)["n"] for _, f in frames] == [1, 2, 3]
        assert [eid for eid, _ in frames][:2] == [event_id for _, event_id, _ in got_a[:2]]
        assert await a.claim("pbx:c-9:ringing", 600) is False  # the local claim was copied back
    finally:
        if not redis_server.running:
            redis_server.start()


async def test_replay_during_an_outage_is_honestly_incomplete(
    redis_url: str, redis_server: RedisServer
) -> None:
    """Without Redis, replay offers what this instance kept and never claims to be complete."""
    broker = RedisBroker(redis_url, 300)
    await broker.start()
    try:
        position = await broker.latest_id("agent-1")
        redis_server.stop()
        await broker.publish([card(1)])
        frames, complete = await replayed(broker, "agent-1", position)
        assert complete is False
        assert [json.loads(f)["n"] for _, f in frames] == [1]
        assert id_key(await broker.latest_id("agent-1")) >= id_key(frames[0][0])
    finally:
        await broker.close()
        if not redis_server.running:
            redis_server.start()


async def test_broker_starts_and_closes_cleanly_while_redis_is_down(redis_server: RedisServer) -> None:
    """A broker whose Redis never answers still starts, reports why, and closes without leftovers."""
    broker = RedisBroker("redis://127.0.0.1:1/0", 300)
    await broker.start()
    assert await broker.health() == "down: connection refused"
    got, handler = recorder()
    broker.listen(handler)
    await broker.publish([card(1)])
    assert len(got) == 1
    await broker.close()


async def test_a_redis_down_at_start_is_said_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """``serve`` with its Redis away printed nothing: only /readyz's 503 told why cards did not cross."""
    broker = RedisBroker("redis://127.0.0.1:1/0", 300)
    with caplog.at_level("WARNING", logger="screenpop.broker.redis"):
        await broker.start()
    await broker.close()
    said = [r.getMessage() for r in caplog.records if r.name == "screenpop.broker.redis"]
    assert any("connection refused" in line and "retried" in line for line in said), said


async def test_a_hung_redis_is_noticed_and_local_agents_keep_getting_cards(
    pair: tuple[RedisBroker, RedisBroker], redis_server: RedisServer
) -> None:
    """A Redis that stops answering (SIGSTOP, no EOF) is reported down by the health PINGs, then heals."""
    a, b = pair
    got_a, handler_a = recorder()
    got_b, handler_b = recorder()
    a.listen(handler_a)
    b.listen(handler_b)
    client = Redis.from_url(redis_server.url)
    pid = int((await client.info("server"))["process_id"])
    await client.aclose()
    os.kill(pid, signal.SIGSTOP)
    try:
        assert await until_health(a, b, lambda h: h == "down: timeout", within_s=3.0)
        await a.publish([card(1)])
        assert len(got_a) == 1
    finally:
        os.kill(pid, signal.SIGCONT)
    assert await until_health(a, b, lambda h: h == "ok", within_s=5.0)
    assert await until(lambda: len(got_b) == 1)
    await b.publish([card(2)])
    assert await until(lambda: len(got_a) == 2)


async def test_a_dropped_connection_loses_and_repeats_no_frames(
    pair: tuple[RedisBroker, RedisBroker], redis_url: str
) -> None:
    """Frames published just after an instance's Redis connections were killed reach it once, in order."""
    a, b = pair
    got_b, handler_b = recorder()
    b.listen(handler_b)
    admin = Redis.from_url(redis_url, decode_responses=True)
    try:
        for client in await admin.client_list():
            if client["name"] == f"screenpop:{b.instance_id}":
                await admin.client_kill_filter(_id=client["id"])
        await a.publish([card(1)])
        await a.publish([card(2)])
        assert await until(lambda: len(got_b) == 2)
        assert [json.loads(f)["n"] for _, _, f in await after_marker(a, got_b)] == [1, 2]
        await b.publish([card(3)])
        frames, complete = await replayed(a, "agent-1", got_b[0][1])
        assert complete is True
        assert [json.loads(f)["n"] for _, f in frames] == [2, 3]
    finally:
        await admin.aclose()
