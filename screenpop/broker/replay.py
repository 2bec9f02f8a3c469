"""Replay from an agent's Redis stream: the messages after a position, and whether that is all of them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from screenpop.broker.protocol import MAX_ID_PART, Message, format_id, from_fields, id_key
from screenpop.broker.redis_layout import BORN_KEY, stream_key

log = logging.getLogger(__name__)


async def replay_from_redis(
    redis: Redis, agent_id: str, position: tuple[int, int] | None, window_ms: int
) -> tuple[list[Message], bool]:
    """The agent's messages after ``position`` within the window; complete only when none was lost."""
    key = stream_key(agent_id)
    start = "-" if position is None else first_after(position)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.time()
        pipe.get(BORN_KEY)
        pipe.exists(key)
        pipe.xinfo_stream(key)
        pipe.xrange(key, start, "+")
        (seconds, micros), born, exists, info, entries = await pipe.execute(raise_on_error=False)
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    cutoff = (now_ms - window_ms, 0)
    if isinstance(entries, ResponseError):
        raise entries
    recent = [(str(i), fields) for i, fields in entries if id_key(str(i)) >= cutoff]
    frames = _messages(agent_id, recent)
    if position is None or born is None:
        return frames, False
    dropped = len(frames) < len(entries)
    return frames, _complete(position, now_ms, int(born), cutoff, exists, info, dropped)


def first_after(position: tuple[int, int]) -> str:
    """XRANGE's start for "after ``position``", as an inclusive id Redis always accepts.

    An exclusive start (``(ms-seq``) at the last id there can be is refused
    ("invalid start ID for the interval"), and a refusal here counted as
    Redis going down: any agent whose hello named that id made the instance
    unready for a moment, and again each time.  Nothing can follow that id,
    and the range after it reads as empty: the last id again, which no
    publish ever reaches (ids are milliseconds).
    """
    ms, seq = position
    if seq < MAX_ID_PART:
        return format_id((ms, seq + 1))
    if ms < MAX_ID_PART:
        return format_id((ms + 1, 0))
    return format_id(position)


def _complete(
    position: tuple[int, int],
    now_ms: int,
    born_ms: int,
    cutoff: tuple[int, int],
    exists: int,
    info: Any,
    dropped_old: bool,
) -> bool:
    """Whether every message after ``position`` is still there to be sent again.

    Unknown positions (before this Redis's history began, or in the future)
    cannot be vouched for.  Otherwise a message after ``position`` is lost if
    trimming removed it (the stream's ``max-deleted-entry-id``) or it is older
    than the window.  A stream that expired entirely holds nothing newer than
    the window, so only a position inside the window is complete then.
    """
    upper = (now_ms, MAX_ID_PART)
    if not exists or isinstance(info, BaseException):
        return (born_ms, 0) <= position <= upper and position >= cutoff
    deleted = id_key(str(info.get("max-deleted-entry-id", "0-0")))
    upper = max(upper, id_key(str(info.get("last-generated-id", "0-0"))))
    known = (born_ms, 0) <= position <= upper
    return known and deleted <= position and not dropped_old


def _messages(agent_id: str, entries: Sequence[tuple[str, dict[str, str]]]) -> list[Message]:
    """The messages of an agent's stream entries; one that cannot be read is left out (and logged)."""
    messages = []
    for event_id, fields in entries:
        try:
            messages.append(from_fields(agent_id, event_id, fields))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed entry %s in the stream of agent %s", event_id, agent_id)
    return messages
