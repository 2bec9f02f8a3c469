"""The broker a ``broker.url`` names: ``memory://`` for one process, ``redis://…`` for several.

``rediss://`` and ``redis+sentinel://`` are Redis too (see ``redis_url``).
"""

from __future__ import annotations

from screenpop.broker.memory import MemoryBroker
from screenpop.broker.protocol import Broker
from screenpop.broker.redis import RedisBroker


def make_broker(url: str, replay_s: int) -> Broker:
    if url.startswith("memory://"):
        return MemoryBroker(replay_s)
    return RedisBroker(url, replay_s)
