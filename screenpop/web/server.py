"""How screenpop meets HTTP clients: its response headers, and requests too broken to route.

Headers: every answer says only ``Server: screenpop`` (no Python or aiohttp
version to match against a list of known holes) and ``nosniff``; ``/api/*``
answers are ``no-store`` (they carry cards and notes, and a shared cache or
the browser's disk must not keep them); ``/agent`` gets its
Content-Security-Policy in ``widget_files``.

Malformed HTTP (a bad request line, a header with a control character, bad
chunking) never reaches the application: aiohttp's protocol answers it with
a plain-text 400 that quotes the offending bytes and logs an ERROR with a
traceback, so anyone could fill the log at line rate. aiohttp offers no
public hook for it (aio-libs/aiohttp#3287), so ``ScreenpopRunner`` builds the
server with a protocol whose ``handle_error`` answers those requests with
the SPEC's JSON 400, quoting nothing, and logs one DEBUG line.
``screenpop serve`` and the tests both run the app through it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import HttpVersion11, hdrs, web

import screenpop.web.app_keys as app_keys
from screenpop.web.collector import keep_collecting, settle_heap
from screenpop.web.event_loop import EventLoopChoice, loop_factory, loop_name
from screenpop.web.middleware import error_response

log = logging.getLogger(__name__)

SERVER_NAME = "screenpop"
MALFORMED = b'{"error": {"code": "bad_request", "message": "malformed HTTP request"}}'


async def set_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the headers every answer of the app carries."""
    response.headers[hdrs.SERVER] = SERVER_NAME
    if response.status == 101:
        # A websocket's 101 has no body to sniff, and its headers stay in memory as long as
        # the socket does: thousands of idle agents (bench/sockets.py).
        return
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/api/"):
        response.headers[hdrs.CACHE_CONTROL] = "no-store"


class QuietRequestHandler(web.RequestHandler):
    """aiohttp's connection protocol, answering a malformed request without echo or traceback."""

    __slots__ = ()  # as aiohttp's own: one per connection, so no ``__dict__`` for each idle socket

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status != 400:  # 500/504: the server's own failure, worth aiohttp's full report
            response = super().handle_error(request, status, exc, message)
            response.headers[hdrs.SERVER] = SERVER_NAME
            return response
        # A client's malformed request: one quiet line, since anyone can send these at line rate.
        log.debug("malformed HTTP request from %s: %s", request.remote, type(exc).__name__)
        if request.writer.output_size > 0:  # as aiohttp: too late for an answer
            raise ConnectionError("a response was already started; the connection is dropped")
        response = web.Response(
            status=400,
            body=MALFORMED,
            content_type="application/json",
            headers={hdrs.SERVER: SERVER_NAME},
        )
        response.force_close()
        return response


class QuietServer(web.Server):
    """``web.Server`` whose connections use ``QuietRequestHandler``."""

    def __call__(self) -> web.RequestHandler:
        return QuietRequestHandler(self, loop=self._loop, **self._kwargs)


def expectation_refusal(request: web.BaseRequest, max_body_bytes: int) -> web.Response | None:
    """The answer to an ``Expect`` header that is not met, before routing (and before any 100 Continue).

    aiohttp answers an expectation it does not know with a plain-text 417
    quoting the header, outside every middleware (not the SPEC's JSON), and
    sends ``100 Continue`` to any route before its handler can look at the
    size, so a sender asked to go on with a body over ``max_body_bytes``
    uploaded all of it to be told 413.  HTTP/1.0 has no expectations
    (RFC 9110 10.1.1): there the header is ignored, as aiohttp does.
    """
    expect = request.headers.get(hdrs.EXPECT)
    if expect is None or request.version != HttpVersion11:
        return None
    if expect.strip().lower() != "100-continue":
        return _refusal(400, "bad_request", "the Expect header asks for more than 100-continue")
    if request.content_length is not None and request.content_length > max_body_bytes:
        return _refusal(413, "too_large", f"the body is over {max_body_bytes} bytes")
    return None


def _refusal(status: int, code: str, message: str) -> web.Response:
    """The SPEC's error shape, with the headers ``set_headers`` gives (no route, so no app signal)."""
    response = error_response(status, code, message)
    response.headers.update({hdrs.SERVER: SERVER_NAME, "X-Content-Type-Options": "nosniff"})
    response.force_close()  # whether the body comes or not, this connection is done
    return response


async def _answered(response: web.Response) -> web.Response:
    return response


class ScreenpopRunner(web.AppRunner):
    """``web.AppRunner`` serving the app through ``QuietServer``.

    Its connections close after ``server.read_timeout_s`` without a whole
    request head: aiohttp's own idle limit is an hour, and it counts from
    the connection's start (or its last answer), not from each byte, so a
    sender that trickles a header line now and then (slowloris), or opens
    connections and sends nothing, held a socket each for that hour.  The
    body has the same limit in ``handlers.read_body``.
    """

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        server = self.app[app_keys.SETTINGS].server
        kwargs = {**made._kwargs, "keepalive_timeout": server.read_timeout_s}
        app_handler = made.request_handler

        def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
            # no coroutine of its own: an agent's websocket lives for hours inside the app's
            # handler, and a frame suspended around it is memory held per idle socket
            refusal = expectation_refusal(request, server.max_body_bytes)
            if refusal is None:
                return app_handler(request)
            request.content.feed_eof()  # the body was not asked for: aiohttp would linger, waiting for it
            return _answered(refusal)

        return QuietServer(
            handle,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **kwargs,
        )


def serve_forever(
    app: web.Application,
    host: str,
    port: int,
    shutdown_timeout: float,
    announce: Callable[[str], None],
    event_loop: EventLoopChoice = "auto",
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then stop gracefully (``web.run_app``); SIGHUP reloads.

    ``web.run_app`` cannot be given a runner, hence this small copy of it. The
    signal only ends the wait: the runner's cleanup (finish the cards in
    flight, close sockets with 1012) runs while every other task still lives.
    The loop is ``server.event_loop``'s (``event_loop.py``).
    """

    async def main() -> None:
        runner = ScreenpopRunner(
            app, handle_signals=False, shutdown_timeout=shutdown_timeout, access_log=None
        )
        await runner.setup()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reloads: set[asyncio.Task[None]] = set()

        def hangup() -> None:
            """SIGHUP: reload the config file (reloading.py); the outcome is logged in one line."""
            task = asyncio.create_task(app[app_keys.RELOADER].reload_logged())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, hangup)
        collecting: asyncio.Task[None] | None = None
        try:
            site = web.TCPSite(runner, host, port)
            try:
                await site.start()
            except OSError as exc:  # a host that does not resolve, a port in use: say which
                raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
            settle_heap()
            collecting = asyncio.create_task(keep_collecting())
            announce(f"======== Running on {site.name} ({loop_name(loop)}) ========\n(Press CTRL+C to quit)")
            await stop.wait()
        finally:
            await runner.cleanup()  # cards still finishing allocate: the collector keeps up until here
            if collecting is not None:
                collecting.cancel()

    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        runner.run(main())
