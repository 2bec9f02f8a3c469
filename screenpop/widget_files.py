"""Serving the browser widget and the standalone agent page.

The files live in the ``web_widget`` package (installed with screenpop), so
the widget is served the same from a checkout and from a wheel.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from screenpop.errors import NotFound

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


def _read(name: str) -> tuple[bytes, str]:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in _TYPES:
        raise NotFound(f"no widget file {name!r}")
    resource = resources.files("web_widget").joinpath(name)
    if not resource.is_file():
        raise NotFound(f"no widget file {name!r}")
    return resource.read_bytes(), _TYPES[suffix]


async def widget_file(request: web.Request) -> web.Response:
    body, content_type = _read(request.match_info["name"])
    headers = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


async def agent_page(request: web.Request) -> web.Response:
    body, _ = _read("agent.html")
    headers = {"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)


def widget_routes(app: web.Application) -> None:
    app.router.add_get("/widget/{name}", widget_file)
    app.router.add_get("/agent", agent_page)
