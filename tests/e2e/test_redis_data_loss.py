"""A Redis restarted without persistence (``--save ''``) comes back empty, and the service still pops once.

Two real `screenpop serve` processes share the session's Redis; the Redis is
restarted (the test server runs with ``--save ''``, so its data is gone) and
a phone system retries a webhook it had already delivered.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import Service, agent_on, ring, service_config, services
from tests.support.servers import RedisServer
from tests.support.waiting import wait_for

READY_WITHIN_S = 10


async def _both_ready(*instances: Service) -> bool:
    for service in instances:
        status, report = await service.get("/readyz")
        if status != 200 or report["broker"] != "ok":
            return False
    return True


async def test_a_webhook_retried_after_redis_lost_its_data_pops_nothing(
    tmp_path: Path, redis_server: RedisServer, redis_url: str
) -> None:
    """Rung through A before the restart, retried through B after it: the agent's fresh tab gets nothing."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", redis_url)
    async with services(tmp_path, a=config, b=config) as started:
        a, b = started["a"], started["b"]
        async with agent_on(b, "agent-2") as on_b:
            assert (await ring(a, "c-lost", agent="agent-2"))[0] == 202
            assert (await on_b.card_until_complete("c-lost"))[-1]["complete"]

        redis_server.restart()
        await wait_for(lambda: _both_ready(a, b), READY_WITHIN_S, "/readyz 200 on both instances")

        async with agent_on(a, "agent-2") as fresh:  # a new tab: it has no memory of the card
            status, reply = await ring(b, "c-lost", agent="agent-2")
            assert (status, reply) == (202, {"call_id": "c-lost", "status": "accepted"})
            assert await fresh.silent_for(1.0)
            # and the guard still lets a new call through
            assert (await ring(b, "c-new", agent="agent-2"))[0] == 202
            assert (await fresh.card_until_complete("c-new"))[-1]["complete"]
        assert "duplicate guards put back" in a.log_tail(100)
