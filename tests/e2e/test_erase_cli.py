"""`screenpop erase` as IT staff run it, on a running service with Redis: nothing of the caller is left."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis

from screenpop.config import settings_from_mapping
from tests.support.service import ADA, agent_socket, api, base_config, event_body, post_event, running
from tests.support.store_rows import dump, rows_mentioning
from tests.support.tokens import token_for
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
BOB = "+14155550199"
ADA_MARKS = (ADA, "555-0132", "5550132", "ada-1", "A-1001", "Ada Lovelace")
"""Anything that would tell Ada's data apart: her number in its forms, her call, her account."""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "screenpop", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=dict(os.environ),
    )


async def redis_texts(url: str) -> list[str]:
    """Every screenpop key of the Redis with everything it holds (values, members, stream entries) as text."""
    redis = Redis.from_url(url, decode_responses=True)
    found: list[str] = []
    try:
        async for key in redis.scan_iter(match="*", count=1000):
            kind = await redis.type(key)
            if kind == "string":
                found.append(f"{key} = {await redis.get(key)}")
            elif kind == "set":
                found.append(f"{key} = {sorted(await redis.smembers(key))}")
            elif kind == "stream":
                found += [f"{key} {eid} {fields}" for eid, fields in await redis.xrange(key)]
            elif kind == "hash":
                found.append(f"{key} = {await redis.hgetall(key)}")
            else:
                found.append(f"{key} ({kind})")
    finally:
        await redis.aclose()
    return found


def mentioning(texts: list[str], marks: tuple[str, ...]) -> list[str]:
    return [t for t in texts if any(m in t for m in marks)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/screenpop.db"
    url: str = request.getfixturevalue("pg_url")
    return url


async def test_erase_through_the_cli_leaves_nothing_of_the_caller(
    store_url: str, redis_url: str, tmp_path: Path
) -> None:
    """After `screenpop erase --number` no table row, Redis key or entry names Ada; Bob's stay; audited."""
    config: dict[str, Any] = base_config(store_url, broker={"url": redis_url, "replay_s": 300})
    # a sink that is down: the note's entry stays pending, and erase must remove it all the same
    config["sinks"] = [{"name": "crm", "kind": "http", "url": "http://127.0.0.1:1/call-log"}]
    for connector in config["connectors"]:
        connector["cache_ttl_s"] = 60
    settings = settings_from_mapping(config, source="<test>", environ={})
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))

    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        for call_id, number in (("ada-1", ADA), ("bob-1", BOB)):
            assert (await post_event(base, event_body(call_id, number=number, agent="agent-1")))[0] == 202
            await agent.card_until_complete(call_id)
        token = token_for(settings, "agent-1")
        status, _ = await api(
            base, "POST", "/api/calls/ada-1/notes", token, json={"notes": "wants a callback"}
        )
        assert status in (200, 201)
        status, _ = await api(base, "GET", f"/api/lookup?number={ADA}", token_for(settings, "agent-3"))
        assert status == 200
        await wait_for(lambda: _stored(store_url), within=10, what="calls, summaries and audit rows written")
        assert mentioning(await redis_texts(redis_url), ADA_MARKS), "Redis must hold Ada's data before"
        bob_rows_before = rows_mentioning(await dump(store_url), [BOB, "bob-1"])

        erased = await asyncio.to_thread(
            cli, "erase", "--number", "(415) 555-0132", "--config", str(path), "--by", "dpo"
        )

        assert erased.returncode == 0, erased.stderr
        assert mentioning(await redis_texts(redis_url), ADA_MARKS) == []
        assert mentioning(await redis_texts(redis_url), (BOB, "bob-1")), "Bob's frames must stay"
        tables = await dump(store_url)
        assert rows_mentioning(tables, list(ADA_MARKS)) == []
        assert rows_mentioning(tables, [BOB, "bob-1"]) == bob_rows_before
        counts = _printed_counts(erased.stdout)
        assert counts["calls"] == 1 and counts["notes"] == 1 and counts["redis_frames"] >= 1
        assert counts["redis_cache"] >= 1 and counts["audit"] >= 2
        assert counts["sink_outbox"] == 1  # the note's pending entry

        again = await asyncio.to_thread(cli, "erase", "--number", ADA, "--config", str(path), "--by", "dpo")
        assert again.returncode == 0, again.stderr
        assert set(_printed_counts(again.stdout).values()) == {0}

        # the service keeps working: Ada calls again and her card pops
        assert (await post_event(base, event_body("ada-2", agent="agent-1")))[0] == 202
        frames = await agent.card_until_complete("ada-2")
        assert frames[-1]["card"]["customer"]["ids"] == {"accounting": "A-1001"}

    erasures = [r for r in (await dump(store_url))["audit"] if r["action"] == "erase"]
    assert [(r["agent_id"], r["number"], r["call_id"]) for r in erasures] == [("dpo", None, None)] * 2
    assert erasures[0]["sections"] == counts
    assert not any(m in str(r) for r in erasures for m in ADA_MARKS)

    # `screenpop audit` shows each erasure on its own line with how many rows went, never whose
    shown = await asyncio.to_thread(cli, "audit", "--agent", "dpo", "--config", str(path))
    lines = [line for line in shown.stdout.splitlines() if " erase " in line]
    assert len(lines) == 2, shown.stdout
    assert "calls 1" in lines[1] and "notes 1" in lines[1] and "nothing found" in lines[0]
    assert not any(m in shown.stdout for m in ADA_MARKS)


async def _stored(url: str) -> bool:
    tables = await dump(url)
    summaries = [r for r in tables["calls"] if r["summary"]]
    lookups = [r for r in tables["audit"] if r["action"] == "lookup"]
    cards = [r for r in tables["audit"] if r["action"] == "card"]
    pending = [r for r in tables["sink_outbox"] if r["delivered_at"] is None]
    return len(summaries) == 2 and bool(lookups) and len(cards) >= 2 and len(pending) == 1


def _printed_counts(stdout: str) -> dict[str, int]:
    """The table `screenpop erase` prints: one `place  count` line per place after the header and rule."""
    counts = {}
    for line in stdout.splitlines()[2:]:
        words = line.split()
        if len(words) == 2 and words[1].isdigit():
            counts[words[0]] = int(words[1])
    return counts


def test_erase_with_the_memory_broker_says_what_it_cannot_reach(tmp_path: Path) -> None:
    """With broker memory:// erase still clears the store, and says the service's memory expires by itself."""
    config = base_config(f"sqlite+aiosqlite:///{tmp_path}/screenpop.db")
    (tmp_path / "screenpop.db").touch()  # a store with no calls yet (erase opens, never creates, one)
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))

    erased = cli("erase", "--number", ADA, "--config", str(path))

    assert erased.returncode == 0, erased.stderr
    assert "expire within broker.replay_s (300 s)" in erased.stdout
    assert "redis_frames" not in erased.stdout
    assert _printed_counts(erased.stdout)["calls"] == 0
    assert "nothing of that caller was found" in erased.stdout  # a typo must not pass for an erasure


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--number", "anonymous"], "is not a phone number"),
        (["--customer", "accounting"], "CONNECTOR:ID"),
        (["--customer", "crm:7"], "which the config does not have"),
    ],
)
def test_erase_refuses_what_names_nobody_in_one_sentence(tmp_path: Path, args: list[str], says: str) -> None:
    """A number that is none, or a customer without a configured connector, is one sentence and exit 1."""
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(base_config(f"sqlite+aiosqlite:///{tmp_path}/screenpop.db")))

    refused = cli("erase", *args, "--config", str(path))

    assert refused.returncode == 1
    assert says in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


def test_erase_and_audit_refuse_a_store_path_that_is_not_there(tmp_path: Path) -> None:
    """A mistyped store path: not a new empty store searched and "nothing found", but one sentence.

    Opening the store creates a missing SQLite file, so erase answered
    "nothing of that caller was found" and audit "nothing matches": a typo
    read as an answer, and a stray empty store left behind.
    """
    missing = tmp_path / "typo" / "screenpop.db"
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(base_config(f"sqlite+aiosqlite:///{missing}")))

    for command in (["erase", "--number", ADA], ["audit", "--number", ADA]):
        refused = cli(*command, "--config", str(path))
        assert refused.returncode == 1, refused.stdout
        assert f"store.url names {missing}, which does not exist" in refused.stderr
        assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not missing.exists() and not missing.parent.exists()


CHANGING = ("screenpop:cache:", "screenpop:admin:status:", "screenpop:admin:instances")
"""The section cache (erase empties it whole) and what each instance rewrites every 2 s."""


async def redis_snapshot(url: str) -> dict[str, str]:
    """Every key or stream entry but the CHANGING ones, by key (and entry id), with its content as text."""
    return {t.split(" = ", 1)[0]: t for t in await redis_texts(url) if not t.startswith(CHANGING)}


async def webhook_log(url: str) -> list[str]:
    redis = Redis.from_url(url, decode_responses=True)
    try:
        return [str(entry) for entry in await redis.lrange("screenpop:admin:deliveries", 0, -1)]
    finally:
        await redis.aclose()


async def test_erasing_a_short_numeric_customer_id_leaves_other_callers_redis_state_alone(
    redis_url: str, tmp_path: Path
) -> None:
    """`--customer accounting:1` removes that customer's calls only: not every key or frame holding "1".

    Customer and call ids are often small integers; Bob's event claims
    (whose value is "1"), his card (a field "1") and his call state must
    survive the erasure of customer 1, or his live call pops again on a
    retried webhook and his agent's replay loses his card.
    """
    config: dict[str, Any] = base_config(
        f"sqlite+aiosqlite:///{tmp_path}/screenpop.db", broker={"url": redis_url, "replay_s": 300}
    )
    accounting = config["connectors"][0]
    accounting["rows"] = {
        ADA: {"account_id": "1", "name": "Ada Lovelace", "balance": 1},
        BOB: {"account_id": "2", "name": "Bob", "balance": 1, "branch": "1"},
    }
    settings = settings_from_mapping(config, source="<test>", environ={})
    path = tmp_path / "screenpop.yaml"
    path.write_text(yaml.safe_dump(config))

    async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
        for call_id, number in (("ada-1", ADA), ("2", BOB)):
            assert (await post_event(base, event_body(call_id, number=number, agent="agent-1")))[0] == 202
            await agent.card_until_complete(call_id)
        await wait_for(lambda: _summaries(tmp_path, 2), within=10, what="both summaries stored")
        await wait_for(lambda: _logged(redis_url, 2), within=10, what="both webhooks in the shared log")
        bobs_before = {k: v for k, v in (await redis_snapshot(redis_url)).items() if "ada-1" not in v}

        erased = await asyncio.to_thread(
            cli, "erase", "--customer", "accounting:1", "--config", str(path), "--by", "dpo"
        )

        assert erased.returncode == 0, erased.stderr
        after = await redis_snapshot(redis_url)
        assert mentioning(list(after.values()), ("ada-1", ADA)) == []
        assert sorted(set(bobs_before) - set(after)) == [], "\n".join(sorted(set(bobs_before) - set(after)))
        assert {k: v for k, v in after.items() if k in bobs_before} == bobs_before
        # the admin console's webhook log loses Ada's delivery only
        assert [json.loads(entry)["call_id"] for entry in await webhook_log(redis_url)] == ["2"]


async def _logged(url: str, count: int) -> bool:
    return len(await webhook_log(url)) == count


async def _summaries(tmp_path: Path, count: int) -> bool:
    calls = (await dump(f"sqlite+aiosqlite:///{tmp_path}/screenpop.db"))["calls"]
    return len([r for r in calls if r["summary"]]) == count
