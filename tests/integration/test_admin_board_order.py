"""An instance's status never reaches the console before the deliveries it counts (real Redis).

A webhook refused between a round's flush and the status taken after it was
counted in that status at once and listed a round later: a console (and a
two-instance test, one run in four) read "refused 1" beside a deliveries list
without it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.asyncio import Redis

from screenpop.admin.board import DELIVERIES_KEY, AdminBoard, snapshot_key
from screenpop.admin.webhook_log import WebhookLog
from screenpop.errors import BadSignature

pytestmark = pytest.mark.redis


async def test_a_status_is_published_after_the_deliveries_it_counts(redis_url: str) -> None:
    webhooks = WebhookLog.for_providers(["pbx"], shared=True)
    board = AdminBoard(webhooks, redis_url, instance="b")

    async def status_while_a_webhook_is_refused() -> dict[str, Any]:
        webhooks.refused("pbx", BadSignature("Screenpop-Signature does not match"))
        return {"providers": {name: counts.to_json() for name, counts in webhooks.providers.items()}}

    try:
        assert await board._round(status_while_a_webhook_is_refused, publish=True)
        async with Redis.from_url(redis_url, decode_responses=True) as redis:
            listed = [json.loads(entry) for entry in await redis.lrange(DELIVERIES_KEY, 0, -1)]
            status = json.loads(await redis.get(snapshot_key("b")))
    finally:
        await board.close()
    assert status["providers"]["pbx"]["refused"] == 1
    assert [(d["code"], d["provider"]) for d in listed] == [("bad_signature", "pbx")]
