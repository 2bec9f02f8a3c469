"""Where the Redis broker keeps things: key names, stream ids, and the fields of what Redis hands back.

Every key starts with ``screenpop:``: ``agent:{id}`` (an agent's stream),
``fanout`` (the stream every instance reads), ``born`` (since when this
Redis holds history), ``sent:{token}`` (a publish already appended),
``kv:{key}`` (shared values) and ``set:{key}`` (shared sets).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

PREFIX = "screenpop:"
FANOUT_KEY = f"{PREFIX}fanout"
BORN_KEY = f"{PREFIX}born"
MISSED_MAX = 1000
"""At most this many fan-out entries come back with an append (see ``append.lua``)."""
SENT_PREFIX = f"{PREFIX}sent:"
"""Before a publish token: the record that its deliveries are in Redis (see ``append.lua``)."""

EXISTS_MARK = ""
"""The member every shared set holds, so that an emptied set is told apart from no set."""


def stream_key(agent_id: str) -> str:
    return f"{PREFIX}agent:{agent_id}"


def value_key(key: str) -> str:
    return f"{PREFIX}kv:{key}"


def set_key(key: str) -> str:
    """Sets live apart from values: a value written by an older release is never read as a set."""
    return f"{PREFIX}set:{key}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def pairs(flat: Sequence[Any]) -> dict[str, str]:
    """A stream entry's fields as Lua hands them back: a flat name, value, name, value list."""
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
