"""The ``http`` sink: a POST of the SPEC's JSON body, with ``Idempotency-Key: <call_id>:<version>``.

Answers mean:

- 2xx: delivered.
- 408, 429 and 5xx: the sink is busy or away; retried with exponential
  back-off and jitter.
- Any other status (a 3xx, since redirects are not followed for a POST; a
  4xx): the sink refused this entry (``SinkRefused``).  It is not dropped:
  it stays undelivered, shown as ``failing`` in ``/readyz`` and counted in
  ``/metrics``, and is retried at the slowest interval of the back-off, so
  that fixing the endpoint (a token, a schema) delivers it without anyone
  replaying it.  Its call's later notes wait behind it (order per call).

Header values (secrets through ``${ENV}``) are sent and never logged or shown.
"""

from __future__ import annotations

import aiohttp
from pydantic import Field

from screenpop.errors import Unavailable
from screenpop.sink_api import Delivery, SinkContext, SinkOptions, SinkRefused

RETRYABLE = frozenset({408, 429})


class HttpSinkOptions(SinkOptions):
    url: str = Field(pattern=r"^https?://[^/\s]+")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, le=300)


class HttpSink:
    """Posts each delivery through the app's one client session."""

    Options = HttpSinkOptions

    def __init__(self, name: str, options: HttpSinkOptions, context: SinkContext) -> None:
        self.name = name
        self._options = options
        self._http = context.http
        self._timeout = aiohttp.ClientTimeout(total=options.timeout_s)

    async def start(self) -> None:
        """Nothing to open: the session is the app's."""

    async def deliver(self, delivery: Delivery) -> None:
        headers = {**self._options.headers, "Idempotency-Key": delivery.idempotency_key}
        try:
            async with self._session().post(
                self._options.url,
                json=delivery.body(),
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError as exc:
            raise Unavailable("unreachable") from exc
        if 200 <= status < 300:
            return
        if status in RETRYABLE or status >= 500:
            raise Unavailable(f"HTTP {status}")
        raise SinkRefused(f"refused: HTTP {status}")

    async def check(self) -> str:
        """An ``OPTIONS`` request with the configured headers: any answer but 401/403/5xx is reachable."""
        try:
            async with self._session().options(
                self._options.url, headers=self._options.headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                status = response.status
        except aiohttp.ClientError as exc:
            raise Unavailable("unreachable") from exc
        if status in (401, 403) or status >= 500:
            raise Unavailable(f"OPTIONS answered HTTP {status}")
        return f"reachable (OPTIONS answered {status})"

    async def close(self) -> None:
        """Nothing to close: the session is the app's."""

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError(f"sink {self.name}: no HTTP client session")
        return self._http
