"""Serving the browser widget and the standalone agent page.

The files live in the ``web_widget`` package (installed with screenpop), so
the widget is served the same from a checkout and from a wheel.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib import resources

from aiohttp import web

from screenpop.errors import NotFound
from screenpop.untrusted import quoted

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


#: Longer than any file the widget ships; a longer name would reach the file system as an OSError.
_MAX_NAME = 64


def _read(name: str) -> tuple[bytes, str]:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or name.startswith(".") or suffix not in _TYPES or len(name) > _MAX_NAME:
        raise NotFound(f"no widget file {quoted(name)}")
    resource = resources.files("screenpop.web_widget").joinpath(name)
    if not resource.is_file():
        raise NotFound(f"no widget file {quoted(name)}")
    return resource.read_bytes(), _TYPES[suffix]


async def widget_file(request: web.Request) -> web.Response:
    body, content_type = _read(request.match_info["name"])
    headers = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)


async def agent_page(request: web.Request) -> web.Response:
    return _page("agent.html")


async def admin_page(request: web.Request) -> web.Response:
    """The IT console: public like ``/agent`` (it holds no data); its API calls need an admin token."""
    return _page("admin.html")


def _page(name: str) -> web.Response:
    """A standalone page that holds a token: its own code only, never framed (see ``agent_page_policy``)."""
    body, _ = _read(name)
    headers = {
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": agent_page_policy(body),
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    }
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)


@functools.lru_cache(maxsize=4)
def agent_page_policy(html: bytes) -> str:
    """The standalone page's CSP: its own scripts, styles and socket only, and never framed.

    The page holds the agent's token, so nothing but screenpop's own code
    may run in it and no other site may frame it (clickjacking); hosts that
    want the card in their own page embed the widget instead. Its inline
    ``<script>`` and ``<style>`` are allowed by their hashes, computed from
    the file as served, so editing the page cannot silently break it.
    ``'self'`` in ``connect-src`` covers the page's own ws:// and wss://.
    """
    scripts = " ".join(_hashes(_INLINE_SCRIPT, html))
    styles = " ".join(_hashes(_INLINE_STYLE, html))
    return (
        "default-src 'none'; "
        f"script-src 'self' {scripts}; "
        f"style-src 'self' {styles}; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_INLINE_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def _hashes(pattern: re.Pattern[bytes], html: bytes) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in pattern.finditer(html)
    ]


def widget_routes(app: web.Application) -> None:
    app.router.add_get("/widget/{name}", widget_file)
    app.router.add_get("/agent", agent_page)
    app.router.add_get("/admin", admin_page)
