"""The middleware every request passes: CORS for allowed origins, and errors as SPEC JSON.

``error_middleware`` is the one place an error becomes an HTTP answer: a
``ScreenpopError`` carries its status and SPEC code, aiohttp's own HTTP
errors are mapped to the nearest code, and anything else is logged with its
traceback and answered with a 500 that says nothing about the cause.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

import screenpop.web.app_keys as app_keys
from screenpop.errors import ScreenpopError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ScreenpopError as exc:
        return error_response(exc.status, exc.code, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "bad_request")
        return error_response(exc.status, code, exc.reason)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; see the server log")


CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
    "Vary": "Origin",
}


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let the widget embedded in an allowed origin call /api with its Bearer token.

    Only origins in ``server.allowed_origins`` get CORS headers; no cookies are
    involved, so no credentials are allowed.
    """
    origin = request.headers.get("Origin")
    allowed = (
        origin is not None
        and request.path.startswith("/api/")
        and (origin in request.app[app_keys.SETTINGS].server.allowed_origins)
    )
    if allowed and request.method == "OPTIONS":
        return web.Response(status=204, headers={**CORS_HEADERS, "Access-Control-Allow-Origin": origin or ""})
    response = await handler(request)
    if allowed:
        response.headers.update({**CORS_HEADERS, "Access-Control-Allow-Origin": origin or ""})
    return response
