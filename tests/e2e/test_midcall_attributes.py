"""Attributes posted during a call (``POST /api/calls/{call_id}/attributes``) across two instances.

Two real `screenpop serve` processes share the session's Redis and a fresh
PostgreSQL database; the connectors are `http` connectors against a local
API that counts every request, so that what re-ran is counted, not inferred.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.support.agents import call_status, complete_card, read_until
from tests.support.processes import HitServer, Service, agent_on, hit_server, ring, service_config, services
from tests.support.service import ADA, Agent, api
from tests.support.tokens import token_for
from tests.support.waiting import wait_for


def connectors(hits: HitServer) -> list[dict[str, Any]]:
    """By number; by the `account_id` attribute; what `needs` the account; by the `tier` attribute."""

    def http(name: str, path: str, parameter: str, **extra: Any) -> dict[str, Any]:
        url = f"{hits.url}/{path}?phone={{{parameter}}}"
        select = {"name": "$.items[0].full_name"}
        return {"name": name, "kind": "http", "url": url, "select": select, **extra}

    return [
        http("by_phone", "phone", "e164"),
        http("account", "account", "attr_account_id", identity={"name": "name"}),
        http("orders", "orders", "account_name", needs=["account.name"]),
        http("tier", "tier", "attr_tier"),
    ]


async def post_attributes(service: Service, agent_id: str, call_id: str, body: Any) -> tuple[int, Any]:
    token = token_for(service.settings, agent_id)
    return await api(service.base, "POST", f"/api/calls/{call_id}/attributes", token, json=body)


def last_card(agent: Agent, call_id: str) -> dict[str, Any]:
    cards = [json.loads(t) for t in agent.raw]
    return [c for c in cards if c.get("type") == "card" and c["call_id"] == call_id][-1]


async def test_attributes_posted_mid_call_rerun_the_dependent_sections_on_both_instances(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """`account_id` posted to B re-runs `account` and `orders` only; agents on A and B get new versions."""
    async with hit_server() as hits:
        config = service_config(pg_url, redis_url, connectors(hits))
        async with (
            services(tmp_path, a=config, b=config) as started,
            agent_on(started["a"], "agent-1") as on_a,
            agent_on(started["b"], "agent-2") as on_b,
        ):
            a, b = started["a"], started["b"]
            status, _ = await ring(a, "c-mid", queue="support", attributes={"tier": "gold"})
            assert status == 202
            first = await asyncio.gather(on_a.card_until_complete("c-mid"), on_b.card_until_complete("c-mid"))
            before = first[0][-1]
            assert before["version"] == first[1][-1]["version"]
            assert before["card"]["sections"]["account"]["error"] == "no attribute account_id"
            assert before["card"]["sections"]["orders"]["status"] == "skipped"
            assert dict(hits.hits) == {("/phone", ADA): 1, ("/tier", "gold"): 1}

            body = {"attributes": {"account_id": "A-77", "tier": "gold"}}  # tier unchanged
            status, reply = await post_attributes(b, "agent-2", "c-mid", body)
            assert status == 200, reply
            assert reply["rerun"] == ["account", "orders"]
            done = complete_card("c-mid")
            await asyncio.gather(read_until(on_a, done), read_until(on_b, done))
            after_a, after_b = last_card(on_a, "c-mid"), last_card(on_b, "c-mid")

        assert after_a["version"] == after_b["version"] == reply["version"] > before["version"]
        card = after_a["card"]
        assert card == after_b["card"]
        assert card["attributes"] == {"tier": "gold", "account_id": "A-77"}
        assert card["sections"]["account"]["data"] == {"name": "Caller A-77"}
        assert card["sections"]["orders"]["status"] == "ok"
        assert card["customer"]["found_by"] == "attribute:account_id"
        # the unchanged sections stand as they were, and were not asked again
        for name in ("by_phone", "tier"):
            assert card["sections"][name] == before["card"]["sections"][name]
        assert dict(hits.hits) == {
            ("/phone", ADA): 1,
            ("/tier", "gold"): 1,
            ("/account", "A-77"): 1,
            ("/orders", "Caller A-77"): 1,
        }


async def test_the_listed_summary_follows_a_mid_call_update(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """A customer found by an attribute posted on B is the one `/api/calls` lists on A (it kept 'nobody')."""

    async def listed_summary() -> Any:
        token = token_for(a.settings, "agent-1")
        status, body = await api(a.base, "GET", "/api/calls?limit=1", token)
        assert status == 200, body
        summary = body["calls"][0]["summary"]
        return summary if summary and summary["customer"]["name"] == "Caller A-5" else None

    async with hit_server() as hits:
        config = service_config(pg_url, redis_url, connectors(hits))
        async with (
            services(tmp_path, a=config, b=config) as started,
            agent_on(started["a"], "agent-1") as agent,
        ):
            a, b = started["a"], started["b"]
            assert (await ring(a, "c-sum", agent="agent-1"))[0] == 202
            await agent.card_until_complete("c-sum")
            status, reply = await post_attributes(
                b, "agent-1", "c-sum", {"attributes": {"account_id": "A-5"}}
            )
            assert status == 200, reply
            await read_until(agent, lambda f: complete_card("c-sum")(f) and f["version"] == reply["version"])
            summary = await wait_for(listed_summary, 10.0, "the updated summary in /api/calls")
    assert summary["sections"]["account"] == summary["sections"]["orders"] == "ok"
    assert summary["customer"]["found_by"] == "attribute:account_id"


async def test_attributes_are_refused_for_an_unknown_call_an_outsider_and_a_bad_key(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """404 for a call no one received, 403 for an agent who did not receive it, 400 naming a bad key."""
    async with hit_server() as hits:
        config = service_config(pg_url, redis_url, connectors(hits))
        async with services(tmp_path, a=config) as started, agent_on(started["a"], "agent-1") as agent:
            a = started["a"]
            await ring(a, "c-own", agent="agent-1")
            await agent.card_until_complete("c-own")
            good = {"attributes": {"account_id": "A-1"}}
            unknown = await post_attributes(a, "agent-1", "c-nobody", good)
            outsider = await post_attributes(a, "agent-2", "c-own", good)
            bad_key = await post_attributes(a, "agent-1", "c-own", {"attributes": {"Account": "A-1"}})
            empty = await post_attributes(a, "agent-1", "c-own", {"attributes": {}})
    assert (unknown[0], unknown[1]["error"]["code"]) == (404, "not_found")
    assert (outsider[0], outsider[1]["error"]["code"]) == (403, "forbidden")
    assert (bad_key[0], bad_key[1]["error"]["code"]) == (400, "bad_request")
    assert "'Account'" in bad_key[1]["error"]["message"]
    assert empty[0] == 400


async def test_attributes_after_a_transfer_update_the_card_the_new_holder_has(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """A transfer on B after the card was complete, then an update on A: the next version, transfers kept.

    The update's re-run starts from the card as the transfer left it (its
    holder, transfers and hand-off) and takes a version after the
    transfer's, so the new holder never sees two cards of one version; the
    agent the call left may no longer change it.
    """
    async with hit_server() as hits:
        config = service_config(pg_url, redis_url, connectors(hits))
        async with (
            services(tmp_path, a=config, b=config) as started,
            agent_on(started["a"], "agent-1") as sender,
            agent_on(started["b"], "agent-2") as receiver,
        ):
            a, b = started["a"], started["b"]
            assert (await ring(a, "c-tx", agent="agent-1"))[0] == 202
            await sender.card_until_complete("c-tx")
            status, _ = await ring(b, "c-tx", event="transferred", agent="agent-2", from_agent="agent-1")
            assert status == 202
            moved = (await receiver.card_until_complete("c-tx"))[-1]
            await read_until(sender, call_status("c-tx", "transferred"))

            body = {"attributes": {"account_id": "A-9"}}
            refused = await post_attributes(a, "agent-1", "c-tx", body)
            status, reply = await post_attributes(a, "agent-2", "c-tx", body)
            assert status == 200, reply
            await read_until(
                receiver, lambda f: complete_card("c-tx")(f) and f["version"] == reply["version"]
            )
            await sender.ws.send(json.dumps({"type": "ping"}))
            await read_until(sender, lambda f: f["type"] == "pong")

    assert refused[0] == 403
    assert reply["version"] > moved["version"]
    cards = [json.loads(t) for t in receiver.raw]
    seen = [c["version"] for c in cards if c.get("type") == "card" and c["call_id"] == "c-tx"]
    assert seen == sorted(set(seen)), seen  # rising, never the same version twice
    card = last_card(receiver, "c-tx")["card"]
    assert card["agent"] == "agent-2"
    assert [(t["from_agent"], t["to_agent"]) for t in card["transfers"]] == [("agent-1", "agent-2")]
    assert card["attributes"] == {"account_id": "A-9"}
    assert card["sections"]["account"]["data"] == {"name": "Caller A-9"}
    sender_cards = [json.loads(t) for t in sender.raw]
    assert all(c["version"] < moved["version"] for c in sender_cards if c.get("type") == "card")


async def test_two_updates_at_once_on_two_instances_both_hold(
    tmp_path: Path, redis_url: str, pg_url: str
) -> None:
    """`account_id` posted to A and `tier` posted to B at the same moment: the last card has both.

    The connectors answer slowly, so both updates would read the kept card
    before either saved it; each takes its turn instead and merges into
    what the other saved.
    """
    async with hit_server(delay_s=0.3) as hits:
        config = service_config(pg_url, redis_url, connectors(hits))
        async with (
            services(tmp_path, a=config, b=config) as started,
            agent_on(started["a"], "agent-1") as on_a,
        ):
            a, b = started["a"], started["b"]
            assert (await ring(a, "c-both", agent="agent-1"))[0] == 202
            await on_a.card_until_complete("c-both")
            replies = await asyncio.gather(
                post_attributes(a, "agent-1", "c-both", {"attributes": {"account_id": "A-5"}}),
                post_attributes(b, "agent-1", "c-both", {"attributes": {"tier": "gold"}}),
            )
            assert [status for status, _ in replies] == [200, 200], replies
            last = max(reply["version"] for _, reply in replies)
            await read_until(on_a, lambda f: complete_card("c-both")(f) and f["version"] == last)
    card = last_card(on_a, "c-both")["card"]
    assert card["attributes"] == {"account_id": "A-5", "tier": "gold"}
    assert card["sections"]["account"]["data"] == {"name": "Caller A-5"}
    assert card["sections"]["tier"]["status"] == "ok"
