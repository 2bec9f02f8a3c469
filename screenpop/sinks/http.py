"""The ``http`` sink: a POST of the SPEC's JSON body, with ``Idempotency-Key: <call_id>:<version>``.

Answers mean:

- 2xx: delivered.
- 408, 429 and 5xx: the sink is busy or away; retried with exponential
  back-off and jitter, and never sooner than its ``Retry-After`` (seconds, or
  an HTTP date read against the answer's own ``Date``).

Only the status is read, never the body: a 2xx means the note was taken
however long or endless the body that follows (reading it would hold a
delivery, and the memory, until the timeout and then send the note again).
- Any other status (a 3xx, since redirects are not followed for a POST; a
  4xx): the sink refused this entry (``SinkRefused``).  It is not dropped:
  it stays undelivered, shown as ``failing`` in ``/readyz`` and counted in
  ``/metrics``, and is retried at the slowest interval of the back-off, so
  that fixing the endpoint (a token, a schema) delivers it without anyone
  replaying it.  Its call's later notes wait behind it (order per call).

Header values (secrets through ``${ENV}``) are sent and never logged or shown.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import aiohttp
from pydantic import Field, ValidationInfo, field_validator

from screenpop.connector_api import credentials_clash
from screenpop.errors import Unavailable
from screenpop.sink_api import Delivery, SinkBusy, SinkContext, SinkOptions, SinkRefused

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

RETRYABLE = frozenset({408, 429})


class HttpSinkOptions(SinkOptions):
    url: str = Field(pattern=r"^https?://[^/\s]+")
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, le=300)

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        """Refuse what would fail or mislead at every delivery (never echoing a value: they are secrets)."""
        names = {name.lower() for name in headers}
        if "idempotency-key" in names:
            raise ValueError("Idempotency-Key is set by screenpop, one per note; remove it")
        url = info.data.get("url")
        if url and credentials_clash(url, headers):
            raise ValueError("Authorization beside a password in the url: only one can be sent; keep one")
        return headers


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
                status, wait = response.status, retry_after_s(response.headers)
        except aiohttp.ServerDisconnectedError as exc:  # reached, then dropped: a proxy, a crash, a limit
            raise Unavailable("the sink closed the connection") from exc
        except aiohttp.ClientError as exc:
            raise Unavailable("unreachable") from exc
        if 200 <= status < 300:
            return
        if status in RETRYABLE or status >= 500:
            raise SinkBusy(f"HTTP {status}", wait)
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


def retry_after_s(headers: CIMultiDictProxy[str]) -> float | None:
    """``Retry-After`` in seconds (delta-seconds, or an HTTP date less the ``Date``); None if unsaid."""
    value = headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(
            0.0, (parsedate_to_datetime(value) - parsedate_to_datetime(headers["Date"])).total_seconds()
        )
    except (KeyError, TypeError, ValueError):  # absent or not a date: the back-off alone decides
        return None
