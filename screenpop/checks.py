"""``screenpop check``: prove each part works, so IT sees at a glance what does not."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from screenpop.broker import make_broker
from screenpop.connector_api import Connector
from screenpop.model import SectionStatus
from screenpop.phone import parse_caller
from screenpop.runtime import open_connectors
from screenpop.settings import Settings
from screenpop.store import Store

CHECK_TIMEOUT_S = 10.0
PROBE_NUMBER = "+12025550100"


@dataclass(frozen=True, slots=True)
class CheckRow:
    part: str
    ok: bool
    detail: str
    elapsed_ms: float


async def _timed(part: str, work: Callable[[], Awaitable[str]]) -> CheckRow:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            detail = await work()
        ok = True
    except TimeoutError:
        ok, detail = False, f"no answer in {CHECK_TIMEOUT_S:.0f} s"
    except Exception as exc:
        ok, detail = False, _one_line(exc)
    return CheckRow(part, ok, detail, (time.perf_counter() - started) * 1000)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


async def run_checks(settings: Settings, number: str | None) -> list[CheckRow]:
    rows = [CheckRow("config", True, f"{settings.source}: {len(settings.connectors)} connectors", 0.0)]
    rows.append(await _timed("store", lambda: _check_store(settings)))
    rows.append(await _timed("broker", lambda: _check_broker(settings)))
    async with open_connectors(settings) as connectors:
        for name, connector in connectors.items():
            rows.append(await _timed(f"connector {name}", functools.partial(_probe, connector)))
        rows.extend(await _test_lookup(settings, connectors, number or PROBE_NUMBER))
    return rows


async def _probe(connector: Connector) -> str:
    await connector.start()
    await connector.check()
    return "reachable"


async def _check_store(settings: Settings) -> str:
    store = await Store.open(settings.store.url)
    try:
        await store.ping()
    finally:
        await store.close()
    return "migrated, answering"


async def _check_broker(settings: Settings) -> str:
    broker = make_broker(settings.broker.url, settings.broker.replay_s)
    await broker.start()
    try:
        for _ in range(20):
            health = await broker.health()
            if health == "ok":
                return settings.broker.url.split("@")[-1]
            await asyncio.sleep(0.1)
        raise ConnectionError(health)
    finally:
        await broker.close()


async def _test_lookup(settings: Settings, connectors: dict[str, Connector], raw: str) -> list[CheckRow]:
    from screenpop.lookup import LookupEngine

    engine = LookupEngine(settings, connectors)
    number = parse_caller(raw, settings.numbers.default_region)
    try:
        sections = await engine.lookup(number)
    finally:
        await engine.close()
    bad = {SectionStatus.ERROR, SectionStatus.TIMEOUT}
    return [
        CheckRow(
            f"lookup {name}",
            s.status not in bad,
            f"{s.status.value}" + (f": {s.error}" if s.error else "") + f" ({number.e164 or raw})",
            float(s.elapsed_ms or 0),
        )
        for name, s in sections.items()
    ]
