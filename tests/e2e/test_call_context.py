"""Calls beyond the caller's number, over loopback: attributes, lines, direction (SPEC 3).

Each test runs the real application with real agent websockets, signed
generic webhooks and real `sql` connectors on SQLite files in the test's
temporary directory; the secret test adds the session's real Redis as broker
and section cache.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from screenpop.errors import ConfigError
from tests.support.service import (
    ADA,
    agent_socket,
    api,
    event_body,
    make,
    post_event,
    running,
)
from tests.support.tokens import token_for

GRACE_PHONE = "+12025550100"
SECRET_PIN = "pin-7781-zq"  # a value found nowhere else, so that a grep for it means a leak


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


@pytest.fixture
def customers_url(tmp_path: Path) -> str:
    """A customer table whose only customer has a phone number no test call comes from."""
    path = tmp_path / "customers.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (account_id TEXT, name TEXT, phone TEXT, pin TEXT)")
        db.execute("INSERT INTO customers VALUES ('A-77', 'Grace Hopper', ?, ?)", (GRACE_PHONE, SECRET_PIN))
    return f"sqlite+aiosqlite:///{path}"


def sql(name: str, url: str, query: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "sql", "url": url, "query": query, **extra}


def ivr_connectors(url: str) -> list[dict[str, Any]]:
    """By number (finds nothing for Ada), by the IVR's account number, by an order number, by a PIN."""
    identity = {"id": "account_id", "name": "name"}
    return [
        sql("by_phone", url, "SELECT account_id, name FROM customers WHERE phone = :e164", identity=identity),
        sql(
            "accounts",
            url,
            "SELECT account_id, name FROM customers WHERE account_id = :attr_account_id",
            identity=identity,
        ),
        sql("orders", url, "SELECT account_id FROM customers WHERE account_id = :attr_order_id"),
        sql(
            "verified",
            url,
            "SELECT 'yes' AS pin_ok, :line AS line, :direction AS direction, :call_id AS call_id "
            "FROM customers WHERE account_id = :attr_account_id AND pin = :attr_secret_pin",
            cache_ttl_s=30,
        ),
    ]


async def test_an_ivr_account_number_finds_a_customer_the_number_does_not(
    store_url: str, customers_url: str
) -> None:
    """`attr_account_id` finds Grace on a call from Ada's number; one naming a missing key is skipped."""
    settings = make(store_url, connectors=ivr_connectors(customers_url), roles={})
    attributes = {"account_id": "A-77", "secret_pin": SECRET_PIN, "verified_by_bot": True, "tries": 2}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        status, _ = await post_event(base, event_body("c-ivr", agent="agent-1", attributes=attributes))
        assert status == 202
        final = (await agent.card_until_complete("c-ivr"))[-1]["card"]
    sections = final["sections"]
    assert sections["by_phone"]["status"] == "not_found"
    assert sections["accounts"]["data"] == {"account_id": "A-77", "name": "Grace Hopper"}
    assert final["customer"]["name"] == "Grace Hopper"
    assert final["customer"]["found_by"] == "attribute:account_id"
    assert sections["orders"] == {
        "status": "skipped",
        "elapsed_ms": 0,
        "title": "Orders",
        "error": "no attribute order_id",
    }
    assert sections["verified"]["data"] == {
        "pin_ok": "yes",
        "line": "",
        "direction": "inbound",
        "call_id": "c-ivr",
    }
    assert final["attributes"] == {"account_id": "A-77", "verified_by_bot": True, "tries": 2}
    assert (final["direction"], final["line"]) == ("inbound", None)


async def test_a_customer_found_by_number_says_so(store_url: str) -> None:
    """Without attributes the card's customer is `found_by: number`, and it carries no attributes."""
    settings = make(store_url)
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-num", agent="agent-1"))
        final = (await agent.card_until_complete("c-num"))[-1]["card"]
    assert (final["customer"]["found_by"], final["attributes"]) == ("number", {})


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"Account": "A-77"}, "'Account'"),
        ({"account-id": "A-77"}, "'account-id'"),
        ({"a" * 41: "x"}, "'" + "a" * 41 + "'"),
        ({"account_id": {"nested": 1}}, "'account_id'"),
        ({"account_id": None}, "'account_id'"),
        ({"account_id": "x" * 1001}, "'account_id'"),
        ({f"k{i}": i for i in range(51)}, "at most 50"),
        ({"record_id": 10**400}, "'record_id'"),  # JSON.parse in the widget: Infinity
        ({"record_id": -(2**53)}, "send it as a string"),  # JSON.parse: rounded
    ],
)
async def test_a_bad_attribute_is_refused_naming_it(
    store_url: str, attributes: dict[str, Any], named: str
) -> None:
    """A key outside [a-z][a-z0-9_]{0,39}, a value that is not text, number or boolean: 400 naming it."""
    settings = make(store_url)
    async with running(settings) as base:
        status, body = await post_event(base, event_body("c-bad", agent="agent-1", attributes=attributes))
    assert (status, body["error"]["code"]) == (400, "bad_request"), body
    assert named in body["error"]["message"]


async def test_the_largest_integer_a_browser_holds_exactly_is_an_attribute(store_url: str) -> None:
    """2^53 - 1 (JavaScript's MAX_SAFE_INTEGER) is accepted and reaches the agent's card exactly."""
    settings = make(store_url)
    largest = 2**53 - 1
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        body = event_body("c-big", agent="agent-1", attributes={"record_id": largest})
        assert (await post_event(base, body))[0] == 202
        final = (await agent.card_until_complete("c-big"))[-1]["card"]
    assert final["attributes"] == {"record_id": largest}


async def test_lookup_api_takes_attr_parameters(store_url: str, customers_url: str) -> None:
    """`GET /api/lookup?number=N&attr_account_id=A-77` looks the customer up by the attribute."""
    settings = make(store_url, connectors=ivr_connectors(customers_url), roles={})
    token = token_for(settings, "agent-3")
    async with running(settings) as base:
        query = {"number": ADA, "attr_account_id": "A-77", "attr_secret_pin": SECRET_PIN}
        status, card = await api(base, "GET", "/api/lookup", token, params=query)
        assert status == 200, card
        assert card["customer"]["name"] == "Grace Hopper" and card["sections"]["verified"]["data"]["pin_ok"]
        assert card["attributes"] == {"account_id": "A-77"} and SECRET_PIN not in json.dumps(card)
        status, bad = await api(base, "GET", "/api/lookup", token, params={"number": ADA, "attr_X": "1"})
    assert (status, bad["error"]["code"]) == (400, "bad_request") and "'X'" in bad["error"]["message"]


async def redis_dump(url: str) -> str:
    """Every key of the Redis and every value, member and stream entry under it, as one text."""
    client = aioredis.from_url(url, decode_responses=False)
    parts: list[str] = []
    try:
        async for key in client.scan_iter(count=500):
            kind = (await client.type(key)).decode()
            parts.append(f"{key!r} {kind} {await _read(client, key, kind)!r}")
    finally:
        await client.aclose()
    return "\n".join(parts)


async def _read(client: Any, key: bytes, kind: str) -> Any:
    if kind == "string":
        return await client.get(key)
    if kind == "hash":
        return await client.hgetall(key)
    if kind == "set":
        return await client.smembers(key)
    if kind == "zset":
        return await client.zrange(key, 0, -1, withscores=True)
    if kind == "list":
        return await client.lrange(key, 0, -1)
    return await client.xrange(key)  # a stream: every entry


def store_bytes(folder: Path) -> bytes:
    """The SQLite store's files (the database, its WAL and shared memory) as they are on disk."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("store.db*")))


async def test_secret_attributes_reach_the_lookup_and_nothing_else(
    tmp_path: Path,
    store_url: str,
    customers_url: str,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A `secret_` attribute finds the row, yet is in no store file, log line, Redis key or value, frame."""
    caplog.set_level(logging.DEBUG)
    broker = {"url": redis_url}
    settings = make(store_url, connectors=ivr_connectors(customers_url), roles={}, broker=broker)
    token = token_for(settings, "agent-1")
    attributes = {"account_id": "A-77", "secret_pin": SECRET_PIN}
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        await post_event(base, event_body("c-pin", agent="agent-1", attributes=attributes))
        final = (await agent.card_until_complete("c-pin"))[-1]["card"]
        assert final["sections"]["verified"]["data"]["pin_ok"] == "yes"  # the secret did reach the lookup
        status, listed = await api(base, "GET", "/api/calls", token)  # flushes the call records first
        assert status == 200 and [c["call_id"] for c in listed["calls"]] == ["c-pin"]
        note = {"disposition": "resolved", "notes": "verified"}
        assert (await api(base, "POST", "/api/calls/c-pin/notes", token, json=note))[0] == 201
        in_redis = await redis_dump(redis_url)
        assert "c-pin" in in_redis  # the dump does see this call's keys and stream entries
    stored = store_bytes(tmp_path)
    assert b"c-pin" in stored  # the files read are the ones holding this call
    assert SECRET_PIN.encode() not in stored
    assert SECRET_PIN not in caplog.text and caplog.records
    assert SECRET_PIN not in in_redis
    assert agent.raw and not any(SECRET_PIN in frame for frame in agent.raw)
    assert SECRET_PIN not in json.dumps(listed)


LINES = [
    {"number": "+18005550100", "name": "Acme Support", "queue": "sales"},
    {"number": "+18005550111", "name": "Acme Billing"},
]


async def test_a_line_names_the_card_and_rings_its_queue(store_url: str, customers_url: str) -> None:
    """A call to a line's number shows the line's name, rings its queue, and binds `line` into connectors."""
    connectors = ivr_connectors(customers_url)
    settings = make(store_url, lines=LINES, connectors=connectors, roles={})
    attributes = {"account_id": "A-77", "secret_pin": SECRET_PIN}
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-1") as support,
        agent_socket(base, settings, "agent-3") as sales,
    ):
        body = event_body("c-line", to="+1 800 555 0100", attributes=attributes)
        assert (await post_event(base, body))[0] == 202
        final = (await sales.card_until_complete("c-line"))[-1]["card"]
        assert await support.silent_for(0.3)  # unrouted would have rung agent-1's support queue
        await post_event(base, event_body("c-other", to="+18005550111", agent="agent-1"))
        other = (await support.card_until_complete("c-other"))[-1]["card"]
    assert final["line"] == "Acme Support"
    assert final["sections"]["verified"]["data"]["line"] == "Acme Support"
    assert (other["line"], other["direction"]) == ("Acme Billing", "inbound")


def test_a_line_number_must_be_e164(store_url: str) -> None:
    """`lines[].number` that is not E.164 is a config error naming the key."""
    with pytest.raises(ConfigError, match=r"lines\[0\] \(Acme\)\.number.*E\.164"):
        make(store_url, lines=[{"number": "800 555 0100", "name": "Acme"}])


async def test_an_outbound_call_pops_the_dialled_number_for_the_dialling_agent(
    store_url: str, customers_url: str
) -> None:
    """`direction: outbound` looks up `to` and pops for the agent who dials; the card says outbound."""
    connectors = ivr_connectors(customers_url)
    settings = make(store_url, lines=LINES, connectors=connectors, roles={})
    async with (
        running(settings) as base,
        agent_socket(base, settings, "agent-2") as dialler,
        agent_socket(base, settings, "agent-1") as colleague,
    ):
        body = event_body(
            "c-out", number="+18005550111", to=GRACE_PHONE, agent="agent-2", direction="outbound"
        )
        assert (await post_event(base, body))[0] == 202
        final = (await dialler.card_until_complete("c-out"))[-1]["card"]
        assert await colleague.silent_for(0.3)
        status, bad = await post_event(base, event_body("c-bad-dir", direction="sideways"))
    assert final["direction"] == "outbound" and final["line"] == "Acme Billing"
    assert final["caller"]["e164"] == GRACE_PHONE
    assert final["sections"]["by_phone"]["data"] == {"account_id": "A-77", "name": "Grace Hopper"}
    assert final["customer"]["found_by"] == "number"
    assert (status, bad["error"]["code"]) == (400, "bad_request") and "direction" in bad["error"]["message"]
