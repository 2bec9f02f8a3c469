"""A card version is kept as the call's card as it stands before any agent can see it.

A transfer taken by another instance hands on the card as it stands (the
broker's kept copy).  Were an agent shown a version before it is kept, a
transfer sent right after the agent saw the complete card would hand on the
version before it: the new holder would get a card that never completes.

Instance A talks to the session's Redis through a loopback proxy that can
hold back A's write of the kept card (its request stays in the proxy, so A
waits for it).  While it is held, the test reads the agent's stream in Redis
itself: the version being kept must not be there yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from screenpop.app import create_app
from screenpop.broker.redis_layout import set_key, stream_key, value_key
from screenpop.config import settings_from_mapping
from tests.support.agents import call_status, has_had
from tests.support.redis_hold import CALL, COMPLETE, held, with_slack
from tests.support.service import agent_socket, api, base_config, event_body, post_event, running_app
from tests.support.tokens import token_for

pytestmark = pytest.mark.redis


def config(store_url: str, broker_url: str) -> dict[str, Any]:
    settings = base_config(store_url)
    settings["broker"] = {"url": broker_url}
    return settings


async def test_an_agent_never_has_a_version_before_it_is_kept(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """While A's write of the complete card is held, that card is in no agent's stream; after it, a
    transfer on B hands the complete card to the new holder."""
    async with held(redis_url, COMPLETE) as proxy:
        a = settings_from_mapping(config(pg_url, proxy.url), source="<a>", environ={})
        b = settings_from_mapping(config(pg_url, with_slack(redis_url)), source="<b>", environ={})
        async with (
            running_app(create_app(a)) as (base_a, _),
            running_app(create_app(b)) as (base_b, _),
            agent_socket(base_a, a, "agent-1") as sender,
            agent_socket(base_b, b, "agent-2") as receiver,
            Redis.from_url(redis_url) as redis,
        ):
            assert (await post_event(base_a, event_body(CALL, agent="agent-1")))[0] == 202
            await asyncio.wait_for(proxy.holding.wait(), 10)
            streamed = [fields for _, fields in await redis.xrange(stream_key("agent-1"))]
            proxy.release()
            await sender.card_until_complete(CALL)
            moved = event_body(CALL, event="transferred", agent="agent-2", from_agent="agent-1")
            assert (await post_event(base_b, moved))[0] == 202
            handed = (await receiver.card_until_complete(CALL))[-1]
    assert not any(COMPLETE in value for fields in streamed for value in fields.values()), streamed
    assert handed["card"]["agent"] == "agent-2"
    assert handed["card"]["sections"]["accounting"]["status"] == "ok"


async def test_a_mid_call_update_is_kept_before_an_agent_has_it(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """While A's write of the card an attributes update made is held, no agent's stream has that card."""
    async with held(redis_url, b'"A-9"') as proxy:
        a = settings_from_mapping(config(pg_url, proxy.url), source="<a>", environ={})
        async with (
            running_app(create_app(a)) as (base_a, _),
            agent_socket(base_a, a, "agent-1") as agent,
            Redis.from_url(redis_url) as redis,
        ):
            assert (await post_event(base_a, event_body(CALL, agent="agent-1")))[0] == 202
            await agent.card_until_complete(CALL)
            body = {"attributes": {"account_id": "A-9"}}
            posting = asyncio.ensure_future(
                api(base_a, "POST", f"/api/calls/{CALL}/attributes", token_for(a, "agent-1"), json=body)
            )
            await asyncio.wait_for(proxy.holding.wait(), 10)
            streamed = [fields for _, fields in await redis.xrange(stream_key("agent-1"))]
            proxy.release()
            status, reply = await posting
    assert status == 200, reply
    assert not any(b'"A-9"' in value for fields in streamed for value in fields.values()), streamed


async def test_a_transfer_taken_while_the_complete_card_is_being_kept_still_completes(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """B takes a transfer while A's write of the complete card is held (B hands on the card before it):
    once A's write goes through, the new holder still gets the complete card, as a later version."""
    async with held(redis_url, COMPLETE) as proxy:
        a = settings_from_mapping(config(pg_url, proxy.url), source="<a>", environ={})
        b = settings_from_mapping(config(pg_url, with_slack(redis_url)), source="<b>", environ={})
        async with (
            running_app(create_app(a)) as (base_a, _),
            running_app(create_app(b)) as (base_b, _),
            agent_socket(base_a, a, "agent-1") as sender,
            agent_socket(base_b, b, "agent-2") as receiver,
        ):
            assert (await post_event(base_a, event_body(CALL, agent="agent-1")))[0] == 202
            await asyncio.wait_for(proxy.holding.wait(), 10)
            moved = event_body(CALL, event="transferred", agent="agent-2", from_agent="agent-1")
            assert (await post_event(base_b, moved))[0] == 202
            proxy.release()
            frames = await receiver.card_until_complete(CALL)
            await has_had(sender, call_status(CALL, "transferred"))
    assert not frames[0]["complete"]  # what B handed on: the card before the complete one
    versions = [f["version"] for f in frames]
    assert versions == sorted(set(versions)), versions
    assert frames[-1]["card"]["agent"] == "agent-2"
    assert frames[-1]["card"]["sections"]["accounting"]["status"] == "ok"
    assert [t["to_agent"] for t in frames[-1]["card"]["transfers"]] == ["agent-2"]


async def test_a_transfer_that_read_the_card_before_it_completed_hands_on_the_complete_one(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """B reads the card as it stands while A's complete card is held, and B's move is held until A has
    finished: what B hands on is read after its move, so the new holder gets the complete card."""
    move = set_key(f"recipients:pbx:{CALL}").encode()
    async with held(redis_url, COMPLETE) as hold_a, held(redis_url, b"agent-2", move) as hold_b:
        a = settings_from_mapping(config(pg_url, hold_a.url), source="<a>", environ={})
        b = settings_from_mapping(config(pg_url, hold_b.url), source="<b>", environ={})
        async with (
            running_app(create_app(a)) as (base_a, _),
            running_app(create_app(b)) as (base_b, _),
            agent_socket(base_a, a, "agent-1") as sender,
            agent_socket(base_b, b, "agent-2") as receiver,
        ):
            assert (await post_event(base_a, event_body(CALL, agent="agent-1")))[0] == 202
            await asyncio.wait_for(hold_a.holding.wait(), 10)
            moved = event_body(CALL, event="transferred", agent="agent-2", from_agent="agent-1")
            posting = asyncio.ensure_future(post_event(base_b, moved))
            await asyncio.wait_for(hold_b.holding.wait(), 10)
            hold_a.release()
            await sender.card_until_complete(CALL)  # A has kept and published its last version
            hold_b.release()
            assert (await posting)[0] == 202
            frames = await receiver.card_until_complete(CALL)
    assert frames[-1]["card"]["agent"] == "agent-2"
    assert frames[-1]["card"]["sections"]["accounting"]["status"] == "ok"


async def test_a_ring_stamped_before_a_transfer_never_pops_once_the_transfer_has_moved_the_call(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """A transfer on B (before any ring) while a ring stamped before it arrives on A: however their
    Redis steps interleave, agent-1 does not keep a card of agent-2's call without being told it left."""
    state = value_key(f"call-state:pbx:{CALL}").encode()
    async with held(redis_url, b"transferred:agent-2@", state) as hold_b:
        a = settings_from_mapping(config(pg_url, with_slack(redis_url)), source="<a>", environ={})
        b = settings_from_mapping(config(pg_url, hold_b.url), source="<b>", environ={})
        async with (
            running_app(create_app(a)) as (base_a, _),
            running_app(create_app(b)) as (base_b, _),
            agent_socket(base_a, a, "agent-1") as early,
            agent_socket(base_b, b, "agent-2") as receiver,
        ):
            moved = event_body(
                CALL, event="transferred", agent="agent-2", from_agent="agent-1", at="2026-12-05T10:00:05Z"
            )
            posting = asyncio.ensure_future(post_event(base_b, moved))
            await asyncio.wait_for(hold_b.holding.wait(), 10)
            ring = event_body(CALL, agent="agent-1", at="2026-12-05T10:00:00Z")
            assert (await post_event(base_a, ring))[0] == 202
            hold_b.release()
            assert (await posting)[0] == 202
            await receiver.card_until_complete(CALL)
            with contextlib.suppress(TimeoutError):  # whatever A sends agent-1, until it goes quiet
                for _ in range(50):
                    await early.next(0.5)
    frames = [json.loads(t) for t in early.raw if json.loads(t).get("call_id") == CALL]
    shown = [f.get("status", "card") for f in frames]
    assert not shown or shown[-1] == "transferred", shown
