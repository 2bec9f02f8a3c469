"""Shared pieces of the fuzz tests: a service on its own thread, tokens, the error-shape check.

schemathesis sends its requests with ``requests`` (blocking), so the real
aiohttp application runs on an event loop of its own in a background
thread while the test thread fuzzes it over loopback.  Tokens are minted
with PyJWT exactly as a host application would (HS256, ``sub``, ``exp``,
an optional ``role``), not with screenpop's own ``mint_token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Mapping

from hypothesis import HealthCheck, settings

from screenpop.config import Settings
from screenpop.web.openapi_schemas import ERROR_CODES
from tests.support import tokens
from tests.support.service import SECRET, running

# Bounded and deterministic: the same examples every run, no example database, no deadline
# (the machine is shared and loaded; a slow example is not a failure).
FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

# The status each SPEC error code goes with (SPEC section 4).
STATUS_OF_CODE = {
    "bad_request": 400,
    "bad_signature": 401,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "too_large": 413,
    "unsupported_media_type": 415,
    "invalid_number": 422,
    "rate_limited": 429,
    "unavailable": 503,
}
assert set(STATUS_OF_CODE) == set(ERROR_CODES)


def host_token(agent_id: str, role: str | None = None, secret: str = SECRET, ttl_s: int = 3600) -> str:
    """An agent token as the host application mints it with PyJWT (``tokens.host_token``, fuzz's defaults)."""
    return tokens.host_token(secret, agent_id, role, ttl_s)


def error_shape_problem(status: int, body: bytes, content_type: str) -> str | None:
    """What is wrong with a 4xx/5xx answer's body against SPEC section 4, or None when it is right."""
    if not content_type.startswith("application/json"):
        return f"error content type {content_type!r} is not JSON"
    try:
        data = json.loads(body)
    except ValueError:
        return f"error body is not JSON: {body[:200]!r}"
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) != {"error"} or not isinstance(error, dict):
        return f"error body is not {{'error': {{...}}}}: {data!r}"
    code, message = error.get("code"), error.get("message")
    if set(error) != {"code", "message"} or not isinstance(message, str) or code not in STATUS_OF_CODE:
        return f"error object is not {{code: <SPEC code>, message: str}}: {error!r}"
    if STATUS_OF_CODE[code] != status:
        return f"code {code!r} goes with {STATUS_OF_CODE[code]}, answered {status}"
    return None


def assert_client_answer(status: int, body: bytes, content_type: str, what: str) -> None:
    """No 5xx for client input, and every 4xx in the SPEC error shape."""
    assert status < 500, f"{what}: answered {status} {body[:300]!r}"
    if status >= 400:
        problem = error_shape_problem(status, body, content_type)
        assert problem is None, f"{what}: {problem}"


@contextlib.contextmanager
def service_in_thread(config: Settings) -> Iterator[str]:
    """The real application (``running``) on a loop in a background thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-service", daemon=True)
    thread.start()
    context = running(config)
    try:
        base = asyncio.run_coroutine_threadsafe(context.__aenter__(), loop).result(60)
        try:
            yield base
        finally:
            asyncio.run_coroutine_threadsafe(context.__aexit__(None, None, None), loop).result(60)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def lower_keys(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
