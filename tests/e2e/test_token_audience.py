"""A host token that names an audience is refused with a reason that says so, on the socket and the API.

screenpop identifies itself with no audience, so a token carrying ``aud``
must be refused (RFC 7519, 4.1.3); the reason used to be the same "not
valid" a wrong secret gets, which sent host developers after their secret.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jwt
import websockets

from tests.support.service import SECRET, api, make, running


async def test_a_token_with_an_audience_is_refused_naming_aud(tmp_path: Path) -> None:
    """``aud`` in a host's PyJWT token: 4401 and 401, both saying the audience is the problem."""
    token = jwt.encode({"sub": "agent-1", "exp": int(time.time()) + 600, "aud": "screenpop"}, SECRET, "HS256")
    async with running(make(f"sqlite+aiosqlite:///{tmp_path}/store.db")) as base:
        async with websockets.connect(base.replace("http", "ws") + "/ws") as ws:
            await ws.send(json.dumps({"type": "hello", "token": token}))
            closed = await asyncio.wait_for(ws.wait_closed(), 5)
        status, body = await api(base, "GET", "/api/calls", token)
    assert closed is None and ws.close_code == 4401 and "`aud`" in (ws.close_reason or "")
    assert status == 401 and "`aud`" in body["error"]["message"]
