"""The fan-out: ask every connector at once, and hand out the card as it grows.

Each connector starts the moment its `needs` are answered; each has its own
timeout, and ``card.deadline_ms`` bounds the whole card, so that a slow or
broken system never holds the others back.  After every finished section the
caller gets a new snapshot; the last one has every section in a final state.
One card's walk is ``fanout.Run``; this module is one connector's lookup
(breaker, timeout, cache, figures) and what all cards share.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import replace
from typing import Any, Protocol

from screenpop.call_context import ATTR_PREFIX, SECRET_PREFIX, CallContext
from screenpop.card import attribute_keys, connector_parameters, required_attribute_keys
from screenpop.clock import SYSTEM_CLOCK, Clock
from screenpop.config import ConnectorSettings, Settings
from screenpop.connector_api import Connector, ConnectorTrace, LookupResult, tracing
from screenpop.errors import ConnectorError, ConnectorNotReady
from screenpop.identity import identity_of
from screenpop.lookup.breaker import CircuitBreaker
from screenpop.lookup.cache import CACHEABLE, ClusterLock, MemoryCache, SectionCache, cache_key
from screenpop.lookup.connector_stats import ConnectorStats
from screenpop.lookup.fanout import ConnectorPlan, Run, Sections, Snapshot
from screenpop.lookup.trace import LookupTrace
from screenpop.model import CallerNumber, Section, SectionStatus

log = logging.getLogger(__name__)

CONTEXT_PARAMETERS = frozenset({"direction", "line", "call_id"})
"""Call parameters beyond the number (SPEC 3): a cached section is keyed on those its connector names."""


def cache_name(config: ConnectorSettings, region: str) -> str:
    """The name a connector's cached sections are kept under: its name and a digest of its definition.

    A reload that changes a connector's query, URL or rows must not serve
    sections the old definition found; an unchanged connector (and every
    instance running the same file) keeps finding its entries. ``region``
    (``numbers.default_region``) counts too: it decides what a normalized
    index holds (``55 9474 4977`` is a US number in one, Mexican in another).
    """
    options = config.options
    dumped = options.model_dump_json() if hasattr(options, "model_dump_json") else repr(options)
    digest = hashlib.blake2b(f"{config.kind}\0{region}\0{dumped}".encode(), digest_size=6).hexdigest()
    return f"{config.name}@{digest}"


class LookupObserver(Protocol):
    def connector_done(self, name: str, status: SectionStatus, elapsed_s: float) -> None: ...


class LookupEngine:
    """Runs lookups for one configuration; shared by every call of an instance."""

    def __init__(
        self,
        settings: Settings,
        connectors: Mapping[str, Connector],
        cache: SectionCache | None = None,
        observer: LookupObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
        breakers: Mapping[str, CircuitBreaker] | None = None,
        stats: ConnectorStats | None = None,
    ) -> None:
        """``clock`` is what cache ages and breaker timers read (tests move it instead of sleeping).

        ``breakers`` are carried over from the engine a reload replaces, for
        connectors that did not change: their state and counts go on.
        ``stats`` gets every real call's outcome and error text, for the
        admin status and ``/readyz`` (the observer, ``/metrics``, only counts).
        """
        self._clock = clock
        self.stats = stats or ConnectorStats(settings.connectors, clock)
        self._configs = {c.name: c for c in settings.connectors}
        self._connectors = connectors
        self.deadline_s = settings.card.deadline_ms / 1000
        self.cache: SectionCache = cache or MemoryCache(clock=clock)
        self._observer = observer
        carried = breakers or {}
        self.breakers = {
            c.name: carried.get(c.name) or CircuitBreaker(c.circuit, c.max_concurrency, clock)
            for c in settings.connectors
        }
        # the attribute keys each connector names: a call without one of them skips it
        self.attributes = {c.name: attribute_keys(c) for c in settings.connectors}
        self.required_attributes = {c.name: required_attribute_keys(c) for c in settings.connectors}
        self._named = {c.name: connector_parameters(c) for c in settings.connectors}
        region = settings.numbers.default_region
        self._cache_names = {c.name: cache_name(c, region) for c in settings.connectors}
        self._inflight: dict[str, asyncio.Task[Section]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.plans = {c.name: self._plan(c) for c in settings.connectors}
        # sections are frozen: every card starts from the same pending ones
        self._pending = {name: Section(title=plan.title) for name, plan in self.plans.items()}

    def _plan(self, config: ConnectorSettings) -> ConnectorPlan:
        secret = any(k.startswith(SECRET_PREFIX) for k in self.attributes[config.name])
        return ConnectorPlan(
            config=config,
            title=config.title,
            timeout_s=config.timeout_ms / 1000,
            needed=config.needed_connectors(),
            required_attributes=tuple(self.required_attributes[config.name]),
            # a section found with a secret (a PIN) is never cached: its key would be derived from it
            cached=config.cache_ttl_s > 0 and not secret,
            runs_on_null=not _needs_its_values(config),
        )

    def initial(self, number: CallerNumber) -> Sections:
        """The sections before anything has answered: pending, or skipped for a withheld number."""
        reason = _why_not_looked_up(number)
        if reason is None:
            return dict(self._pending)
        return {
            name: Section(status=SectionStatus.SKIPPED, title=plan.title, error=reason)
            for name, plan in self.plans.items()
        }

    def snapshots(
        self,
        number: CallerNumber,
        context: CallContext | None = None,
        keep: Mapping[str, Section] | None = None,
        trace: LookupTrace | None = None,
    ) -> AsyncGenerator[Snapshot, None]:
        """Yield the sections after each batch of answers; the last is complete.

        ``context`` binds ``direction``, ``line``, ``call_id`` and the
        attributes; ``keep`` holds sections that stand as they are (a re-run
        after new attributes runs only the others).  With ``trace`` every
        connector runs afresh (no cache) and says what it did.
        """
        return Run(self, number, context or CallContext(), keep or {}, trace).drive()

    async def lookup(
        self, number: CallerNumber, context: CallContext | None = None, trace: LookupTrace | None = None
    ) -> Sections:
        """The final sections only (CLI, ``/api/lookup``)."""
        final: Sections = self.initial(number)
        async for snapshot in self.snapshots(number, context, trace=trace):
            final = snapshot.sections
        return final

    def uses_changed(self, name: str, changed: frozenset[str]) -> bool:
        """Whether connector ``name`` names one of the attribute keys ``changed``."""
        return not changed.isdisjoint(self.attributes.get(name, ()))

    def dependents(self, names: frozenset[str]) -> frozenset[str]:
        """``names`` and every connector that ``needs`` one of them, directly or not."""
        out = set(names)
        grown = True
        while grown:
            grown = False
            for name, config in self._configs.items():
                if name not in out and not out.isdisjoint(config.needed_connectors()):
                    out.add(name)
                    grown = True
        return frozenset(out)

    async def settle(self, timeout_s: float) -> None:
        """Wait (up to ``timeout_s``) for its lookups still running (a replaced engine, before it closes)."""
        running = [*self._background, *self._inflight.values()]
        if running:
            await asyncio.wait(running, timeout=timeout_s)

    async def stop(self) -> None:
        """Cancel the lookups still running (shutdown); the cache, which generations share, stays open."""
        for task in [*self._background, *self._inflight.values()]:
            task.cancel()
        await asyncio.gather(*self._background, *self._inflight.values(), return_exceptions=True)

    async def close(self) -> None:
        await self.stop()
        await self.cache.close()

    async def traced_section(self, name: str, params: Mapping[str, Any], trace: ConnectorTrace) -> Section:
        """One connector's section looked up now, with its trace on.

        A traced lookup neither reads nor fills the cache: it is there to
        show what the connector does against its source at this moment.  It
        still goes through the breaker (an open circuit is part of the answer)
        and counts in the connector's figures like any real call.
        """
        with tracing(trace):
            return await self._fetch(name, params)

    async def section_for(self, name: str, params: Mapping[str, Any]) -> Section:
        """One connector's section, through the cache when the connector has one."""
        if not self.plans[name].cached:
            return await self._fetch(name, params)
        config = self._configs[name]
        key = cache_key(self._cache_names[name], self._keyed_params(name, params))
        cached = await self.cache.get(key)
        if cached is not None:
            age = cached.age(self._clock.time())
            if age < config.cache_ttl_s:
                return replace(cached.section, cached=True, elapsed_ms=0)
            self._refresh_in_background(name, params, key)
            return replace(cached.section, cached=True, elapsed_ms=0, age_s=age)
        return await asyncio.shield(self._shared_fetch(name, params, key))

    def _keyed_params(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """What a cached section is keyed on: the number, the `needs`, and the call parameters it names.

        ``call_id`` (and a direction, line or attribute the connector does not
        name) would otherwise make every call's key new, and nothing would ever
        be served from the cache; a kind that does not declare its parameters
        is keyed on all of them but the call id.
        """
        named = self._named.get(name)
        if named is None:
            return {k: v for k, v in params.items() if k != "call_id"}
        return {
            k: v
            for k, v in params.items()
            if (k not in CONTEXT_PARAMETERS and not k.startswith(ATTR_PREFIX)) or k in named
        }

    def _shared_fetch(self, name: str, params: Mapping[str, Any], key: str) -> asyncio.Task[Section]:
        """One lookup in flight per connector and number; later askers share it."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch_and_store(name, params, key))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return task

    def _refresh_in_background(self, name: str, params: Mapping[str, Any], key: str) -> None:
        if key in self._inflight:
            return
        task = self._shared_fetch(name, params, key)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fetch_and_store(self, name: str, params: Mapping[str, Any], key: str) -> Section:
        """Look up and cache; with a shared cache, one instance of the cluster does the lookup."""
        config = self._configs[name]
        cluster = self.cache if isinstance(self.cache, ClusterLock) else None
        timeout_s = config.timeout_ms / 1000
        if cluster is not None and not await cluster.lock(key, timeout_s):
            started = time.perf_counter()
            found = await cluster.wait_for(key, timeout_s)
            if found is not None:
                elapsed = round((time.perf_counter() - started) * 1000)
                return replace(found.section, cached=True, elapsed_ms=elapsed)
            return await self._fetch_and_store(name, params, key)
        try:
            section = await self._fetch(name, params)
            if section.status in CACHEABLE:
                keep = config.cache_ttl_s + (config.cache_stale_s or 0)
                await self.cache.put(key, replace(section, elapsed_ms=None), keep)
        finally:
            if cluster is not None:
                await cluster.unlock(key)
        return section

    async def _fetch(self, name: str, params: Mapping[str, Any]) -> Section:
        plan = self.plans[name]
        breaker = self.breakers[name]
        if not breaker.allow():
            return Section(SectionStatus.ERROR, title=plan.title, error="circuit open", elapsed_ms=0)
        started = time.perf_counter()
        result: LookupResult | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(plan.timeout_s):
                async with breaker.slots:
                    result = await self._connectors[name].lookup(params)
        except TimeoutError:
            status, error = SectionStatus.TIMEOUT, f"no answer in {plan.config.timeout_ms} ms"
        except ConnectorNotReady as exc:  # not a failure of the source: the breaker does not count it
            error = str(exc)[:200] or "not ready yet"
            self._observe(name, SectionStatus.ERROR, time.perf_counter() - started)
            self.stats.not_ready(name, error)
            return Section(SectionStatus.ERROR, title=plan.title, error=error, elapsed_ms=0)
        except ConnectorError as exc:
            status, error = SectionStatus.ERROR, str(exc)[:200] or "connector error"
        except asyncio.CancelledError:
            breaker.record_failure()
            raise
        except Exception as exc:  # a broken connector must never break the card
            # logged (rate-limited, redacted) by ConnectorStats; the traceback only with --debug
            log.debug("connector %s raised", name, exc_info=True)
            status, error = SectionStatus.ERROR, f"connector failed ({type(exc).__name__})"
        else:
            status = SectionStatus.NOT_FOUND if result.data is None else SectionStatus.OK
        elapsed = time.perf_counter() - started
        self._record(name, breaker, status, elapsed)
        self.stats.record(name, status, elapsed, error)
        return _section_from(plan, status, error, result, round(elapsed * 1000))

    def _record(self, name: str, breaker: CircuitBreaker, status: SectionStatus, elapsed: float) -> None:
        if status in (SectionStatus.TIMEOUT, SectionStatus.ERROR):
            breaker.record_failure()
        else:
            breaker.record_success()
        self._observe(name, status, elapsed)

    def _observe(self, name: str, status: SectionStatus, elapsed: float) -> None:
        if self._observer is not None:
            self._observer.connector_done(name, status, elapsed)


def _section_from(
    plan: ConnectorPlan,
    status: SectionStatus,
    error: str | None,
    result: LookupResult | None,
    elapsed_ms: int,
) -> Section:
    """The finished section, made in one go (``dataclasses.replace`` on the hot path costs more)."""
    if status is not SectionStatus.OK or result is None:
        return Section(status, title=plan.title, error=error, elapsed_ms=elapsed_ms)
    others = tuple(identity_of(row, plan.config.identity) for row in result.extra_rows)
    return Section(
        status, title=plan.title, data=result.data, elapsed_ms=elapsed_ms, rows=result.rows, others=others
    )


def _why_not_looked_up(number: CallerNumber) -> str | None:
    if number.withheld:
        return "number withheld"
    if not number.e164 and not number.digits:
        return "no digits to look up"
    return None


def _needs_its_values(config: ConnectorSettings) -> bool:
    """Whether a missing value skips the connector: its options say (``needs_its_attributes``), else yes."""
    needs_them = getattr(config.options, "needs_its_attributes", None)
    return needs_them is None or bool(needs_them())
