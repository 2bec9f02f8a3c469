"""A section hidden from a role shows through nowhere, and the audit records what was shown, only that.

A reviewer's findings: the reason another section was skipped (``needs
credit.rating``) named a hidden section on tier1 cards; a traced lookup showed
the values a connector was given from a hidden section; a lookup audited
sections it did not send; ``/api/calls`` sent summaries with no audit row.
Through the real service on loopback, tokens minted with PyJWT, a real SQLite
connector for the traced steps, the store read back after the service stops.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from screenpop.config import Settings, settings_from_mapping
from screenpop.midcall import UpdateResult
from screenpop.store import Store
from tests.support.service import ADA, SECRET, agent_socket, api, base_config, event_body, post_event, running

BOB = "+14155550177"  # on the accounting system, unknown to credit
RATING = "RATING-D-77"  # the hidden value, distinct enough to search for in any text


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/store.db"


def settings(store_url: str, tmp_path: Path) -> Settings:
    """tier1 and it hide `credit`; `terms` (visible) needs credit.rating, from a real SQLite table."""
    terms_db = tmp_path / "terms.db"
    with sqlite3.connect(terms_db) as db:
        db.execute("CREATE TABLE terms (rating TEXT, offer TEXT)")
        db.execute("INSERT INTO terms VALUES (?, 'prepay only')", (RATING,))
    config = base_config(store_url)
    config["roles"] = {
        "tier1": {"hide": ["credit"]},
        "supervisor": {},
        "it": {"admin": True, "lookup": True, "hide": ["credit"]},
    }
    config["agents"]["directory"].append({"id": "it-1", "role": "it"})
    accounting, credit = config["connectors"]
    accounting["rows"][BOB] = {"account_id": "A-1002", "name": "Bob Byron", "balance": 10}
    credit["rows"] = {ADA: {"credit_limit": 5000, "rating": RATING, "holder": "Ada Lovelace"}}
    config["connectors"].append(
        {
            "name": "terms",
            "kind": "sql",
            "url": f"sqlite+aiosqlite:///{terms_db}",
            "needs": ["credit.rating"],
            "query": "SELECT offer FROM terms WHERE rating = :credit_rating",
        }
    )
    return settings_from_mapping(config, source="<test>", environ={})


def token(agent_id: str) -> str:
    return jwt.encode({"sub": agent_id, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


async def audit_rows(store_url: str) -> list[dict[str, Any]]:
    store = await Store.open(store_url)
    try:
        return await store.audit_rows(1000)
    finally:
        await store.close()


async def test_a_section_skipped_for_want_of_a_hidden_one_does_not_name_it(
    store_url: str, tmp_path: Path
) -> None:
    """Bob has no credit record: tier1 sees `terms` skipped, without the hidden section's name."""
    config = settings(store_url, tmp_path)
    async with running(config) as base, agent_socket(base, config, "agent-1") as tier1:
        await post_event(base, event_body("c-bob", agent="agent-1", **{"from": BOB}))
        frames = await tier1.card_until_complete("c-bob")
    terms = frames[-1]["card"]["sections"]["terms"]
    assert terms["status"] == "skipped"
    assert [text for text in tier1.raw if "credit" in text.lower()] == []


async def test_a_traced_lookup_hides_what_came_from_a_hidden_section(store_url: str, tmp_path: Path) -> None:
    """it-1 (admin, lookup, credit hidden) traces Ada and Bob: no hidden value, no hidden name."""
    config = settings(store_url, tmp_path)
    async with running(config) as base:
        found = {}
        for number in (ADA, BOB):
            status, body = await api(
                base, "GET", f"/api/lookup?number={number.replace('+', '%2B')}&trace=1", token("it-1")
            )
            assert status == 200, body
            found[number] = body
    ada_terms = found[ADA]["trace"]["terms"]
    assert ada_terms["status"] == "ok" and ada_terms["steps"]
    assert all("params" not in step for step in ada_terms["steps"])
    assert RATING not in str(found)  # the value terms was given, from the hidden section
    bob_terms = found[BOB]["trace"]["terms"]
    assert bob_terms["status"] == "skipped"
    assert "credit" not in bob_terms["why"]  # was: "skipped: needs credit.rating (credit was not_found)"
    assert set(found[ADA]["trace"]) == set(found[ADA]["sections"]) == {"accounting", "terms"}


async def test_a_lookup_audits_the_sections_it_sent_with_data_and_no_other(store_url: str) -> None:
    """A supervisor looking up as tier1, or a number nobody knows: the audit names only what was shown."""
    config = settings_from_mapping(base_config(store_url), source="<test>", environ={})
    async with running(config) as base:
        status, _ = await api(
            base, "GET", f"/api/lookup?number={ADA.replace('+', '%2B')}&role=tier1", token("agent-3")
        )
        assert status == 200
        status, _ = await api(base, "GET", "/api/lookup?number=%2B16465550100", token("agent-3"))
        assert status == 200
    lookups = [r for r in await audit_rows(store_url) if r["action"] == "lookup"]
    by_number = {r["number"]: sorted(r["sections"]) for r in lookups}
    assert by_number == {ADA: ["accounting"], "+16465550100": []}


async def test_a_listed_call_summary_is_audited(store_url: str) -> None:
    """A supervisor reading /api/calls sees the summaries of calls it never got: each listing is audited."""
    config = settings_from_mapping(base_config(store_url), source="<test>", environ={})
    async with running(config) as base, agent_socket(base, config, "agent-1") as tier1:
        await post_event(base, event_body("c-listed", agent="agent-1"))
        await tier1.card_until_complete("c-listed")
        status, body = await api(base, "GET", "/api/calls", token("agent-3"))
        assert status == 200
        assert body["calls"][0]["summary"]["customer"]["name"] == "Ada Lovelace"
    rows = [r for r in await audit_rows(store_url) if r["agent_id"] == "agent-3"]
    assert [(r["action"], r["call_id"], r["version"], sorted(r["sections"])) for r in rows] == [
        ("card", "c-listed", None, ["accounting", "credit"])
    ]


def test_the_answer_to_an_attributes_update_names_no_hidden_section() -> None:
    """A hidden section re-ran: the poster whose role hides it is not told its name."""
    result = UpdateResult("c-1", 4, ("credit2", "accounting"))
    assert result.to_json(frozenset({"credit2"})) == {"call_id": "c-1", "version": 4, "rerun": ["accounting"]}
    assert result.to_json()["rerun"] == ["credit2", "accounting"]


def sql_credit(config: Settings, tmp_path: Path) -> Settings:
    """``config`` with `credit` read from a real SQLite table, whose rows a trace shows."""
    credit_db = tmp_path / "credit.db"
    with sqlite3.connect(credit_db) as db:
        db.execute("CREATE TABLE credit (phone TEXT, rating TEXT)")
        db.execute("INSERT INTO credit VALUES (?, ?)", (ADA, RATING))
    raw = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw["connectors"][1] = {
        "name": "credit",
        "kind": "sql",
        "url": f"sqlite+aiosqlite:///{credit_db}",
        "query": "SELECT rating FROM credit WHERE phone = :e164",
    }
    return settings_from_mapping(raw, source="<test>", environ={})


async def test_a_traced_lookup_as_another_role_audits_what_its_trace_showed(
    store_url: str, tmp_path: Path
) -> None:
    """A supervisor traces Ada as tier1: the card hides credit, its traced rows are audited."""
    config = sql_credit(settings(store_url, tmp_path), tmp_path)
    async with running(config) as base:
        status, body = await api(
            base, "GET", f"/api/lookup?number={ADA.replace('+', '%2B')}&role=tier1&trace=1", token("agent-3")
        )
        assert status == 200, body
    assert "credit" not in body["sections"]
    assert RATING in str(body["trace"]["credit"])  # the hidden-from-tier1 value reached the supervisor
    lookups = [r for r in await audit_rows(store_url) if r["action"] == "lookup"]
    assert [(r["agent_id"], sorted(r["sections"])) for r in lookups] == [
        ("agent-3", ["accounting", "credit", "terms"])
    ]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT oid FROM pg_class WHERE oid = :credit_rating",  # asyncpg cannot encode it: no SQLSTATE
        "SELECT CAST(CAST(:credit_rating AS text) AS integer) AS n",  # PostgreSQL's 22P02 quotes it
    ],
    ids=["driver-argument", "sqlstate-22"],
)
async def test_a_database_error_does_not_quote_a_hidden_value(
    store_url: str, pg_url: str, query: str
) -> None:
    """A visible section given credit.rating fails on PostgreSQL: its error on tier1's card quoted it."""
    config = base_config(store_url)
    config["connectors"][1]["rows"] = {ADA: {"rating": RATING}}
    config["connectors"].append({"name": "terms", "kind": "sql", "url": pg_url, "needs": ["credit.rating"]})
    config["connectors"][-1]["query"] = query
    settings = settings_from_mapping(config, source="<test>", environ={})
    async with running(settings) as base, agent_socket(base, settings, "agent-1") as tier1:
        await post_event(base, event_body("c-err", agent="agent-1"))
        frames = await tier1.card_until_complete("c-err")
    terms = frames[-1]["card"]["sections"]["terms"]
    assert terms["status"] == "error"
    assert terms["error"].startswith("database error: ")
    assert [text for text in tier1.raw if RATING in text] == []
