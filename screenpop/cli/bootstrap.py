"""Connectors and the fan-out engine opened for one-off commands (lookup, check).

The service builds the same parts inside ``create_app`` (with the same
``connector_context``); this is the short version for a command that runs
one lookup and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from screenpop.config import Settings
from screenpop.connector_api import Connector
from screenpop.lookup import LookupEngine
from screenpop.plugins import build_connectors, connector_context


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
        await asyncio.gather(*(c.start() for c in connectors.values()), return_exceptions=True)
        engine = LookupEngine(settings, connectors)
        try:
            yield engine
        finally:
            await engine.close()
