"""A Redis that evicts keys when full is named by the broker's log and by `screenpop check`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from redis.asyncio import Redis

from screenpop.broker.redis import RedisBroker
from screenpop.broker.redis_eviction import eviction_risk
from tests.support.servers import RedisServer

ROOT = Path(__file__).resolve().parents[3]
LIMIT = "104857600"  # 100 MiB


@pytest.fixture
def evicting(redis_server: RedisServer, redis_url: str) -> Iterator[str]:
    """The shared test Redis with a memory limit and an LRU policy, as managed services often ship it."""
    assert redis_server.command("CONFIG", "SET", "maxmemory", LIMIT) == b"+OK"
    assert redis_server.command("CONFIG", "SET", "maxmemory-policy", "volatile-lru") == b"+OK"
    try:
        yield redis_url
    finally:
        redis_server.command("CONFIG", "SET", "maxmemory", "0")
        redis_server.command("CONFIG", "SET", "maxmemory-policy", "noeviction")


@pytest.mark.parametrize(
    ("limit", "policy", "risky"),
    [
        (LIMIT, "volatile-lru", True),
        (LIMIT, "allkeys-lfu", True),
        (LIMIT, "noeviction", False),
        ("0", "volatile-lru", False),  # no limit: nothing is ever evicted
    ],
)
async def test_only_a_limit_with_an_evicting_policy_is_a_risk(
    redis_server: RedisServer, redis_url: str, limit: str, policy: str, risky: bool
) -> None:
    redis_server.command("CONFIG", "SET", "maxmemory", limit)
    redis_server.command("CONFIG", "SET", "maxmemory-policy", policy)
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        risk = await eviction_risk(client)
    finally:
        await client.aclose()
        redis_server.command("CONFIG", "SET", "maxmemory", "0")
        redis_server.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
    assert (risk is not None) == risky, risk
    if risky:
        assert risk is not None and policy in risk and "maxmemory-policy noeviction" in risk


async def test_the_broker_says_once_that_its_redis_evicts(
    evicting: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A volatile-lru Redis drops exactly the keys screenpop keeps (all have a TTL); nobody was told."""
    broker = RedisBroker(evicting, 300)
    with caplog.at_level(logging.WARNING, logger="screenpop.broker.redis"):
        await broker.start()
        try:
            assert await broker.health() == "ok"
            assert broker.eviction_risk is not None and "volatile-lru" in broker.eviction_risk
        finally:
            await broker.close()
    said = [r.getMessage() for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(said) == 1 and "pop twice" in said[0], said


def test_check_warns_of_an_evicting_redis_and_still_passes(evicting: str, tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config["broker"] = {"url": evicting}
    config["store"] = {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"}
    config["connectors"] = []
    config["sinks"] = []
    del config["roles"]  # they hide sections of the demo's connectors
    path = tmp_path / "evicting.yaml"
    path.write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [sys.executable, "-m", "screenpop", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "COLUMNS": "400"},
    )
    broker_line = next(line for line in run.stdout.splitlines() if line.startswith("broker"))
    assert "ok" in broker_line and "warning: Redis drops keys when full" in broker_line, run.stdout
    assert run.returncode == 0, (run.stdout, run.stderr)
