"""``/api/admin/status`` and ``/api/admin/deliveries``: what IT needs to see, for an admin role only.

The reader's role hides sections here as on a card (``admin.visibility``).

Nothing here carries a phone number, a note or a secret: connector errors
and refusal reasons are redacted where they are recorded
(``lookup.ConnectorStats``, ``admin.WebhookLog``), and the rest is counts,
states and names from the config.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

import screenpop.web.app_keys as app_keys
from screenpop.admin import MAX_DELIVERIES
from screenpop.admin.visibility import instances_for_role, status_for_role
from screenpop.admin.webhook_log import ProviderCounts
from screenpop.connector_api import source_state
from screenpop.web.handlers import agent_with, int_param
from screenpop.web.json_answer import json_answer

log = logging.getLogger(__name__)

DEFAULT_DELIVERIES = 50
EXTRA_TIMEOUT_S = 1.0


async def status(request: web.Request) -> web.Response:
    """This instance's status, and every live instance's labelled by name (with a Redis broker)."""
    agent = agent_with(request, "admin")
    app = request.app
    own = await own_status(app)
    board = app[app_keys.BOARD]
    instances = await board.instances(own)  # published whole: each reader's role is applied here
    hidden = app[app_keys.GENERATIONS].latest.settings.hidden_sections(agent.role)
    shown = status_for_role(own, hidden)
    return json_answer(
        {**shown, "instance": board.instance, "instances": instances_for_role(instances, hidden)}
    )


async def deliveries(request: web.Request) -> web.Response:
    """The last ``limit`` webhook deliveries, newest first, of every instance sharing the Redis."""
    agent_with(request, "admin")
    limit = int_param(request, "limit", default=DEFAULT_DELIVERIES, low=1, high=MAX_DELIVERIES)
    return json_answer({"deliveries": await request.app[app_keys.BOARD].deliveries(limit)})


async def own_status(app: web.Application) -> dict[str, Any]:
    """SPEC 4's status of this instance: connectors, providers, agents, store, broker, config, and more."""
    generation = app[app_keys.GENERATIONS].latest
    settings = generation.settings
    readiness = await app[app_keys.READINESS]()
    hub = app[app_keys.HUB]
    report: dict[str, Any] = {
        "connectors": _connectors(app),
        "providers": _providers(app, generation.providers),
        "agents_connected": hub.connected,
        "agents_by_queue": hub.agents_by_queue(),
        "store": readiness["store"],
        "broker": readiness["broker"],
        "config": {"loaded_at": generation.loaded_at, "source": settings.source},
        # beyond SPEC 4: the console's test lookup offers these (names from the config only)
        "roles": sorted(set(settings.roles) | {a.role for a in settings.agents.directory}),
    }
    if "phone_links" in readiness:
        report["phone_links"] = readiness["phone_links"]
    # SPEC 4 lists it whatever the connectors: feedback is taken for any section, and counted
    report["feedback"] = await _feedback(app)
    for name, extra in app[app_keys.ADMIN_EXTRAS].items():
        report[name] = await _extra(name, extra)
    return report


def _providers(app: web.Application, configured: Mapping[str, object]) -> dict[str, Any]:
    """Counts of the providers the running config has (one a reload added counts from then on)."""
    counts = app[app_keys.WEBHOOKS].providers
    return {name: (counts.get(name) or ProviderCounts()).to_json() for name in configured}


def _connectors(app: web.Application) -> dict[str, dict[str, Any]]:
    generation = app[app_keys.GENERATIONS].latest
    engine = generation.engine
    report: dict[str, dict[str, Any]] = {}
    for name, breaker in engine.breakers.items():
        source = source_state(generation.connectors.get(name))
        report[name] = {
            "state": breaker.state.value,
            **engine.stats.summary(name),
            "health": engine.stats.health(name, breaker, source),
        }
        if source is not None:  # beyond SPEC 4: a normalized sql source's index (docs/matching.md)
            report[name]["index"] = {
                **source.details,
                "refresh_error": engine.stats.redacted(name, source.reason),
            }
    return report


async def _feedback(app: web.Application) -> dict[str, Any]:
    """Answers to suggestions per section; empty (and logged) while the store cannot answer."""
    try:
        async with asyncio.timeout(EXTRA_TIMEOUT_S):
            return await app[app_keys.STORE].feedback_counts()
    except Exception as exc:  # the store's state is shown beside it; the page must still load
        log.warning("admin status: feedback counts unreadable: %s", type(exc).__name__)
        return {}


async def _extra(name: str, extra: Any) -> Any:
    try:
        async with asyncio.timeout(EXTRA_TIMEOUT_S):
            return await extra()
    except Exception as exc:  # one block that cannot answer must not hide the rest of the page
        log.warning("admin status: %s unreadable: %s", name, type(exc).__name__)
        return {"error": f"unreadable ({type(exc).__name__})"}
