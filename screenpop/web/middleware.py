"""The middleware every request passes: CORS for allowed origins, and errors as SPEC JSON.

``answer_errors`` is the one place an error becomes an HTTP answer: a
``ScreenpopError`` carries its status and SPEC code, aiohttp's own HTTP
errors are mapped to the nearest code, and anything else is logged with its
traceback and answered with a 500 that says nothing about the cause.

Both middlewares hand a request they have nothing to do with straight to
the handler, without a coroutine of their own: an agent's websocket lives
for hours inside its handler, and every frame suspended around it is memory
held per idle socket (bench/sockets.py).  A handler marked
``answers_its_own_errors`` (the websocket, once its upgrade is sound) is
passed through by ``error_middleware`` for that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import hdrs, web

import screenpop.web.app_keys as app_keys
from screenpop.errors import ScreenpopError
from screenpop.retry import is_transient
from screenpop.store.connections import failure_reason
from screenpop.untrusted import quoted
from screenpop.web.json_answer import json_answer

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., object])
OWN_ERRORS_ATTRIBUTE = "_screenpop_answers_its_own_errors"
SHOWN_PATH_CHARS = 120  # every route's fixed part, and the start of an id in it

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "bad_request",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_number",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_answer({"error": {"code": code, "message": message}}, status=status)


def answers_its_own_errors(handler: H) -> H:
    """Mark a route handler that ``error_middleware`` hands requests to directly (it answers its errors)."""
    setattr(handler, OWN_ERRORS_ATTRIBUTE, True)
    return handler


@web.middleware
def error_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    if getattr(request.match_info.handler, OWN_ERRORS_ATTRIBUTE, False):
        return handler(request)
    return answer_errors(request, handler)


async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer, or its error as the SPEC's JSON error shape."""
    try:
        return await handler(request)
    except Exception as exc:
        return error_answer(request, exc)


def error_answer(request: web.Request, exc: Exception) -> web.StreamResponse:
    """``exc`` as the SPEC's JSON error; an aiohttp redirect (below 400) is raised again for aiohttp."""
    if isinstance(exc, ScreenpopError):
        return error_response(exc.status, exc.code, str(exc))
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        response = error_response(exc.status, _HTTP_CODES.get(exc.status, "bad_request"), exc.reason)
        if hdrs.ALLOW in exc.headers:  # a 405 names the methods that are allowed (RFC 9110)
            response.headers[hdrs.ALLOW] = exc.headers[hdrs.ALLOW]
        return response
    if is_transient(exc):  # the database (or another backend) is away: the client may try again
        reason = failure_reason(exc)
        log.warning("%s %s: a backend is unavailable: %s", request.method, _shown_path(request), reason)
        return error_response(503, "unavailable", f"unavailable: {reason}; try again")
    log.error("unexpected error on %s %s", request.method, _shown_path(request), exc_info=exc)
    return error_response(500, "internal", "internal error; see the server log")


def _shown_path(request: web.Request) -> str:
    """The path as a log line may hold it: a client chose it (kilobytes long, a decoded line break)."""
    return quoted(request.path, SHOWN_PATH_CHARS)


CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
    "Vary": "Origin",
}


@web.middleware
def cors_middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Let the widget embedded in an allowed origin call /api with its Bearer token.

    Only origins in ``server.allowed_origins`` get CORS headers; no cookies are
    involved, so no credentials are allowed.
    """
    origin = request.headers.get("Origin")
    if (
        origin is None
        or not request.path.startswith("/api/")
        or origin not in request.app[app_keys.SETTINGS].server.allowed_origins
    ):
        return handler(request)
    return _with_cors(request, handler, origin)


async def _with_cors(request: web.Request, handler: Handler, origin: str) -> web.StreamResponse:
    if request.method == "OPTIONS":
        return web.Response(status=204, headers={**CORS_HEADERS, "Access-Control-Allow-Origin": origin})
    response = await handler(request)
    response.headers.update({**CORS_HEADERS, "Access-Control-Allow-Origin": origin})
    return response
