"""Thin aiohttp handlers: read the request, call a service, shape the answer.

Errors are raised, never built here: ``middleware.error_middleware`` turns
every error into the JSON shape of SPEC section 4, so no client input can
produce a 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

from aiohttp import web

import screenpop.web.app_keys as app_keys
from screenpop import untrusted
from screenpop.admin.visibility import reload_for_role
from screenpop.auth import AgentIdentity, bearer_token, verify_token
from screenpop.call_context import ATTR_PREFIX, AttributeValue, CallContext, parse_attributes
from screenpop.card import render_card, section_meta, shown_sections, summary_for
from screenpop.config import SUPERVISOR_ROLE, Settings
from screenpop.errors import (
    BadRequest,
    Forbidden,
    InvalidNumber,
    NotFound,
    ScreenpopError,
    TooLarge,
    UnsupportedMediaType,
)
from screenpop.lookup import LookupTrace
from screenpop.metrics import UNKNOWN_LABEL
from screenpop.model import Card
from screenpop.phone import parse_caller
from screenpop.providers.base import WebhookRequest, report_dropped_attributes
from screenpop.store import FeedbackWrite
from screenpop.store.rows import admitted
from screenpop.store.schema import FEEDBACK_OUTCOMES, MAX_PRODUCT
from screenpop.untrusted import clean_line, clean_text
from screenpop.web.collector import collect_if_due
from screenpop.web.json_answer import json_answer
from screenpop.web.lookup_params import as_role_param, flag, number_param
from screenpop.web.recorded import on_recorded_call

log = logging.getLogger(__name__)

MAX_NOTES_CHARS = 10_000


async def webhook(request: web.Request) -> web.Response:
    started = time.perf_counter()
    name = request.match_info["provider"]
    intake = request.app[app_keys.INTAKE]
    provider = intake.generations.latest.providers.get(name)
    metrics = intake.metrics
    webhooks = intake.webhooks
    if provider is None:
        # A label value comes from configuration only: a name anyone can put in
        # a URL would add series (memory) for the life of the process.
        metrics.webhook_seen(UNKNOWN_LABEL, "unknown_provider")
        unknown = NotFound(f"no webhook provider is named {name[:40]!r}")
        webhooks.refused(name, unknown)
        raise unknown
    webhooks.track(name)  # a provider added by a reload is counted like those configured at start
    try:
        # each checked before any is taken: a batch is refused whole
        events = [
            admitted(e) for e in provider.verify_and_parse(await _webhook_request(request, intake.settings))
        ]
        fresh = [e for e in events if await intake.calls.accept(e, started)]
    except ScreenpopError as exc:
        metrics.webhook_seen(name, exc.code)
        webhooks.refused(name, exc)
        raise
    reply = provider.reply(events)
    response = web.Response(
        status=reply.status, body=reply.body, content_type=reply.content_type, headers=reply.extra
    )
    answered_at = time.time()
    await answer_now(request, response)
    # After the answer, so the sender does not wait for it.  Nothing suspends between the
    # answer's write and here (a 202 is far below the write buffer's limit), so the console
    # and /metrics show the webhook before this instance reads any other request.  The kernel
    # may still run the sender first, and its next webhook may reach another instance: the
    # deliveries list, which orders every instance's by time, gets the time of the answer.
    try:  # the events are taken: a fault in the counting is logged, never the sender's to retry
        metrics.webhook_seen(name, "accepted" if fresh or not events else "duplicate")
        # in memory: Redis gets it in a batch
        webhooks.accepted(name, reply.status, events, bool(fresh), answered_at)
    except Exception:
        log.exception("webhook from %s: the events were taken, but counting them failed", name)
    for event in fresh:
        report_dropped_attributes(event, metrics.attributes_dropped_seen)
    collect_if_due()  # the collector's turn, now that nothing of this webhook waits for it (collector.py)
    return response


async def answer_now(request: web.Request, response: web.Response) -> None:
    """Send the answer from the handler, not after the middleware's unwinding.

    A phone system waits for this answer with its own timeout and retries
    without it, so it goes out as soon as the events are taken.  aiohttp
    sends a prepared answer only once: returning it afterwards sends
    nothing more.  A sender gone meanwhile has nobody to hear the answer;
    its retry is a duplicate, answered the same way.
    """
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError as exc:
        log.debug("webhook answered to a sender that is gone: %s", exc)


async def _webhook_request(request: web.Request, settings: Settings) -> WebhookRequest:
    body = await read_body(request, settings.server.max_body_bytes, settings.server.read_timeout_s)
    return WebhookRequest(
        url=settings.server.public_url.rstrip("/") + request.rel_url.raw_path_qs,
        # aiohttp's own case-insensitive view: no dict of lower-cased names built per webhook
        headers=request.headers,
        body=body,
        # as sent: aiohttp reads a missing header as application/octet-stream, and a 415 named that
        content_type=request.headers.get("Content-Type", ""),
        now=time.time(),
    )


async def read_body(request: web.Request, limit: int, deadline_s: float) -> bytes:
    """The whole body, however many TCP segments or chunks it arrives in, up to ``limit`` bytes.

    ``content.read(n)`` answers with what has arrived so far, not with the
    body: a webhook split across two segments would be verified on half of
    it.  A chunked body has no Content-Length, so the limit is checked as it
    comes.  A body that breaks off (bad chunking, the client gone) is the
    client's doing: a 400, never a 500 with a traceback in the log.
    """
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"the body is over {limit} bytes")
    try:
        if request.content.is_eof():  # the whole body came with the head (a webhook's usual case)
            return _body_arrived(request, limit)  # nothing to wait for: no timer, no await on the hot path
        async with asyncio.timeout(deadline_s):
            return await _body_up_to(request, limit)
    except TimeoutError as exc:
        # A sender that trickles its body (slowloris) held the handler and its socket as
        # long as it liked: the same limit as for the request's head (``ScreenpopRunner``).
        _end_reading(request)
        raise BadRequest(f"the body did not arrive within {deadline_s:g} s") from exc
    except (web.RequestPayloadError, ConnectionError) as exc:
        _end_reading(request)
        raise BadRequest("the body could not be read to its end") from exc


def _body_arrived(request: web.Request, limit: int) -> bytes:
    """The body when all of it has arrived: what is buffered, at once."""
    body = request.content.read_nowait()
    if len(body) > limit:
        raise TooLarge(f"the body is over {limit} bytes")
    return body


async def _body_up_to(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over {limit} bytes")
    return b"".join(chunks)


def _end_reading(request: web.Request) -> None:
    """Read no more of a body that broke off or came too slowly, and close once answered.

    After the answer aiohttp reads what is left of an unread body to keep the
    connection; a broken one (gzip over plain bytes) raised again there,
    outside any handler: a logged "Unhandled exception", and a slow one would
    be waited for again.
    """
    request.content.feed_eof()
    if request.protocol is not None:
        request.protocol.close()


def _settings(request: web.Request) -> Settings:
    """The config as last loaded (a reload replaces it; the restart-only blocks are the same)."""
    return request.app[app_keys.GENERATIONS].latest.settings


def _agent(request: web.Request) -> AgentIdentity:
    token = bearer_token(request.headers.get("Authorization"))
    return verify_token(_settings(request), token)


async def reload_config(request: web.Request) -> web.Response:
    """Read the config file again: 200 with what changed, or 400 with the config error (nothing changes)."""
    agent = agent_with(request, "admin")
    outcome = await request.app[app_keys.RELOADER].reload_everywhere()
    log.info("%s", outcome.sentence())
    return json_answer(reload_for_role(outcome.to_json(), _settings(request).hidden_sections(agent.role)))


def agent_with(request: web.Request, permission: Literal["admin", "lookup"]) -> AgentIdentity:
    """The token's agent when its role may use ``permission``'s endpoints: 401 without a token, else 403."""
    agent = _agent(request)
    if not _settings(request).role_may(agent.role, permission):
        raise Forbidden(f"the role {agent.role!r} lacks `{permission}: true` for this endpoint")
    return agent


async def list_calls(request: web.Request) -> web.Response:
    agent = _agent(request)
    limit = int_param(request, "limit", default=20, low=1, high=200)
    who = None if agent.role == SUPERVISOR_ROLE else agent.id
    await request.app[app_keys.CALLS].records_written()
    calls = await request.app[app_keys.STORE].recent_calls(who, limit)
    if who is not None:  # the call stays in the history of an agent it was transferred away from
        await request.app[app_keys.CALLS].mark_transferred_away(who, calls)
    hidden = _settings(request).hidden_sections(agent.role)
    store = request.app[app_keys.STORE]
    for call in calls:  # the reader's own view: a summary is derived from sections its role may not see
        call["summary"] = summary_for(call.get("summary"), hidden)
        if seen := answered_sections(call["summary"]):  # its customer and badges come from these
            store.audit_card(agent.id, call["call_id"], None, seen, provider=call["provider"])
    return json_answer({"calls": calls})


def answered_sections(summary: dict[str, Any] | None) -> list[str]:
    """The sections whose data a listed summary may show (its customer's name and ids, its badges)."""
    statuses = (summary or {}).get("sections") or {}
    return [name for name, status in statuses.items() if status == "ok"]


async def save_note(request: web.Request) -> web.Response:
    agent = _agent(request)
    body = await _json_body(request)
    disposition = body.get("disposition")
    notes = body.get("notes", "")
    card = _settings(request).card
    problem = None if disposition is None else card.disposition_problem(disposition)
    if problem is not None:
        raise BadRequest(problem)
    if not isinstance(notes, str) or len(notes) > MAX_NOTES_CHARS:
        raise BadRequest(f"notes must be text of at most {MAX_NOTES_CHARS} characters")
    if disposition is None and not notes.strip():
        raise BadRequest("send a disposition, notes, or both")
    call_id = request.match_info["call_id"]
    if clean_line(call_id) != call_id:
        raise NotFound("no call has that id")  # no provider sends control characters in an id
    await request.app[app_keys.CALLS].records_written()
    saved = await on_recorded_call(
        request.app,
        call_id,
        lambda: request.app[app_keys.STORE].save_note(
            call_id,
            agent.id,
            clean_line(disposition),
            clean_text(notes),  # stored as shown: no NUL (PostgreSQL refuses it), no bidi override
            may_annotate_any=agent.role == SUPERVISOR_ROLE,
        ),
    )
    request.app[app_keys.SINKS].wake()  # the note's outbox entries are committed: deliver them now
    return json_answer(saved, status=201)


async def post_attributes(request: web.Request) -> web.Response:
    """Attributes learnt during the call: merged, dependent sections re-run, a new version to all."""
    agent = _agent(request)
    body = await _json_body(request)
    attributes = parse_attributes(body.get("attributes"), "attributes")
    call_id = request.match_info["call_id"]
    if clean_line(call_id) != call_id:
        raise NotFound("no call has that id")  # no provider sends control characters in an id
    await request.app[app_keys.CALLS].records_written()
    result = await request.app[app_keys.CALLS].attributes.apply(call_id, agent.id, attributes)
    return json_answer(result.to_json(_settings(request).hidden_sections(agent.role)))


async def save_feedback(request: web.Request) -> web.Response:
    """An agent's answer to a suggestion of a section their role may see; counted in ``/metrics``."""
    agent = _agent(request)
    answer = _feedback_answer(request, agent, await _json_body(request))
    call_id = request.match_info["call_id"]
    if clean_line(call_id) != call_id:
        raise NotFound("no call has that id")  # no provider sends control characters in an id
    await request.app[app_keys.CALLS].records_written()
    store = request.app[app_keys.STORE]
    saved = await on_recorded_call(
        request.app, call_id, lambda: store.save_feedback(call_id, agent.id, answer)
    )
    # the section is a configured connector's name (checked above), so the label set stays bounded
    request.app[app_keys.METRICS].suggestion_feedback.labels(answer.section, answer.outcome).inc()
    return json_answer(saved, status=201)


def _feedback_answer(request: web.Request, agent: AgentIdentity, body: dict[str, Any]) -> FeedbackWrite:
    """The body's section, product and outcome, each checked; a 400 names the first bad field."""
    settings = _settings(request)
    section, product, outcome = body.get("section"), body.get("product"), body.get("outcome")
    visible = {c.name for c in settings.connectors} - settings.hidden_sections(agent.role)
    if not isinstance(section, str) or section not in visible:
        raise BadRequest("section must name a section of the card that your role may see")
    if not isinstance(product, str) or not 1 <= len(product) <= MAX_PRODUCT or not product.isprintable():
        raise BadRequest(f"product must be 1 to {MAX_PRODUCT} characters without control characters")
    if outcome not in FEEDBACK_OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(FEEDBACK_OUTCOMES)}")
    return FeedbackWrite(section, product, outcome)


async def lookup(request: web.Request) -> web.Response:
    """A card without a call; ``role=`` shows it as that role sees it, ``trace=1`` adds the trace.

    The trace (each connector's statement or URL, parameters, raw rows)
    shows how the config reaches the company's systems, so it needs an admin
    role besides the lookup role; a section hidden from the asker's own role
    is left out of it as it is left out of the card.
    """
    agent = agent_with(request, "lookup")
    settings = _settings(request)
    traced = flag(request, "trace")
    if traced and not settings.role_may(agent.role, "admin"):
        raise Forbidden(f"the role {agent.role!r} lacks `admin: true` for a traced lookup")
    as_role = as_role_param(request, settings)
    raw = number_param(request)
    number = parse_caller(raw, settings.numbers.default_region)
    if number.withheld or not (number.e164 or number.digits):
        raise InvalidNumber(f"{raw[:40]!r} is not a phone number")
    context = CallContext(attributes=_query_attributes(request))
    with request.app[app_keys.GENERATIONS].pinned() as generation:
        trace = LookupTrace(generation.settings.connectors) if traced else None
        sections = await generation.engine.lookup(number, context, trace)
    card = Card(
        call_id="",
        caller=number,
        received_at="",
        sections=sections,
        status="lookup",
        complete=True,
        context=context,
    )
    hidden = settings.hidden_sections(agent.role)
    shown = hidden | (settings.hidden_sections(as_role) if as_role else frozenset())
    # What the answer carries data of, nothing more: the trace shows the rows of every
    # section the asker's own role sees (and the values passed on from them), ``role=`` or not.
    seen = shown_sections(card, hidden if trace is not None else shown)
    await request.app[app_keys.STORE].audit_lookup(agent.id, number.e164 or number.digits, list(seen))
    body = render_card(card, generation.specs, shown)
    if as_role:
        body["as_role"] = as_role
    if trace is not None:
        body["trace"] = trace.report(sections, hidden)
        body["display"] = section_meta(generation.settings, shown)  # the console draws it as the widget does
    return json_answer(body)


def _query_attributes(request: web.Request) -> dict[str, AttributeValue]:
    """``attr_KEY=VALUE`` query parameters as the lookup's attributes (text values), checked like a call's."""
    given = {
        name.removeprefix(ATTR_PREFIX): value
        for name, value in request.query.items()
        if name.startswith(ATTR_PREFIX)
    }
    return parse_attributes(given, "attr_ parameters")


async def healthz(request: web.Request) -> web.Response:
    return json_answer({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    report = await request.app[app_keys.READINESS]()
    healthy = report["store"] == "ok" and report["broker"] == "ok"
    return json_answer(report, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[app_keys.METRICS].render(request.app[app_keys.REFRESH_GAUGES])
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a whole number") from exc
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    server = request.app[app_keys.SETTINGS].server
    raw = await read_body(request, server.max_body_bytes, server.read_timeout_s)
    return untrusted.loads_object(raw)
