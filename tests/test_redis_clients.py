"""Every Redis client is made by ``broker.redis_url.redis_client``, so every URL form works everywhere.

A module that called ``Redis.from_url`` or ``Redis(...)`` itself would accept
``redis://`` but not ``redis+sentinel://``, and would fail only in a Sentinel
deployment.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELPER = ROOT / "screenpop" / "broker" / "redis_url.py"
MADE_HERE = re.compile(r"\b(?:Redis|StrictRedis)(?:\.from_url)?\(|\bfrom_url\(|\bSentinel\(")


def test_only_the_helper_makes_redis_clients() -> None:
    """No module of screenpop or the connectors but ``broker/redis_url.py`` builds a Redis client."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("screenpop", "connectors")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != HELPER
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MADE_HERE.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == [], f"use screenpop.broker.redis_client instead: {offenders}"


def test_the_check_sees_a_client_made_by_hand() -> None:
    """The pattern catches each way of making a client, so the test above can fail."""
    made = ["Redis.from_url(url)", "Redis(host='h')", "redis.from_url(url)", "Sentinel([('h', 1)])"]
    assert all(MADE_HERE.search(line) for line in made)
    assert not MADE_HERE.search("client = redis_client(url, decode_responses=True)")
