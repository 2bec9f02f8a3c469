"""Fixtures of the broker's tests, against a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from screenpop.broker.redis import RedisBroker


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    """Two instances of the service sharing one Redis."""
    a, b = RedisBroker(redis_url, 300), RedisBroker(redis_url, 300)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
