"""The typed keys under which ``create_app`` hangs every service on the aiohttp app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from screenpop.admin import AdminBoard, WebhookLog
from screenpop.broker import Broker
from screenpop.calls import CallService
from screenpop.card import SectionSpec
from screenpop.clock import Clock
from screenpop.config import Settings
from screenpop.hub import Hub
from screenpop.lookup import LookupEngine
from screenpop.metrics import Metrics
from screenpop.providers.base import WebhookProvider
from screenpop.store import Store

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
BROKER = web.AppKey("broker", Broker)
HTTP = web.AppKey("http", aiohttp.ClientSession)
ENGINE = web.AppKey("engine", LookupEngine)
HUB = web.AppKey("hub", Hub)
CALLS = web.AppKey("calls", CallService)
SPECS: web.AppKey[Mapping[str, SectionSpec]] = web.AppKey("specs")
PROVIDERS = web.AppKey("providers", dict[str, WebhookProvider])
READINESS: web.AppKey[Callable[[], Awaitable[dict[str, Any]]]] = web.AppKey("readiness")
REFRESH_GAUGES: web.AppKey[Callable[[], None]] = web.AppKey("refresh_gauges")
LINKS = web.AppKey("links", dict[str, Callable[[], str]])
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
WEBHOOKS = web.AppKey("webhooks", WebhookLog)
BOARD = web.AppKey("board", AdminBoard)
CONFIG_LOADED_AT: web.AppKey[str] = web.AppKey("config_loaded_at")
"""When the running config was read (ISO 8601, UTC); a reload sets it anew."""
ADMIN_EXTRAS: web.AppKey[dict[str, Callable[[], Awaitable[Any]]]] = web.AppKey("admin_extras")
"""More blocks of ``/api/admin/status`` by name (``sinks``: their backlog), filled by what has them."""
