"""The Redis broker's supervisor: a fault that is not Redis being away is logged once, not at every retry."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from screenpop.broker.redis import RedisBroker

RETRIES = 4


async def test_a_fault_every_reconnection_meets_is_logged_with_its_traceback_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same TypeError at each of several reconnections: one ERROR with a traceback; /readyz names it."""
    broker = RedisBroker("redis://127.0.0.1:1/0", 60)  # never connected: the session is replaced below
    attempts = 0
    retried = asyncio.Event()

    async def failing_session() -> None:
        nonlocal attempts
        attempts += 1
        if attempts >= RETRIES:
            retried.set()
        raise TypeError("AbstractConnection.__init__() got an unexpected keyword argument 'foo'")

    monkeypatch.setattr(broker, "_session", failing_session)
    caplog.set_level(logging.ERROR, logger="screenpop.broker.redis")
    starting = asyncio.create_task(broker.start())
    try:
        async with asyncio.timeout(10):
            await retried.wait()
        assert await broker.health() == "down: internal error (TypeError)"
    finally:
        await broker.close()
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
    logged = [r for r in caplog.records if r.name == "screenpop.broker.redis" and r.levelno >= logging.ERROR]
    assert len(logged) == 1 and logged[0].exc_info is not None
