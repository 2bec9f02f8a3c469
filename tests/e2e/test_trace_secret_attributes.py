"""`/api/lookup?trace=1` shows an http connector's URL and body with a `secret_` attribute's value masked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support.service import api, make, running
from tests.support.tokens import token_for

ADA = "+14155550132"
PIN = "864213"
NAME = {"select": {"name": "$.name"}}


@pytest.fixture
async def crm() -> AsyncIterator[TestServer]:
    """A JSON API on loopback that knows Ada whatever PIN it is sent (it never echoes the PIN)."""

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"name": "Ada Lovelace"})

    app = web.Application()
    app.router.add_get("/pins/{pin}", answer)
    app.router.add_post("/verify", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_a_secret_attribute_is_masked_in_a_traced_url_and_body(tmp_path: Path, crm: TestServer) -> None:
    """The PIN bound into the URL's path and a POST body reads ``***`` in the trace; the lookup still used it.

    The trace masked a secret only by the name of the query key or body key
    it sat under: ``/pins/{attr_secret_pin}`` or ``{"code": …}`` showed the
    caller's PIN to whoever traced the lookup (SPEC 2: "secrets masked").
    """
    api_url = str(crm.make_url("")).rstrip("/")
    settings = make(
        f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
        roles={"tier1": {}, "supervisor": {}},
        connectors=[
            {
                "name": "by_path",
                "kind": "http",
                "url": f"{api_url}/pins/{{attr_secret_pin}}?phone={{e164}}",
                **NAME,
            },
            {
                "name": "by_body",
                "kind": "http",
                "method": "POST",
                "url": f"{api_url}/verify",
                "body": {"phone": "{e164}", "code": "{attr_secret_pin}", "note": "pin {attr_secret_pin}"},
                **NAME,
            },
        ],
    )
    path = f"/api/lookup?number={quote(ADA)}&attr_secret_pin={PIN}&trace=1"
    async with running(settings) as base:
        status, body = await api(base, "GET", path, token_for(settings, "agent-3"))
    assert status == 200, body
    assert {name: section["status"] for name, section in body["sections"].items()} == {
        "by_path": "ok",
        "by_body": "ok",
    }
    by_path = body["trace"]["by_path"]["steps"][0]
    assert by_path["url"] == f"{api_url}/pins/***?phone=%2B14155550132"
    assert body["trace"]["by_body"]["steps"][0]["body"] == {"phone": ADA, "code": "***", "note": "pin ***"}
    assert PIN not in json.dumps(body)
