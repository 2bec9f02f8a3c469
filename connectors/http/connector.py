"""The ``http`` connector kind: one request to a JSON API, fields picked out with JSONPath.

Error texts go to agents' browsers, so they say only the status and the
connector's name: never a header value, a query string (which often carries
an API key) or the response body.  ``hedge_ms`` trades one extra request for
tail latency: when the first request is slow a second identical one is sent
and whichever answers first is used.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import aiohttp
from pydantic import Field, ValidationInfo, field_validator

from screenpop.connector_api import (
    MASKED,
    ConnectorContext,
    ConnectorOptions,
    ConnectorTrace,
    LookupResult,
    TraceStep,
    client_session,
    credentials_clash,
    current_trace,
    shown_body,
    shown_headers,
    shown_params,
    shown_url,
)
from screenpop.errors import ConnectorError

from .select import Selector, compile_path

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
CLIENT_TIMEOUT_S = 60.0  # caps ``check``, which runs outside the engine's per-connector timeout
NO_TIMER = aiohttp.ClientTimeout()
"""A lookup's request gets no aiohttp timer: the engine's ``timeout_ms`` already bounds (and cancels) it."""
MAX_BODY_BYTES = 5 * 1024 * 1024
CHECK_PARAMS = {
    "e164": "+10000000000",
    "national": "0000000000",
    "digits": "0000000000",
    "country_code": "1",
    "region": "US",
}


class HttpOptions(ConnectorOptions):
    """Keys of a ``kind: http`` connector (SPEC section 3)."""

    method: Literal["GET", "POST"] = "GET"
    url: str = Field(pattern=r"^https?://\S+$")
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = None
    select: dict[str, str] = Field(default_factory=dict)
    items: str | None = None
    limit: int = Field(20, ge=1, le=1000)
    hedge_ms: int | None = Field(None, ge=1, le=60_000)

    def answers_a_list(self) -> bool:
        return self.items is not None

    def parameters(self) -> Iterator[tuple[tuple[int | str, ...], str]]:
        """Every parameter the URL or body names (``{e164}``, ``{attr_order_id}``, a `needs` field).

        The config loader refuses a name nothing binds, so a misspelt
        ``{phone}`` fails at load rather than on every call.
        """
        texts: list[tuple[tuple[int | str, ...], str]] = [(("url",), self.url)]
        texts += [(("body",), text) for text in _strings(self.body)]
        for path, text in texts:
            for name in PLACEHOLDER.findall(text):
                yield path, name

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        """Refuse at load what aiohttp refuses at every request (never echoing a value: they are secrets)."""
        url = info.data.get("url")
        if url and credentials_clash(url, headers):
            raise ValueError(
                "Authorization beside a user or password in the url: only one can be sent; keep one"
            )
        return headers

    @field_validator("select")
    @classmethod
    def _paths_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for field, path in value.items():
            compile_path(path, f"select.{field}")
        return value

    @field_validator("items")
    @classmethod
    def _items_parses(cls, value: str | None) -> str | None:
        if value is not None:
            compile_path(value, "items")
        return value


@dataclass(frozen=True, slots=True)
class Traced:
    """A traced lookup's trace, and its request as the trace shows it (secrets masked)."""

    trace: ConnectorTrace
    shown: dict[str, Any]


class HttpConnector:
    """One configured JSON API, called through screenpop's shared client session."""

    Options: ClassVar[type[HttpOptions]] = HttpOptions

    def __init__(self, name: str, options: HttpOptions | Mapping[str, Any], context: ConnectorContext):
        self.name = name
        self.options = options if isinstance(options, HttpOptions) else HttpOptions.model_validate(options)
        self._shared = context.http
        self._own: aiohttp.ClientSession | None = None
        self._selector = Selector(self.options.select, self.options.items, self.options.limit)
        self._url = UrlTemplate(self.options.url)
        self._headers = dict(self.options.headers) or None
        self._timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
        # configured header values (API keys, bearer tokens) are masked wherever a trace might show them
        self._secrets = tuple(v.removeprefix("Bearer ").strip() for v in self.options.headers.values())

    async def start(self) -> None:
        """Borrow screenpop's session; only a connector used on its own opens one."""
        if self._shared is None and self._own is None:
            self._own = client_session()

    async def lookup(self, params: Mapping[str, Any]) -> LookupResult:
        """One request; the engine's ``timeout_ms`` bounds it (so aiohttp is given no timer of its own)."""
        url = self._url.fill(params)
        body = fill_body(self.options.body, params) if self.options.body is not None else None
        trace = current_trace()
        traced = None if trace is None else Traced(trace, self._shown_request(params))
        if self.options.hedge_ms is None:
            document = await self._request(url, body, traced)
        else:
            document = await self._hedged(url, body, self.options.hedge_ms / 1000, traced)
        if document is None:
            if trace is not None:
                trace.note(f"{self.name} answered 404 (nothing for this caller)")
            return LookupResult(None, 0)
        result = self._selector.result(document)
        if trace is not None and result.data is None:
            trace.note(
                "nothing in the answer matched `select`" + (" / `items`" if self.options.items else "")
            )
        return result

    async def check(self) -> None:
        """Any HTTP answer, even a 404, proves the API can be reached."""
        await self.start()
        url = fill_url(self.options.url, _DefaultParams(CHECK_PARAMS))
        body = fill_body(self.options.body, _DefaultParams(CHECK_PARAMS)) if self.options.body else None
        try:
            async with self._session().request(
                self.options.method, url, headers=self._headers, json=body, timeout=self._timeout
            ) as response:
                await response.read()
        except aiohttp.ClientError as exc:
            raise self._transport_error(exc) from None

    async def close(self) -> None:
        if self._own is not None:
            await self._own.close()
            self._own = None

    def _session(self) -> aiohttp.ClientSession:
        session = self._shared or self._own
        if session is None:
            raise ConnectorError("not started")
        return session

    def _shown_request(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The request as a trace shows it: filled with ``secret_`` attributes masked, credentials hidden.

        Masking the URL and body once filled caught a secret only under a
        secret-sounding key (``?pin_token=``): a PIN in the path or under
        ``{"code": …}`` was shown to whoever traced the lookup.
        """
        masked = shown_params(params)
        url = shown_url(self._url.fill(masked), self._secrets).replace(quote_value(MASKED), MASKED)
        body = fill_body(self.options.body, masked) if self.options.body is not None else None
        return {
            "method": self.options.method,
            "url": url,
            "headers": shown_headers(self.options.headers),
            **({} if body is None else {"body": shown_body(body)}),
        }

    async def _request(self, url: str, body: Any, traced: Traced | None) -> Any:
        """One request; the parsed JSON, or None for a 404."""
        if traced is None:
            return await self._answer(url, body, None)
        step = traced.trace.step("request", **traced.shown)
        return await self._answer(url, body, step)

    async def _answer(self, url: str, body: Any, step: TraceStep | None) -> Any:
        """The request itself; with a trace ``step``, its status and raw JSON (clipped) go there too."""
        try:
            async with self._session().request(
                self.options.method, url, headers=self._headers, json=body, timeout=NO_TIMER
            ) as response:
                if response.status == 404:
                    if step is not None:
                        step.answered(status=404)
                    return None
                if not 200 <= response.status < 300:
                    if step is not None:
                        step.answered(status=response.status)
                    raise ConnectorError(f"HTTP {response.status} from {self.name}")
                document = _parse_json(await _read_capped(response))
                if step is not None:
                    step.answered(status=response.status, response=document)
                return document
        except aiohttp.ClientError as exc:
            raise self._transport_error(exc) from None

    async def _hedged(self, url: str, body: Any, delay_s: float, trace: Traced | None) -> Any:
        """Send a second identical request if the first is slow; the first good answer wins.

        A request that fails is not an answer while the other may still
        succeed; when both fail the first failure is raised.  Whatever is
        still running when this returns (or is cancelled) is cancelled.
        """
        tasks = [self._spawn(url, body, 1, trace)]
        try:
            done, _ = await asyncio.wait(tasks, timeout=delay_s)
            if not done:
                tasks.append(self._spawn(url, body, 2, trace))
            return await _first_success(tasks)
        finally:
            await _cancel_all(tasks)

    def _spawn(self, url: str, body: Any, attempt: int, trace: Traced | None) -> asyncio.Task[Any]:
        return asyncio.create_task(self._request(url, body, trace), name=f"http-{self.name}-{attempt}")

    def _transport_error(self, exc: aiohttp.ClientError) -> ConnectorError:
        if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ServerDisconnectedError):
            return ConnectorError(f"cannot reach {self.name}")
        return ConnectorError(f"request to {self.name} failed ({type(exc).__name__})")


async def _first_success(tasks: list[asyncio.Task[Any]]) -> Any:
    pending: set[asyncio.Task[Any]] = set(tasks)
    failures: list[BaseException] = []
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in sorted(done, key=tasks.index):
            if task.exception() is None:
                return task.result()
            failures.append(task.exception() or RuntimeError("no result"))
    raise failures[0]


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The body, read once; one larger than ``MAX_BODY_BYTES`` is refused, even one sent without a length."""
    length = response.content_length
    if length is not None:
        if length > MAX_BODY_BYTES:
            raise ConnectorError(f"response larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
        return await response.read()
    data = await response.content.read(MAX_BODY_BYTES + 1)
    chunks = [data]
    total = len(data)
    while data and total <= MAX_BODY_BYTES:
        data = await response.content.read(MAX_BODY_BYTES + 1 - total)
        chunks.append(data)
        total += len(data)
    if total > MAX_BODY_BYTES:
        raise ConnectorError(f"response larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
    return b"".join(chunks)


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConnectorError("response was not JSON") from None


class UrlTemplate:
    """A URL with ``{name}`` placeholders, split once so that a lookup only quotes the values."""

    __slots__ = ("_parts",)

    def __init__(self, template: str) -> None:
        pieces = PLACEHOLDER.split(template)  # literal, name, literal, name, ..., literal
        self._parts = tuple((piece, index % 2 == 1) for index, piece in enumerate(pieces) if piece)

    def fill(self, params: Mapping[str, Any]) -> str:
        """Each ``{name}`` replaced by its URL-encoded value (``+`` becomes ``%2B``)."""
        out = []
        for piece, named in self._parts:
            out.append(quote_value(_text(_param(params, piece, "url"))) if named else piece)
        return "".join(out)


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
_ASCII_ESCAPES = {code: f"%{code:02X}" for code in range(128) if chr(code) not in _UNRESERVED}


def quote_value(text: str) -> str:
    """``urllib.parse.quote(text, safe="")``, in one C call for ASCII text (a phone number always is)."""
    return text.translate(_ASCII_ESCAPES) if text.isascii() else quote(text, safe="")


def fill_url(template: str, params: Mapping[str, Any]) -> str:
    """Replace each ``{name}`` with its URL-encoded value (``+`` becomes ``%2B``)."""
    return UrlTemplate(template).fill(params)


def fill_body(template: Any, params: Mapping[str, Any]) -> Any:
    """Template every string of a JSON body; a string that is only ``{name}`` keeps the value's type."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole:
            return _param(params, whole.group(1), "body")
        return PLACEHOLDER.sub(lambda m: _text(_param(params, m.group(1), "body")), template)
    if isinstance(template, dict):
        return {key: fill_body(item, params) for key, item in template.items()}
    if isinstance(template, list):
        return [fill_body(item, params) for item in template]
    return template


def _strings(template: Any) -> Iterator[str]:
    """Every string in a JSON body template."""
    if isinstance(template, str):
        yield template
    elif isinstance(template, dict):
        for item in template.values():
            yield from _strings(item)
    elif isinstance(template, list):
        for item in template:
            yield from _strings(item)


def _param(params: Mapping[str, Any], name: str, where: str) -> Any:
    try:
        return params[name]
    except KeyError:
        raise ConnectorError(f"{where} needs {{{name}}}, which this lookup does not have") from None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class _DefaultParams(dict[str, Any]):
    """A check has no real caller: placeholders from ``needs`` get a dummy value."""

    def __missing__(self, key: str) -> str:
        return "0"
