"""Helpers for people who write connectors or test screenpop itself.

``ScriptedConnector`` is a real connector whose answers are given in code:
useful to see how the fan-out treats a slow, hanging or failing source
without standing up a database.  ``make_settings`` builds validated settings
from a few keys; ``ManualClock`` is a clock a test moves by hand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from screenpop.config import Settings, settings_from_mapping
from screenpop.connector_api import ConnectorContext, ConnectorOptions, LookupResult
from screenpop.errors import ConnectorError

TEST_SECRET = "test-secret-0123456789abcdef-0123456789"  # noqa: S105 - only for tests


class ScriptedOptions(ConnectorOptions):
    rows: dict[str, dict[str, Any]] = {}
    delay_ms: int = 0
    fail: str | None = None
    crash: bool = False


class ScriptedConnector:
    """Answers from ``rows`` (keyed by E.164) after ``delay_ms``; ``fail`` raises a ConnectorError."""

    Options: ClassVar[type[ConnectorOptions]] = ScriptedOptions

    def __init__(self, name: str, options: ScriptedOptions, context: ConnectorContext) -> None:
        self.name = name
        self.options = options
        self.calls: list[Mapping[str, Any]] = []
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        self.calls.append(dict(params))
        await asyncio.sleep(self.options.delay_ms / 1000)
        if self.options.crash:
            raise RuntimeError("bug in a connector")
        if self.options.fail:
            raise ConnectorError(self.options.fail)
        row = self.options.rows.get(str(params.get("e164")))
        return LookupResult(data=dict(row), rows=1) if row else LookupResult(None)

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        self.started = False


def make_settings(connectors: list[dict[str, Any]] | None = None, **blocks: Any) -> Settings:
    """Validated settings with one agent per role given, for tests and examples."""
    raw: dict[str, Any] = {
        "agents": {"token_secret": TEST_SECRET, "directory": [{"id": "agent-1", "queues": ["support"]}]},
        "connectors": connectors or [],
        **blocks,
    }
    return settings_from_mapping(raw, source="<test>", environ={})


class ManualClock:
    """A ``screenpop.clock.Clock`` that moves only when a test calls ``advance``.

    Tests cross a TTL, a breaker's reset or a token's ``exp`` by ``advance``,
    never by sleeping, so no boundary can be straddled.  The wall clock starts
    at the real time, so tokens minted for "now" by PyJWT are accepted; the
    monotonic clock starts at 0.  ``advance`` runs every timer it passes.
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self._monotonic = 0.0
        self._timers: list[ManualTimer] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self._monotonic

    def call_at(self, when: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(when, callback)
        self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` and run the timers that came due."""
        self.now += seconds
        self._monotonic += seconds
        due = [t for t in self._timers if t.when <= self.now]
        self._timers = [t for t in self._timers if t.when > self.now]
        for timer in due:
            if not timer.cancelled:
                timer.callback()


@dataclass(slots=True)
class ManualTimer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True
