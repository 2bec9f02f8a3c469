"""A real Redis Sentinel deployment on loopback: a primary, a replica and three sentinels.

Used by the failover test and by ``bench/sentinel.py``.  The sentinels fail
over quickly (``down-after-milliseconds`` 500), so killing the primary is
followed by a promotion within a couple of seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from tests.support.servers import RedisReplica, RedisServer, SentinelServer
from tests.support.waiting import wait_for

SERVICE = "screenpop"
SENTINELS = 3
SETTLE_WITHIN_S = 30.0


@dataclass
class SentinelSet:
    """The servers of one deployment, and the ``redis+sentinel://`` URL that names them."""

    primary: RedisServer
    replica: RedisReplica
    sentinels: list[SentinelServer]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    async def primary_port(self) -> int | None:
        """The primary's port as the first answering sentinel sees it."""
        for sentinel in self.sentinels:
            async with Redis(port=sentinel.port, socket_timeout=1.0, decode_responses=True) as client:
                with contextlib.suppress(OSError, ConnectionError, TimeoutError):
                    found = await client.sentinel_get_master_addr_by_name(SERVICE)
                    return int(found[1]) if found else None
        return None

    async def settled(self) -> bool:
        """True when every sentinel sees the primary, its replica and the other sentinels."""
        for sentinel in self.sentinels:
            async with Redis(port=sentinel.port, socket_timeout=1.0, decode_responses=True) as client:
                state = (await client.sentinel_masters()).get(SERVICE)
            if not state or int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < SENTINELS - 1:
                return False
        return True

    def close(self) -> None:
        for server in [*self.sentinels, self.replica, self.primary]:
            server.close()


async def _replicating(replica: RedisReplica) -> bool:
    async with Redis(port=replica.port, socket_timeout=1.0, decode_responses=True) as client:
        info = await client.info("replication")
    return info.get("master_link_status") == "up"


@contextlib.asynccontextmanager
async def sentinel_set() -> AsyncIterator[SentinelSet]:
    """Start the deployment, wait until the sentinels know one another and the replica; always close it."""
    primary = RedisServer()
    servers = SentinelSet(primary, RedisReplica(primary.port), [])
    try:
        primary.start()
        servers.replica.start()
        await wait_for(lambda: _replicating(servers.replica), SETTLE_WITHIN_S, "the replica in sync")
        servers.sentinels = [SentinelServer(SERVICE, primary.port) for _ in range(SENTINELS)]
        for sentinel in servers.sentinels:
            sentinel.start()
        await wait_for(servers.settled, SETTLE_WITHIN_S, "the sentinels seeing each other and the replica")
        yield servers
    finally:
        servers.close()
