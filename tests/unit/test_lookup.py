"""The fan-out engine: concurrency, timeouts, deadline, needs, cache, breaker.

No test here measures elapsed time (that is ``bench/components.py``): a
connector that must be slow waits on an event the test controls (``Gated``),
and time that must pass for a TTL or a breaker moves on a ``ManualClock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from screenpop.config import Settings
from screenpop.connector_api import ConnectorContext, LookupResult
from screenpop.lookup import LookupEngine, MemoryCache, Snapshot
from screenpop.model import Section, SectionStatus
from screenpop.phone import normalize, parse_caller
from screenpop.testing import ManualClock, ScriptedConnector, make_settings

KIND = "screenpop.testing:ScriptedConnector"
ADA = "+14155550132"
CTX = ConnectorContext(default_region="US", normalize=lambda raw: normalize(raw, "US"))
WITHIN_S = 5.0  # a bound on waiting for an event, never an assertion about speed


def scripted(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "kind": KIND, **options}


def engine_for(settings: Settings) -> tuple[LookupEngine, dict[str, ScriptedConnector]]:
    connectors = {c.name: ScriptedConnector(c.name, c.options, CTX) for c in settings.connectors}
    return LookupEngine(settings, connectors), connectors


class Gated:
    """A connector whose lookups wait until the test opens ``gate``; ``asked`` is set on each call.

    It stands for a slow or hanging system without a sleep: the test decides
    when (or whether) it answers, so order of events, not elapsed time, shows
    what the engine did.
    """

    def __init__(self, row: Mapping[str, Any] | None = None) -> None:
        self.row = row
        self.calls: list[dict[str, Any]] = []
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()

    async def start(self) -> None:
        return None

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        self.calls.append(dict(params))
        self.asked.set()
        await self.gate.wait()
        return LookupResult(data=dict(self.row), rows=1) if self.row else LookupResult(None)

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None


def gated_engine(
    settings: Settings, clock: ManualClock | None = None, **rows: Mapping[str, Any] | None
) -> tuple[LookupEngine, dict[str, Gated]]:
    """An engine whose every connector is ``Gated`` (answering ``rows[name]``)."""
    gated = {c.name: Gated(rows.get(c.name)) for c in settings.connectors}
    engine = LookupEngine(settings, gated, clock=clock) if clock else LookupEngine(settings, gated)
    return engine, gated


async def all_snapshots(engine: LookupEngine, number: str = ADA) -> list[Snapshot]:
    return [s async for s in engine.snapshots(parse_caller(number, "US"))]


def ada(**fields: Any) -> dict[str, Any]:
    return {"rows": {ADA: {"id": "A-1", "name": "Ada Lovelace", **fields}}}


ADA_ROW = {"id": "A-1", "name": "Ada Lovelace"}


async def test_connectors_run_concurrently() -> None:
    """Every connector is asked before any has answered: none waits for another to finish."""
    settings = make_settings([scripted(n, timeout_ms=2000) for n in ("a", "b", "c")])
    engine, gated = gated_engine(settings, a=ADA_ROW, b=ADA_ROW, c=ADA_ROW)

    async def answer_once_all_are_asked() -> None:
        await asyncio.gather(*(g.asked.wait() for g in gated.values()))
        for g in gated.values():
            g.gate.set()

    opener = asyncio.create_task(answer_once_all_are_asked())
    snaps = await all_snapshots(engine)  # run one at a time, the first would time out still gated
    opener.cancel()
    assert {n: s.status for n, s in snaps[-1].sections.items()} == dict.fromkeys("abc", SectionStatus.OK)
    await engine.close()


async def test_hanging_connector_times_out_and_others_are_ok() -> None:
    """A connector past its timeout_ms is `timeout`; the others are `ok` and the card completes."""
    settings = make_settings([scripted("fast"), scripted("slow", timeout_ms=100)])
    engine, gated = gated_engine(settings, fast=ADA_ROW, slow=ADA_ROW)
    gated["fast"].gate.set()  # "slow" is never let through: it hangs
    final = (await all_snapshots(engine))[-1]
    assert final.complete
    assert final.sections["fast"].status is SectionStatus.OK
    assert final.sections["slow"].status is SectionStatus.TIMEOUT
    assert final.sections["slow"].error == "no answer in 100 ms"
    await engine.close()


async def test_card_deadline_cuts_off_pending_work() -> None:
    """card.deadline_ms completes the card even when a connector's own timeout is longer."""
    settings = make_settings(
        [scripted("fast"), scripted("slow", timeout_ms=10000)],
        card={"deadline_ms": 200},
    )
    engine, gated = gated_engine(settings, fast=ADA_ROW, slow=ADA_ROW)
    gated["fast"].gate.set()
    final = (await all_snapshots(engine))[-1]
    assert final.sections["fast"].status is SectionStatus.OK
    assert final.sections["slow"].status is SectionStatus.TIMEOUT
    assert final.sections["slow"].error == "card deadline (200 ms) passed"
    assert [t for t in asyncio.all_tasks() if "lookup" in repr(t.get_coro())] == []
    await engine.close()


async def test_raising_connector_is_an_error_section() -> None:
    """A ConnectorError becomes section `error` with its text; a crash says only its type."""
    settings = make_settings(
        [scripted("ok", **ada()), scripted("bad", fail="HTTP 502 from crm"), scripted("bug", crash=True)]
    )
    engine, _ = engine_for(settings)
    final = (await all_snapshots(engine))[-1].sections
    assert final["ok"].status is SectionStatus.OK
    assert (final["bad"].status, final["bad"].error) == (SectionStatus.ERROR, "HTTP 502 from crm")
    assert final["bug"].status is SectionStatus.ERROR
    assert final["bug"].error == "connector failed (RuntimeError)"
    await engine.close()


async def test_needs_binds_the_other_connectors_field() -> None:
    """A connector with needs runs after its input and gets `<connector>_<field>` bound."""
    settings = make_settings(
        [
            scripted("accounting", delay_ms=30, **ada(account_id=1001)),
            scripted("credit", needs=["accounting.account_id"], **ada()),
        ]
    )
    engine, connectors = engine_for(settings)
    final = (await all_snapshots(engine))[-1].sections
    assert final["credit"].status is SectionStatus.OK
    assert connectors["credit"].calls[0]["accounting_account_id"] == 1001
    await engine.close()


async def test_missing_needs_input_is_skipped() -> None:
    """When the needed connector finds nothing, the dependent section is `skipped`."""
    settings = make_settings(
        [scripted("accounting"), scripted("credit", needs=["accounting.account_id"], **ada())]
    )
    engine, connectors = engine_for(settings)
    final = (await all_snapshots(engine))[-1].sections
    assert final["accounting"].status is SectionStatus.NOT_FOUND
    assert final["credit"].status is SectionStatus.SKIPPED
    assert connectors["credit"].calls == []
    await engine.close()


async def test_snapshots_have_rising_completeness() -> None:
    """Each answer yields a snapshot with one more final section, and only the last is complete."""
    settings = make_settings([scripted(f"c{i}") for i in range(1, 4)])
    engine, gated = gated_engine(settings, c1=ADA_ROW, c2=ADA_ROW, c3=ADA_ROW)
    snapshots = engine.snapshots(parse_caller(ADA, "US"))
    seen = []
    for name in ("c1", "c2", "c3"):
        gated[name].gate.set()
        snap = await asyncio.wait_for(anext(snapshots), WITHIN_S)
        seen.append((sum(s.status.final for s in snap.sections.values()), snap.complete))
    assert seen == [(1, False), (2, False), (3, True)]
    await snapshots.aclose()
    await engine.close()


async def test_cache_hit_within_ttl_skips_the_connector() -> None:
    """A second lookup of the same number within cache_ttl_s does not ask the connector again."""
    settings = make_settings([scripted("a", cache_ttl_s=30, **ada())])
    engine, connectors = engine_for(settings)
    first = (await all_snapshots(engine))[-1].sections["a"]
    second = (await all_snapshots(engine))[-1].sections["a"]
    assert len(connectors["a"].calls) == 1
    assert second.cached and second.data == first.data
    await engine.close()


async def test_stale_section_is_served_and_refreshed() -> None:
    """Past the TTL but within cache_stale_s the old section comes without waiting for the refresh."""
    clock = ManualClock()
    settings = make_settings(
        [scripted("a", cache_ttl_s=30, cache_stale_s=60, timeout_ms=10000)], card={"deadline_ms": 1000}
    )  # a card that waited for the hanging refresh would hit its deadline: a `timeout` section
    engine, gated = gated_engine(settings, clock, a=ADA_ROW)
    a = gated["a"]
    a.gate.set()
    await all_snapshots(engine)
    clock.advance(31)
    a.gate.clear()  # the refresh will hang until the test lets it through
    a.asked.clear()
    stale = (await all_snapshots(engine))[-1].sections["a"]
    assert stale.status is SectionStatus.OK and stale.cached
    assert stale.age_s == 31
    await asyncio.wait_for(a.asked.wait(), WITHIN_S)  # the refresh runs behind the card
    assert len(a.calls) == 2
    a.gate.set()
    await engine.close()


async def test_withheld_number_runs_no_connector() -> None:
    """A withheld caller gets a card with every section skipped and no connector asked."""
    settings = make_settings([scripted("a", **ada())])
    engine, connectors = engine_for(settings)
    final = (await all_snapshots(engine, "anonymous"))[-1].sections
    assert final["a"].status is SectionStatus.SKIPPED
    assert connectors["a"].calls == []
    await engine.close()


async def test_junk_number_is_looked_up_with_its_digits() -> None:
    """A number that cannot be parsed is still looked up with the digits as given."""
    settings = make_settings([scripted("a")])
    engine, connectors = engine_for(settings)
    await all_snapshots(engine, "12ab34")
    assert connectors["a"].calls[0]["digits"] == "1234"
    await engine.close()


async def test_breaker_opens_after_failures_and_recovers() -> None:
    """After `failures` timeouts the circuit opens (no call is made); after reset_s a probe closes it."""
    clock = ManualClock()
    settings = make_settings([scripted("slow", timeout_ms=30, circuit={"failures": 2, "reset_s": 60})])
    engine, gated = gated_engine(settings, clock, slow=ADA_ROW)
    for _ in range(2):
        timed_out = (await all_snapshots(engine))[-1].sections["slow"]
        assert timed_out.status is SectionStatus.TIMEOUT
    opened = (await all_snapshots(engine))[-1].sections["slow"]
    assert (opened.status, opened.error) == (SectionStatus.ERROR, "circuit open")
    assert len(gated["slow"].calls) == 2
    clock.advance(59)
    assert (await all_snapshots(engine))[-1].sections["slow"].error == "circuit open"
    clock.advance(1)
    gated["slow"].gate.set()
    recovered = (await all_snapshots(engine))[-1].sections["slow"]
    assert recovered.status is SectionStatus.OK
    assert len(gated["slow"].calls) == 3
    assert engine.breakers["slow"].state.value == "closed"
    await engine.close()


async def test_memory_cache_keeps_an_entry_exactly_keep_s() -> None:
    """A cached section is served until keep_s has passed on the cache's clock, and not at keep_s."""
    clock = ManualClock()
    cache = MemoryCache(clock=clock)
    section = Section(SectionStatus.OK, title="A", data=ADA_ROW, rows=1)
    await cache.put("a:k", section, keep_s=10)
    clock.advance(9.5)
    found = await cache.get("a:k")
    assert found is not None and found.age(clock.time()) == 9.5
    clock.advance(0.5)
    assert await cache.get("a:k") is None
