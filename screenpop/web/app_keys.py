"""The typed keys under which ``create_app`` hangs every service on the aiohttp app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from screenpop.admin import AdminBoard, WebhookLog
from screenpop.broker import Broker
from screenpop.calls import CallService
from screenpop.clock import Clock
from screenpop.config import Settings
from screenpop.generation import Generations
from screenpop.hub import Hub
from screenpop.metrics import Metrics
from screenpop.reloading import Reloader
from screenpop.sinks import SinkWorker
from screenpop.store import Store

SETTINGS = web.AppKey("settings", Settings)
"""The settings the process started with: read only what a reload cannot change (server, store, broker).

Everything else (connectors, directory, roles, routing, lines, card) is in
``GENERATIONS.current.settings``, which a reload replaces.
"""
GENERATIONS = web.AppKey("generations", Generations)
RELOADER = web.AppKey("reloader", Reloader)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
BROKER = web.AppKey("broker", Broker)
HTTP = web.AppKey("http", aiohttp.ClientSession)
HUB = web.AppKey("hub", Hub)
CALLS = web.AppKey("calls", CallService)
SINKS = web.AppKey("sinks", SinkWorker)
READINESS: web.AppKey[Callable[[], Awaitable[dict[str, Any]]]] = web.AppKey("readiness")
REFRESH_GAUGES: web.AppKey[Callable[[], None]] = web.AppKey("refresh_gauges")
LINKS = web.AppKey("links", dict[str, Callable[[], str]])
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
WEBHOOKS = web.AppKey("webhooks", WebhookLog)
BOARD = web.AppKey("board", AdminBoard)
ADMIN_EXTRAS: web.AppKey[dict[str, Callable[[], Awaitable[Any]]]] = web.AppKey("admin_extras")
"""More blocks of ``/api/admin/status`` by name (``sinks``: their backlog), filled by what has them."""


@dataclass(frozen=True, slots=True)
class WebhookIntake:
    """What the webhook handler reads on every request, taken from the app in one look-up.

    aiohttp's ``request.app`` and ``app[key]`` are Python calls each: a
    webhook read six keys before its first frame.
    """

    settings: Settings
    generations: Generations
    metrics: Metrics
    webhooks: WebhookLog
    calls: CallService


INTAKE = web.AppKey("intake", WebhookIntake)
