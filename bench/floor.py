"""Bare aiohttp apps the benchmark runs in their own processes.

``floor``: the least any webhook-to-websocket service can do on this machine:
a POST handler that forwards the raw body to the one connected websocket and
answers 202.  No signature check, no parsing, no store: screenpop's figures
are printed as ratios to this.

``backend``: a stand-in for a contact center's HTTP APIs, answering
``GET /{connector}?phone=E164`` after a fixed delay with the bench's rows
(404 for a number it does not know), for ``latency.py --connectors http``.

    python bench/floor.py floor --port 8501
    python bench/floor.py backend --port 8502 --delay-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

from aiohttp import WSMsgType, web
from common import ROWS

ACCEPTED = b'{"status":"accepted"}'


@dataclass
class Forwarding:
    """The websocket webhooks are forwarded to (the latest one to connect)."""

    ws: web.WebSocketResponse | None = None


FORWARDING = web.AppKey("forwarding", Forwarding)
DELAY_S = web.AppKey("delay_s", float)


async def forward(request: web.Request) -> web.Response:
    body = await request.read()
    ws = request.app[FORWARDING].ws
    if ws is None or ws.closed:
        return web.Response(status=503, body=b'{"error":"no socket"}', content_type="application/json")
    await ws.send_str(body.decode())
    return web.Response(status=202, body=ACCEPTED, content_type="application/json")


async def socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)  # as screenpop: no per-frame deflate
    await ws.prepare(request)
    request.app[FORWARDING].ws = ws
    async for msg in ws:
        if msg.type is WSMsgType.ERROR:
            break
    return ws


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def floor_app() -> web.Application:
    app = web.Application()
    app[FORWARDING] = Forwarding()
    app.router.add_post("/webhooks/{provider}", forward)
    app.router.add_get("/ws", socket)
    app.router.add_get("/healthz", healthz)
    return app


async def answer(request: web.Request) -> web.Response:
    rows = ROWS.get(request.match_info["connector"], {})
    await asyncio.sleep(request.app[DELAY_S])
    row = rows.get(request.query.get("phone", ""))
    if row is None:
        return web.json_response({"error": "no such customer"}, status=404)
    return web.json_response(row)


def backend_app(delay_ms: float) -> web.Application:
    app = web.Application()
    app[DELAY_S] = delay_ms / 1000
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/{connector}", answer)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("role", choices=["floor", "backend"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=20.0, help="backend answer delay")
    args = parser.parse_args()
    app = floor_app() if args.role == "floor" else backend_app(args.delay_ms)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
