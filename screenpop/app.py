"""``create_app(settings)``: the one place where screenpop's parts are put together.

Everything with a lifetime (store, broker, HTTP session, connectors, AMI
links) is opened and closed in ``cleanup_ctx``, in one order, so tests and
``screenpop serve`` run exactly the same composition.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from screenpop.admin import AdminBoard, WebhookLog
from screenpop.auth import AgentIdentity
from screenpop.broker import make_broker
from screenpop.calls import CallService
from screenpop.card import section_meta
from screenpop.clock import Clock, SystemClock
from screenpop.config import Settings, load_settings
from screenpop.config.exposure import log_config_warnings
from screenpop.connector_api import client_session, source_state
from screenpop.generation import Generations, Shared, build_generation
from screenpop.hub import Hub
from screenpop.lookup import MemoryCache, RedisCache, SectionCache
from screenpop.metrics import Metrics
from screenpop.model import CallEvent
from screenpop.phone import warm
from screenpop.plugins import build_sinks
from screenpop.providers.asterisk_ami import AmiListener
from screenpop.providers.base import report_dropped_attributes
from screenpop.reloading import Loader, Reloader
from screenpop.sink_api import Sink, SinkContext
from screenpop.sinks import SinkWorker, describe_backlog
from screenpop.sinks.worker import LEASE_MARGIN_S
from screenpop.store import CallRecorder, RetentionPolicy, Store
from screenpop.store.retention_loop import run_retention
from screenpop.store.rows import admitted
from screenpop.web import (
    admin,
    answers_its_own_errors,
    app_keys,
    cors_middleware,
    error_answer,
    error_middleware,
    handlers,
    openapi_document,
    set_headers,
    widget_routes,
)
from screenpop.web.json_answer import json_answer

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, clock: Clock | None = None, reload_from: Loader | None = None
) -> web.Application:
    """The service; ``clock`` decides when agent tokens run out (tests pass a ``ManualClock``).

    ``reload_from`` reads the config again as the command that started the
    service did (``POST /api/admin/reload``, SIGHUP); by default the file
    named by ``settings.source``, when it is one.
    """
    app = web.Application(
        middlewares=[cors_middleware, error_middleware],
        client_max_size=settings.server.max_body_bytes,
    )
    app.on_response_prepare.append(set_headers)
    app[app_keys.SETTINGS] = settings
    app[app_keys.CLOCK] = clock or SystemClock()
    app[app_keys.METRICS] = Metrics()
    app[app_keys.LINKS] = {}
    app[app_keys.WEBHOOKS] = WebhookLog.for_providers(
        [p.name for p in settings.providers if p.kind != "asterisk_ami"],
        shared=settings.broker.url.startswith("redis"),
    )
    app[app_keys.ADMIN_EXTRAS] = {}
    app.cleanup_ctx.append(functools.partial(_services, reload_from=reload_from or _file_loader(settings)))
    app.on_shutdown.append(_shutdown)
    _add_routes(app)
    return app


def _file_loader(settings: Settings) -> Loader | None:
    """Reading ``settings.source`` again, when the settings came from a file (tests build some in code)."""
    if not Path(settings.source).is_file():
        return None
    return functools.partial(load_settings, settings.source)


CALL_ID = "{call_id:[^/]+}"
"""Any id a webhook accepts: aiohttp's default segment pattern refuses ``{`` and ``}``, which ids may hold."""


def _add_routes(app: web.Application) -> None:
    document = openapi_document(app[app_keys.SETTINGS])

    async def openapi(_: web.Request) -> web.Response:
        return json_answer(document)

    app.router.add_post("/webhooks/{provider}", handlers.webhook)
    app.router.add_get("/ws", _ws, allow_head=False)  # aiohttp would upgrade a HEAD; RFC 6455 opens with GET
    app.router.add_get("/api/calls", handlers.list_calls)
    app.router.add_post(f"/api/calls/{CALL_ID}/notes", handlers.save_note)
    app.router.add_post(f"/api/calls/{CALL_ID}/feedback", handlers.save_feedback)
    app.router.add_post(f"/api/calls/{CALL_ID}/attributes", handlers.post_attributes)
    app.router.add_get("/api/lookup", handlers.lookup)
    app.router.add_get("/api/admin/status", admin.status)
    app.router.add_get("/api/admin/deliveries", admin.deliveries)
    app.router.add_post("/api/admin/reload", handlers.reload_config)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/openapi.json", openapi)
    widget_routes(app)


@answers_its_own_errors
async def _ws(request: web.Request) -> web.StreamResponse:
    """An agent's socket, with no middleware suspended around it for its whole life.

    What fails before the upgrade (not a websocket request) gets the SPEC's
    JSON error here, as the middleware would give it; after the upgrade
    there is no HTTP answer left to give, and the hub closes the socket on
    an error of its own (``Hub.handle``).
    """
    try:
        return await request.app[app_keys.HUB].handle(request)
    except Exception as exc:
        return error_answer(request, exc)


async def _services(app: web.Application, reload_from: Loader | None) -> AsyncIterator[None]:
    settings = app[app_keys.SETTINGS]
    metrics = app[app_keys.METRICS]
    log_config_warnings(settings)
    # The geocoder loads its data on first use (~1 s): pay that now, not on the first call.
    await asyncio.to_thread(warm, settings.numbers.default_region)
    store = await Store.open(settings.store.url, observer=metrics, sinks=[s.name for s in settings.sinks])
    broker = make_broker(settings.broker.url, settings.broker.replay_s)
    await broker.start()
    http = client_session()
    shared = Shared(http=http, cache=_cache(settings), observer=metrics)
    try:
        generations = Generations(await build_generation(settings, shared))
    except BaseException:  # a provider or connector kind refused: close what is open, then say why
        await asyncio.gather(http.close(), broker.close(), store.close(), return_exceptions=True)
        raise
    hub = Hub(
        generations,
        broker,
        _welcome_extras,
        store.audit_card,
        metrics,
        app[app_keys.CLOCK],
    )
    recorder = CallRecorder(store, metrics)
    recorder.start()
    sinks = build_sinks(settings.sinks, SinkContext(http))
    worker = await _start_sinks(app, store, sinks, settings)
    calls = CallService(generations, broker, store, metrics, recorder)
    app[app_keys.STORE] = store
    app[app_keys.BROKER] = broker
    app[app_keys.HTTP] = http
    app[app_keys.GENERATIONS] = generations
    app[app_keys.HUB] = hub
    app[app_keys.CALLS] = calls
    app[app_keys.INTAKE] = app_keys.WebhookIntake(
        settings, generations, metrics, app[app_keys.WEBHOOKS], calls
    )
    app[app_keys.SINKS] = worker
    app[app_keys.RELOADER] = Reloader(
        reload_from, generations, shared, hub, broker, after=functools.partial(_reload_sinks, app)
    )
    listeners = await _start_ami(app, settings, calls)
    retention = _start_retention(app, store)

    async def readiness() -> dict[str, Any]:
        return await _readiness(app)

    app[app_keys.READINESS] = readiness
    app[app_keys.REFRESH_GAUGES] = lambda: _refresh_gauges(app)
    board = AdminBoard(app[app_keys.WEBHOOKS], settings.broker.url if app[app_keys.WEBHOOKS].shared else None)
    app[app_keys.BOARD] = board
    app[app_keys.ADMIN_EXTRAS]["sinks"] = functools.partial(_sinks_state, app)
    board.start(functools.partial(admin.own_status, app))
    try:
        yield
    finally:
        retention.cancel()
        await asyncio.gather(retention, return_exceptions=True)
        await board.close()
        for listener in listeners:
            await listener.stop()
        await generations.close()  # every live generation's lookups cancelled, its connectors closed
        await shared.cache.close()
        await recorder.close()
        await worker.close()
        await asyncio.gather(*(s.close() for s in worker.sinks.values()), return_exceptions=True)
        await http.close()
        await broker.close()
        await store.close()


async def _start_sinks(
    app: web.Application, store: Store, sinks: Mapping[str, Sink], settings: Settings
) -> SinkWorker:
    """Open every sink and start this instance's delivery worker.

    A lease outlives the slowest sink's timeout, so an entry is never taken
    by a second instance while its first delivery may still succeed.
    """
    metrics = app[app_keys.METRICS]
    for name, sink in sinks.items():
        metrics.track_sink(name)
        await sink.start()
    worker = SinkWorker(store, sinks, app[app_keys.CLOCK], metrics, lease_s=_lease_s(settings))
    worker.settings = settings.sinks
    await worker.open()
    return worker


def _lease_s(settings: Settings) -> float:
    timeouts = [getattr(s.options, "timeout_s", 10.0) for s in settings.sinks]
    return max(timeouts, default=10.0) + LEASE_MARGIN_S


async def _reload_sinks(app: web.Application, settings: Settings) -> None:
    """A reload's sinks: unchanged ones kept (same object), new ones opened, removed ones closed.

    The store writes outbox entries for the new set from the next note on;
    entries already waiting for a removed sink stay in the outbox (listed in
    ``/readyz`` as "not configured") until it comes back or they are erased.
    """
    worker = app[app_keys.SINKS]
    running = {s.name: s for s in worker.settings}
    kept = {s.name: worker.sinks[s.name] for s in settings.sinks if running.get(s.name) == s}
    fresh = build_sinks(
        tuple(s for s in settings.sinks if s.name not in kept), SinkContext(app[app_keys.HTTP])
    )
    for name, sink in fresh.items():
        app[app_keys.METRICS].track_sink(name)
        await sink.start()
    sinks = {s.name: kept.get(s.name) or fresh[s.name] for s in settings.sinks}
    retired = worker.reconfigure(sinks, settings.sinks, _lease_s(settings))
    app[app_keys.STORE].set_sinks(list(sinks))
    await asyncio.gather(*(s.close() for s in retired), return_exceptions=True)


def _start_retention(app: web.Application, store: Store) -> asyncio.Task[None]:
    """The purge loop: at start, then hourly, by the ages of the config as it is then (reloads count)."""
    metrics = app[app_keys.METRICS]
    generations = app[app_keys.GENERATIONS]

    def policy() -> RetentionPolicy:
        kept = generations.latest.settings.retention
        return RetentionPolicy(kept.calls_days, kept.notes_days, kept.audit_days)

    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    loop = run_retention(store, policy, app[app_keys.CLOCK], holder, lambda r: metrics.purge_done(r.counts))
    return asyncio.create_task(loop, name="screenpop-retention")


def _cache(settings: Settings) -> SectionCache:
    if settings.broker.url.startswith("redis"):
        return RedisCache(settings.broker.url)
    return MemoryCache()


async def _start_ami(app: web.Application, settings: Settings, calls: CallService) -> list[AmiListener]:
    """One listener per AMI link; an event the service cannot take yet waits in the link's backlog."""
    listeners = []
    for provider in settings.providers:
        if provider.kind != "asterisk_ami":
            continue
        metrics = app[app_keys.METRICS]
        listener = AmiListener(provider, functools.partial(_checked, calls, metrics), observer=metrics)
        app[app_keys.METRICS].track_queue(listener.queue_name)
        await listener.start()
        app[app_keys.LINKS][provider.name] = functools.partial(lambda lst: lst.state, listener)
        listeners.append(listener)
    return listeners


async def _checked(calls: CallService, metrics: Metrics, event: CallEvent) -> bool:
    """An AMI event is refused as a webhook's is (``check_event``): no pop of a call it cannot record."""
    event = admitted(event)
    taken = await calls.accept(event)
    if taken:
        report_dropped_attributes(event, metrics.attributes_dropped_seen)
    return taken


def _welcome_extras(settings: Settings, agent: AgentIdentity) -> dict[str, Any]:
    """What the widget needs to draw sections, and how long a card may take.

    ``card.deadline_ms`` lets the widget tell a card still growing from one whose
    server died mid-lookup: no version newer than the one it holds will ever come.
    """
    sections = section_meta(settings, settings.hidden_sections(agent.role))
    card = {"deadline_ms": settings.card.deadline_ms}
    return {"sections": sections, "dispositions": _dispositions(settings), "card": card}


def _dispositions(settings: Settings) -> list[str] | None:
    """The widget's choices, or None when any disposition text is accepted (a free-text field)."""
    found = settings.card.dispositions
    return None if found is None else list(found)


async def _readiness(app: web.Application) -> dict[str, Any]:
    report: dict[str, Any] = {"store": await _store_state(app[app_keys.STORE]), "broker": "ok"}
    try:
        async with asyncio.timeout(1.0):
            report["broker"] = await app[app_keys.BROKER].health()
    except TimeoutError:
        report["broker"] = "down: no answer in 1 s"
    generation = app[app_keys.GENERATIONS].latest
    engine = generation.engine
    report["connectors"] = {n: b.state.value for n, b in engine.breakers.items()}
    # beyond the SPEC's shape: each connector's health in words (docs/beyond-the-spec.md); never decides
    # 503, nor does a stale index (its calls are still answered, from older data: SPEC 4's readiness)
    report["connector_health"] = {
        n: engine.stats.health(n, b, source_state(generation.connectors.get(n)))
        for n, b in engine.breakers.items()
    }
    if app[app_keys.GENERATIONS].latest.settings.sinks or app[app_keys.SINKS].backlog:
        report["sinks"] = await _sinks_state(app)
    if app[app_keys.LINKS]:
        report["phone_links"] = {n: state() for n, state in app[app_keys.LINKS].items()}
    return report


async def _store_state(store: Store) -> str:
    try:
        async with asyncio.timeout(1.0):
            await store.ping()
    except TimeoutError:
        return "down: no answer in 1 s"
    except Exception as exc:
        return f"down: {str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}"
    return "ok"


async def _sinks_state(app: web.Application) -> dict[str, str]:
    """Each sink's backlog in words; listed for operators, never a reason to fail readiness."""
    names = [s.name for s in app[app_keys.GENERATIONS].latest.settings.sinks]
    try:
        async with asyncio.timeout(1.0):
            backlog = await app[app_keys.SINKS].refresh_backlog()
    except Exception:  # the store's own state says why; the sinks' is unknown meanwhile
        return dict.fromkeys(names, "unknown: the store did not answer")
    now = app[app_keys.CLOCK].time()
    report = {name: describe_backlog(backlog.get(name), now) for name in names}
    for name in sorted(set(backlog) - set(names)):
        report[name] = f"not configured: {backlog[name].pending} entries wait for it"
    return report


def _refresh_gauges(app: web.Application) -> None:
    metrics = app[app_keys.METRICS]
    now = app[app_keys.CLOCK].time()
    backlog = app[app_keys.SINKS].backlog
    for name in {s.name for s in app[app_keys.GENERATIONS].latest.settings.sinks} | set(backlog):
        found = backlog.get(name)
        metrics.sink_pending.labels(name).set(found.pending if found else 0)
        metrics.sink_failing.labels(name).set(found.failing if found else 0)
        oldest = found.oldest.timestamp() if found and found.oldest else now
        metrics.sink_oldest.labels(name).set(max(0.0, now - oldest))
    metrics.agents_connected.set(app[app_keys.HUB].connected)
    for name, breaker in app[app_keys.GENERATIONS].latest.engine.breakers.items():
        metrics.circuit_open.labels(name).set(0 if breaker.state.value == "closed" else 1)


async def _shutdown(app: web.Application) -> None:
    """Finish the cards in flight, then tell every widget to reconnect elsewhere (1012)."""
    settings = app[app_keys.SETTINGS]
    with contextlib.suppress(KeyError):
        await app[app_keys.CALLS].drain(settings.server.shutdown_grace_s)
        await app[app_keys.HUB].close_all()
