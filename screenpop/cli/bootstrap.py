"""Connectors and the fan-out engine opened for one-off commands (lookup, check).

The service builds the same parts inside ``create_app`` (with the same
``connector_context``); this is the short version for a command that runs
one lookup and exits.  Unlike the service, it waits (bounded) for connectors
that answer from a model built in the background (``kind: purchases``): a
one-off lookup has no later card in which the model would be ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import aiohttp

from screenpop.config import Settings
from screenpop.connector_api import Connector
from screenpop.lookup import LookupEngine
from screenpop.plugins import build_connectors, connector_context

MODEL_WAIT_S = 60.0  # a one-off lookup waits at most this long for a connector's first model
MODEL_POLL_S = 0.02


@runtime_checkable
class BuildsModel(Protocol):
    """A connector answering from a model it builds in the background: None until the first build.

    ``error`` is why the last build failed (the connector then answers "not
    ready yet" with that reason until a later build succeeds).
    """

    model: object | None
    error: str | None


async def first_models(connectors: Iterable[object], within: float = MODEL_WAIT_S) -> None:
    """Wait until each model-building connector has its first model or a failed build, at most ``within`` s.

    A running service never waits (SPEC: the first cards say the section is
    not ready yet); a one-off command would otherwise always say so.
    """
    building = [c for c in connectors if isinstance(c, BuildsModel)]
    for _ in range(math.ceil(within / MODEL_POLL_S)):  # polled: the connector API has no "ready" event
        if all(c.model is not None or c.error is not None for c in building):
            return
        await asyncio.sleep(MODEL_POLL_S)


@contextlib.asynccontextmanager
async def open_connectors(settings: Settings) -> AsyncIterator[dict[str, Connector]]:
    """Every configured connector, built (not started) with a shared HTTP session; closed after."""
    async with aiohttp.ClientSession() as http:
        context = connector_context(settings.numbers.default_region, Path(settings.source).parent, http)
        connectors = build_connectors(settings.connectors, context)
        try:
            yield connectors
        finally:
            await asyncio.gather(*(c.close() for c in connectors.values()), return_exceptions=True)


@contextlib.asynccontextmanager
async def open_engine(settings: Settings) -> AsyncIterator[LookupEngine]:
    async with open_connectors(settings) as connectors:
        started = await asyncio.gather(*(c.start() for c in connectors.values()), return_exceptions=True)
        await first_models(
            c for c, failed in zip(connectors.values(), started, strict=True) if failed is None
        )
        engine = LookupEngine(settings, connectors)
        try:
            yield engine
        finally:
            await engine.close()
