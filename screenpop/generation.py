"""One loaded configuration and what was built from it, swapped as a whole by a reload.

A ``Generation`` holds everything a reload replaces at once: the settings
(directory, roles, routing, lines, card), the connectors (rules included:
they are connectors of kind ``rules``), the lookup engine over them, the
section specs and the webhook providers.  Adding a part (sinks) is one field
here and one line in ``build_generation``.

A call takes the generation current when its event arrives and keeps it to
the end of what that event started (first frame, fan-out, history, card
versions): ``Generations.pinned`` sets it in a context variable, and tasks
spawned from there inherit it, because asyncio copies the context into
every task it creates.  Code that serves a call reads
``Generations.current``: the pinned generation inside a call, the latest
one anywhere else.

A replaced generation is retired once no call holds it any more: its
connectors that the new generation did not carry over are closed then (and
only when no other generation still alive uses them), so no pool leaks and
no call in progress loses a connector under its feet.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from screenpop.broker.redis_url import redis_client
from screenpop.card import SectionSpec, section_specs
from screenpop.clock import Clock
from screenpop.config import ConnectorSettings, Settings
from screenpop.connector_api import Connector
from screenpop.errors import ConfigError
from screenpop.lookup import ConnectorStats, LookupEngine, SectionCache
from screenpop.lookup.breaker import CircuitBreaker
from screenpop.lookup.engine import LookupObserver, cache_name
from screenpop.plugins import build_connectors, connector_context
from screenpop.providers import make_provider
from screenpop.providers.base import WebhookProvider

log = logging.getLogger(__name__)

RETIRE_AFTER_S = 120.0
"""The longest a replaced generation waits for its calls before its connectors are closed anyway.

Every user of a generation is bounded well below it (a fan-out by
``card.deadline_ms``, a transfer or an update by a few broker round trips);
the bound only keeps a bug from holding pools open for ever.
"""


@dataclass(eq=False)
class Generation:
    """A configuration as loaded, and the parts built from it (immutable once built)."""

    settings: Settings
    connectors: Mapping[str, Connector]
    engine: LookupEngine
    specs: Mapping[str, SectionSpec]
    providers: Mapping[str, WebhookProvider]
    loaded_at: str
    number: int = 1
    users: int = field(default=0, compare=False)
    retired: bool = field(default=False, compare=False)  # no call may pin it any more
    idle: asyncio.Event = field(default_factory=asyncio.Event, compare=False)

    def hold(self) -> None:
        self.users += 1
        self.idle.clear()

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.users = 0
            self.idle.set()


@dataclass(frozen=True)
class Shared:
    """What every generation uses and a reload never rebuilds (its lifetime is the process's)."""

    http: aiohttp.ClientSession
    cache: SectionCache
    observer: LookupObserver | None
    clock: Clock | None = None


class Pin:
    """What ``Generations.pinned`` returns: a plain context manager, not a generator's.

    Every webhook enters one before its first frame, where the
    generator-based manager it replaces ran two more Python frames.
    """

    __slots__ = ("_asked", "_generation", "_generations", "_token", "_variable")

    def __init__(
        self,
        generations: Generations,
        variable: contextvars.ContextVar[Generation | None],
        asked: Generation | None,
    ) -> None:
        self._generations = generations
        self._variable = variable
        self._asked = asked
        self._generation: Generation | None = None
        self._token: contextvars.Token[Generation | None] | None = None

    def __enter__(self) -> Generation:
        found = self._variable.get()
        asked = self._asked
        if found is not None:
            generation = found
        elif asked is None or asked.retired:
            generation = self._generations.latest
        else:
            generation = asked
        generation.hold()
        if found is None:
            self._token = self._variable.set(generation)
        self._generation = generation
        return generation

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            self._variable.reset(self._token)
        if self._generation is not None:
            self._generation.release()


class Generations:
    """The latest generation, the one a call has pinned, and the retirement of replaced ones."""

    def __init__(self, first: Generation) -> None:
        first.idle.set()
        self.latest = first
        self._alive: list[Generation] = [first]  # latest first, then those still finishing calls
        self._pinned: contextvars.ContextVar[Generation | None] = contextvars.ContextVar(
            f"screenpop-generation-{id(self)}", default=None
        )
        self._retiring: set[asyncio.Task[None]] = set()

    @property
    def current(self) -> Generation:
        """The generation of the call being served (pinned), else the latest."""
        return self._pinned.get() or self.latest

    def config_info(self) -> dict[str, str]:
        """``config`` of ``GET /api/admin/status``: when and from where the running config was loaded."""
        return {"loaded_at": self.latest.loaded_at, "source": self.latest.settings.source}

    @property
    def alive(self) -> int:
        """How many generations are alive: the latest, and replaced ones still finishing their calls."""
        return len(self._alive)

    def pinned(self, generation: Generation | None = None) -> Pin:
        """Serve what follows (and the tasks it spawns, which copy the context) on one generation.

        ``generation`` (the one a call's card is being built on) when it is
        given and still alive, else the latest; already pinned, it stays.
        """
        return Pin(self, self._pinned, generation)

    def held_task(self, task: asyncio.Task[None]) -> None:
        """``task`` (spawned while pinned) keeps its generation alive until it ends."""
        generation = self.current
        generation.hold()
        task.add_done_callback(lambda _: generation.release())

    def replace(self, new: Generation) -> Generation:
        """Make ``new`` the latest; the old one is retired in the background once its calls end."""
        old = self.latest
        new.number = old.number + 1
        if new.users == 0:
            new.idle.set()
        self.latest = new
        self._alive.insert(0, new)
        task = asyncio.create_task(self._retire(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return old

    async def _retire(self, old: Generation) -> None:
        try:
            async with asyncio.timeout(RETIRE_AFTER_S):
                while old.users > 0:  # a call of its own may pin it again until it is marked retired
                    await old.idle.wait()
        except TimeoutError:
            log.warning(
                "config generation %d still in use after %.0f s; closing it", old.number, RETIRE_AFTER_S
            )
        old.retired = True  # no await since the count was seen at zero: nobody pinned it meanwhile
        await old.engine.settle(timeout_s=old.settings.card.deadline_ms / 1000)
        self._alive.remove(old)
        in_use = {id(c) for g in self._alive for c in g.connectors.values()}
        await _close([c for c in old.connectors.values() if id(c) not in in_use])

    async def close(self) -> None:
        """Shutdown: stop retiring, close every connector of every generation still alive, once."""
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        for generation in self._alive:
            await generation.engine.stop()
        unique = {id(c): c for g in self._alive for c in g.connectors.values()}
        await _close(list(unique.values()))


def _providers(settings: Settings) -> dict[str, WebhookProvider]:
    """Every webhook provider; a refusal names the file, as every other config error does."""
    made = {}
    for provider in settings.providers:
        if provider.kind == "asterisk_ami":
            continue
        try:
            made[provider.name] = make_provider(provider, settings.server)
        except ConfigError as exc:
            raise ConfigError(f"{settings.source}: {exc}") from exc
    return made


async def build_generation(
    settings: Settings, shared: Shared, previous: Generation | None = None
) -> Generation:
    """Build (and start) what ``settings`` describes, carrying over unchanged connectors from ``previous``.

    A connector is carried over, pools, caches, indexes and breaker
    included, when its kind and options are the same and the numbers'
    default region (which its normalisation uses) did not change.  The
    others are built and started here; one that cannot start yet is logged
    and answers with errors, as at start-up.  Raises ``ConfigError`` when a
    connector kind cannot be loaded.
    """
    providers = _providers(settings)  # first: a refused provider fails the build before any pool opens
    carried = _carried(settings, previous)
    broker = settings.broker.url
    context = connector_context(
        settings.numbers.default_region,
        Path(settings.source).parent,
        shared.http,
        functools.partial(redis_client, broker) if broker.startswith("redis") else None,
        _forgetting(shared.cache, settings),
    )
    fresh = build_connectors([c for c in settings.connectors if c.name not in carried], context)
    # figures go on for a connector whose block is unchanged (ConnectorStats.reconfigured)
    if previous is not None:
        stats = previous.engine.stats.reconfigured(settings.connectors)
    else:
        stats = ConnectorStats(settings.connectors, **_clock(shared))
    await start_connectors(fresh, stats)
    connectors = {c.name: carried.get(c.name) or fresh[c.name] for c in settings.connectors}
    breakers = _carried_breakers(settings, previous, carried)
    engine = LookupEngine(
        settings,
        connectors,
        shared.cache,
        observer=shared.observer,
        breakers=breakers,
        stats=stats,
        **_clock(shared),
    )
    return Generation(
        settings=settings,
        connectors=connectors,
        engine=engine,
        specs=section_specs(settings),
        providers=providers,
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def _forgetting(cache: SectionCache, settings: Settings) -> Callable[[str, Collection[str]], Awaitable[None]]:
    """What a connector calls when its source changed for some numbers: their cached answers go.

    The names are this generation's: a connector carried into a later one
    has the same definition, hence the same cache name.
    """
    names = {c.name: cache_name(c, settings.numbers.default_region) for c in settings.connectors}

    async def forget(connector: str, numbers: Collection[str]) -> None:
        if connector in names and numbers:
            gone = await cache.forget(names[connector], numbers)
            log.info(
                "connector %s: %d numbers changed, %d cached answers dropped", connector, len(numbers), gone
            )

    return forget


def _clock(shared: Shared) -> dict[str, Clock]:
    return {} if shared.clock is None else {"clock": shared.clock}


def _carried(settings: Settings, previous: Generation | None) -> dict[str, Connector]:
    if previous is None or previous.settings.numbers.default_region != settings.numbers.default_region:
        return {}
    before = {c.name: c for c in previous.settings.connectors}
    return {
        c.name: previous.connectors[c.name]
        for c in settings.connectors
        if c.name in before and same_connector(before[c.name], c)
    }


def same_connector(old: ConnectorSettings, new: ConnectorSettings) -> bool:
    """Whether a connector can be kept as it is: the same kind with the same options."""
    return old.kind == new.kind and old.options == new.options


def _carried_breakers(
    settings: Settings, previous: Generation | None, carried: Mapping[str, Connector]
) -> dict[str, CircuitBreaker]:
    if previous is None:
        return {}
    before = {c.name: c for c in previous.settings.connectors}
    return {
        c.name: previous.engine.breakers[c.name]
        for c in settings.connectors
        if c.name in carried
        and before[c.name].circuit == c.circuit
        and before[c.name].max_concurrency == c.max_concurrency
    }


async def start_connectors(connectors: Mapping[str, Connector], stats: ConnectorStats | None = None) -> None:
    """Start every connector; one that cannot start yet is logged (redacted) and answers with errors."""
    results = await asyncio.gather(*(c.start() for c in connectors.values()), return_exceptions=True)
    for name, result in zip(connectors, results, strict=True):
        if isinstance(result, BaseException):
            if stats is not None:
                stats.start_failed(name, result)  # logs it, redacted, and the connector's health says so
            else:
                log.warning("connector %s could not start: %s", name, type(result).__name__)


async def _close(connectors: list[Connector]) -> None:
    results = await asyncio.gather(*(c.close() for c in connectors), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):  # closing is best effort: the pool is dropped either way
            log.warning("a replaced connector failed to close: %s", type(result).__name__)
