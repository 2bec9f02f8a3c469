"""Card versions of one call published by two instances of one real Redis never share a number.

Instance A builds the card; instance B, taking a transfer or a ring after
one, hands on the card as it stands under a number it reserves.  A socket
drops a card whose version is not newer than one it has, so a number B
handed on must never come back from A with other sections: A's later
versions are numbered above it (docs/transfers.md, "Across instances").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from redis.asyncio import Redis

from screenpop.broker.redis_layout import FANOUT_KEY, value_key
from screenpop.config import Settings, settings_from_mapping
from screenpop.connector_api import LookupResult
from screenpop.testing import ScriptedConnector
from screenpop.transfers import StoredCard
from tests.support.agents import call_status, read_until
from tests.support.redis_hold import COMPLETE, held, with_slack
from tests.support.service import agent_socket, base_config, event_body, post_event, running
from tests.support.waiting import wait_for

GATED = "tests.e2e.test_transfer_version_numbers:GatedConnector"


class GatedConnector(ScriptedConnector):
    """A scripted connector that answers once the test opens its gate: the last version waits for it."""

    gate: ClassVar[asyncio.Event | None] = None

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        if GatedConnector.gate is not None:
            await GatedConnector.gate.wait()
        return await super().lookup(params)


async def kept_views(redis_url: str, call_id: str) -> list[dict[str, Any]]:
    """The call's kept card (the card as it stands, in Redis), one parsed body per view."""
    async with Redis.from_url(redis_url, decode_responses=True) as redis:
        text = await redis.get(value_key(f"card:pbx:{call_id}"))
    return [] if text is None else [json.loads(v.body) for v in StoredCard.from_text(text).views]


async def until_only_held_pending(redis_url: str, call_id: str) -> None:
    """Wait (bounded) until A has kept the version with every section but the gated one."""

    async def only_held_pending() -> bool:
        views = await kept_views(redis_url, call_id)
        sections = [s for v in views for n, s in v["card"]["sections"].items() if n != "held"]
        return bool(views) and all(s["status"] != "pending" for s in sections)

    await wait_for(only_held_pending, 5.0, "the fast sections kept", every=0.01)


def gated_settings(tmp_path: Path, broker_url: str) -> Settings:
    """The test config, with a gated section and a deadline that never cuts it off."""
    store = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    config = base_config(store, broker={"url": broker_url}, card={"deadline_ms": 30_000})
    config["connectors"].append({"name": "held", "kind": GATED, "timeout_ms": 30_000, "rows": {}})
    return settings_from_mapping(config, source="<test>", environ={})


async def test_a_queue_ringing_on_another_instance_between_two_versions_gets_the_complete_card(
    tmp_path: Path, redis_url: str
) -> None:
    """A queue rings agent-2 on B while A waits for its last section: agent-2 and the kept card end complete.

    B hands agent-2 the card as the version after the transfer's; A then
    followed the transfer and numbered its complete card from its own count,
    the same number: agent-2's socket dropped it as not newer, and the kept
    card stayed B's incomplete one (a later transfer would hand that on).
    """
    GatedConnector.gate = gate = asyncio.Event()
    settings = gated_settings(tmp_path, with_slack(redis_url))
    try:
        async with (
            running(settings) as a,
            running(settings) as b,
            agent_socket(a, settings, "agent-1") as one,
            agent_socket(b, settings, "agent-2") as two,
        ):
            await post_event(a, event_body("c-q3", agent="agent-1"))
            await until_only_held_pending(redis_url, "c-q3")
            moved = event_body("c-q3", "transferred", agent="600", from_agent="agent-1")
            assert (await post_event(b, moved))[0] == 202
            await read_until(one, call_status("c-q3", "transferred"))
            assert (await post_event(b, event_body("c-q3", queue="support")))[0] == 202
            handed = await two.next(5.0)
            assert (handed["type"], handed["call_id"], handed["complete"]) == ("card", "c-q3", False)
            gate.set()
            frames = await two.card_until_complete("c-q3")
    finally:
        GatedConnector.gate = None
    assert frames[-1]["version"] > handed["version"]
    assert frames[-1]["card"]["sections"]["held"]["status"] == "not_found"
    assert [v["complete"] for v in await kept_views(redis_url, "c-q3")] == [True, True]


async def test_a_ring_handed_on_under_a_number_kept_meanwhile_is_handed_on_again_under_the_next(
    tmp_path: Path, redis_url: str
) -> None:
    """A keeps its complete card under the number B reserved for the queue ring: B hands on that card.

    B's write of the card it hands on is held in a proxy until A has kept
    its complete card under that number (A's publish is held then, so B's
    frame reaches agent-2 first).  B published the card it had read, under
    the number of A's complete card, and agent-2's socket dropped A's.
    """
    GatedConnector.gate = gate = asyncio.Event()
    card_key = value_key("card:pbx:c-q4").encode()
    try:
        async with (
            held(redis_url, b"\x00 not yet", card_key) as hold_b,
            held(redis_url, COMPLETE, FANOUT_KEY.encode()) as hold_a,
        ):
            a_settings = gated_settings(tmp_path, hold_a.url)
            b_settings = gated_settings(tmp_path, hold_b.url)
            async with (
                running(a_settings) as a,
                running(b_settings) as b,
                agent_socket(a, a_settings, "agent-1") as one,
                agent_socket(b, b_settings, "agent-2") as two,
            ):
                await post_event(a, event_body("c-q4", agent="agent-1"))
                await until_only_held_pending(redis_url, "c-q4")
                moved = event_body("c-q4", "transferred", agent="600", from_agent="agent-1")
                assert (await post_event(b, moved))[0] == 202
                await read_until(one, call_status("c-q4", "transferred"))
                hold_b.needle = b'"agent":"600"'  # the card the queue ring hands on
                ringing = asyncio.ensure_future(post_event(b, event_body("c-q4", queue="support")))
                await asyncio.wait_for(hold_b.holding.wait(), 10)
                gate.set()
                await asyncio.wait_for(hold_a.holding.wait(), 10)
                hold_b.release()
                assert (await ringing)[0] == 202
                frames = [await two.next(5.0)]
                hold_a.release()
                if not frames[0]["complete"]:
                    frames += await two.card_until_complete("c-q4")
    finally:
        GatedConnector.gate = None
    assert frames[-1]["card"]["sections"]["held"]["status"] == "not_found"
    assert [v["complete"] for v in await kept_views(redis_url, "c-q4")] == [True, True]
