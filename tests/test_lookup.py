"""The fan-out engine: concurrency, timeouts, deadline, needs, cache, breaker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from screenpop.connector_api import ConnectorContext
from screenpop.lookup import LookupEngine, Snapshot
from screenpop.model import SectionStatus
from screenpop.phone import normalize, parse_caller
from screenpop.settings import Settings
from screenpop.testing import ScriptedConnector, make_settings

KIND = "screenpop.testing:ScriptedConnector"
ADA = "+14155550132"
parse_caller(ADA, "US")  # load the geocoder's data once, outside the timed tests
CTX = ConnectorContext(default_region="US", normalize=lambda raw: normalize(raw, "US"))


def scripted(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "kind": KIND, **options}


def engine_for(settings: Settings) -> tuple[LookupEngine, dict[str, ScriptedConnector]]:
    connectors = {c.name: ScriptedConnector(c.name, c.options, CTX) for c in settings.connectors}
    return LookupEngine(settings, connectors), connectors


async def all_snapshots(engine: LookupEngine, number: str = ADA) -> list[Snapshot]:
    return [s async for s in engine.snapshots(parse_caller(number, "US"))]


def ada(**fields: Any) -> dict[str, Any]:
    return {"rows": {ADA: {"id": "A-1", "name": "Ada Lovelace", **fields}}}


async def test_connectors_run_concurrently() -> None:
    """Three 100 ms connectors finish in about 100 ms, not 300 ms."""
    settings = make_settings([scripted(n, delay_ms=100, **ada()) for n in ("a", "b", "c")])
    engine, _ = engine_for(settings)
    started = time.perf_counter()
    snaps = await all_snapshots(engine)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.25
    assert all(s.status is SectionStatus.OK for s in snaps[-1].sections.values())
    await engine.close()


async def test_hanging_connector_times_out_and_others_are_ok() -> None:
    """A connector past its timeout_ms is `timeout`; the others are `ok` and the card completes."""
    settings = make_settings(
        [scripted("fast", **ada()), scripted("slow", delay_ms=5000, timeout_ms=100, **ada())]
    )
    engine, _ = engine_for(settings)
    started = time.perf_counter()
    final = (await all_snapshots(engine))[-1]
    assert time.perf_counter() - started < 0.5
    assert final.complete
    assert final.sections["fast"].status is SectionStatus.OK
    assert final.sections["slow"].status is SectionStatus.TIMEOUT
    await engine.close()


async def test_card_deadline_cuts_off_pending_work() -> None:
    """card.deadline_ms completes the card even when a connector's own timeout is longer."""
    settings = make_settings(
        [scripted("fast", **ada()), scripted("slow", delay_ms=5000, timeout_ms=10000, **ada())],
        card={"deadline_ms": 200},
    )
    engine, _ = engine_for(settings)
    started = time.perf_counter()
    final = (await all_snapshots(engine))[-1]
    assert 0.18 < time.perf_counter() - started < 0.5
    assert final.sections["slow"].status is SectionStatus.TIMEOUT
    assert "deadline" in (final.sections["slow"].error or "")
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
    """Each snapshot has more final sections than the last, and only the last is complete."""
    settings = make_settings([scripted(f"c{i}", delay_ms=20 * i, **ada()) for i in range(1, 4)])
    engine, _ = engine_for(settings)
    snaps = await all_snapshots(engine)
    finals = [sum(s.status.final for s in snap.sections.values()) for snap in snaps]
    assert finals == sorted(finals) and finals[-1] == 3 and len(snaps) >= 2
    assert [s.complete for s in snaps] == [False] * (len(snaps) - 1) + [True]
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
    """Past the TTL but within cache_stale_s the old section comes at once, then is refreshed."""
    settings = make_settings([scripted("a", cache_ttl_s=0.05, cache_stale_s=60, delay_ms=50, **ada())])
    engine, connectors = engine_for(settings)
    await all_snapshots(engine)
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    stale = (await all_snapshots(engine))[-1].sections["a"]
    assert time.perf_counter() - started < 0.04
    assert stale.age_s is not None and stale.age_s >= 0.05
    for _ in range(50):
        if len(connectors["a"].calls) == 2:
            break
        await asyncio.sleep(0.01)
    assert len(connectors["a"].calls) == 2
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
    """After `failures` timeouts the circuit opens (instant error); after reset_s a probe closes it."""
    settings = make_settings(
        [scripted("slow", delay_ms=1000, timeout_ms=30, circuit={"failures": 2, "reset_s": 0.2}, **ada())]
    )
    engine, connectors = engine_for(settings)
    for _ in range(2):
        await all_snapshots(engine)
    started = time.perf_counter()
    opened = (await all_snapshots(engine))[-1].sections["slow"]
    assert opened.error == "circuit open" and time.perf_counter() - started < 0.02
    assert len(connectors["slow"].calls) == 2
    await asyncio.sleep(0.25)
    connectors["slow"].options = connectors["slow"].options.model_copy(update={"delay_ms": 0})
    recovered = (await all_snapshots(engine))[-1].sections["slow"]
    assert recovered.status is SectionStatus.OK
    assert engine.breakers["slow"].state.value == "closed"
    await engine.close()
