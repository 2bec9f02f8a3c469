"""A source's NaN or 1e999 never reaches a client as JSON it cannot parse.

A CRM written in Python answers with ``json.dumps``, which writes ``NaN``; a
number like ``1e999`` is valid JSON but too big for a double.  Python reads
both as floats, and writing them back gave ``NaN`` and ``Infinity``: a
browser's ``JSON.parse`` refuses the frame, so the widget dropped every card
version after the pending one.  Through the real service on loopback, a real
HTTP CRM, the real CLI; every text a client gets is parsed by a strict parser.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from screenpop.config import Settings, settings_from_mapping
from tests.support.processes import screenpop_command
from tests.support.service import ADA, SECRET, agent_socket, base_config, event_body, post_event, running

ROOT = Path(__file__).resolve().parents[2]
CRM_ANSWER = '{"name": "Ada Lovelace", "balance": NaN, "limit": 1e999, "owed": -Infinity, "open": 2.5}'
FIELDS = ("name", "balance", "limit", "owed", "open")
EXPECTED = {"name": "Ada Lovelace", "balance": None, "limit": None, "owed": None, "open": 2.5}


def strict(text: str) -> Any:
    """Parse as JSON.parse would: NaN, Infinity and -Infinity are errors."""

    def refuse(token: str) -> Any:
        raise ValueError(f"not standard JSON: {token}")

    return json.loads(text, parse_constant=refuse)


async def crm(request: web.Request) -> web.Response:
    return web.Response(text=CRM_ANSWER, content_type="application/json")


def config(store_url: str, crm_url: str) -> dict[str, Any]:
    document = base_config(store_url)
    document["roles"] = {"tier1": {}, "supervisor": {}, "it": {"admin": True, "lookup": True}}
    document["agents"]["directory"].append({"id": "it-1", "role": "it"})
    document["connectors"] = [
        {
            "name": "crm",
            "kind": "http",
            "url": f"{crm_url}/contacts?phone={{e164}}",
            "identity": {"name": "name"},
            "select": {field: f"$.{field}" for field in FIELDS},
        }
    ]
    return document


def token(agent_id: str) -> str:
    return jwt.encode({"sub": agent_id, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


async def text_of(base: str, path: str, agent_id: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token(agent_id)}"}
    async with aiohttp.ClientSession() as session, session.get(base + path, headers=headers) as reply:
        return reply.status, await reply.text()


async def test_cards_lookups_and_listings_are_standard_json(tmp_path: Path) -> None:
    app = web.Application()
    app.router.add_get("/contacts", crm)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        document = config(f"sqlite+aiosqlite:///{tmp_path}/store.db", str(server.make_url("")).rstrip("/"))
        settings: Settings = settings_from_mapping(document, source="<test>", environ={})
        async with running(settings) as base, agent_socket(base, settings, "agent-1") as agent:
            status, _ = await post_event(base, event_body("c-nan", agent="agent-1"))
            assert status == 202
            await agent.card_until_complete("c-nan")
            frames = [strict(text) for text in agent.raw]
            assert frames[-1]["card"]["sections"]["crm"]["data"] == EXPECTED
            number = ADA.replace("+", "%2B")
            answers = {}
            for path in (f"/api/lookup?number={number}&trace=1", "/api/calls"):
                status, text = await text_of(base, path, "it-1")
                assert status == 200, text
                answers[path] = strict(text)
            assert answers[f"/api/lookup?number={number}&trace=1"]["sections"]["crm"]["data"] == EXPECTED
        config_path = tmp_path / "screenpop.yaml"
        config_path.write_text(yaml.safe_dump(document))
        code, out, err = await screenpop_command(
            "lookup", ADA, "--json", "--trace", "--config", str(config_path)
        )
        assert code == 0, err
        printed = strict(out)
        assert printed["sections"]["crm"]["data"] == EXPECTED
    finally:
        await server.close()
