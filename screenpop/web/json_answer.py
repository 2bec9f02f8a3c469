"""Every JSON answer of the HTTP API, written so that any client can parse it.

A connector's data reaches ``/api/lookup`` (and its trace) as the source sent
it; a number that is not finite would be written ``NaN`` or ``Infinity``, which
``JSON.parse`` and most other parsers refuse (``untrusted.standard_json``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from screenpop.untrusted import standard_json


def json_answer(data: Any, *, status: int = 200) -> web.Response:
    """``web.json_response`` whose text is standard JSON (a non-finite number is ``null``)."""
    return web.json_response(data, status=status, dumps=standard_json)
