"""Erasure in Redis: every key and stream entry of screenpop's that concerns one caller goes.

``screenpop erase`` calls this after the store's part, with the caller's
calls (provider and call id) and what identifies them (their E.164, a
customer id).  It walks every ``screenpop:*`` key with SCAN (never KEYS, so
a large Redis is not blocked) and:

- agent streams (``agent:{id}``, the replayable card frames) and the
  fan-out stream: XDEL of each entry one of whose fields mentions the caller
  (a card or call message of one of their calls, or their number);
- shared values and sets (``kv:``/``set:``: claims, call states, stored
  cards, recipients, transfers, mid-call sheets): DEL of each key whose name
  names one of the calls (``…:{provider}:{call_id}[:…]``) or whose content
  mentions the caller;
- lists (the admin console's webhook log): LREM of the entries that
  mention the caller, the others stay;
- the section cache (``cache:``): every entry.  An entry's key is a one-way
  digest of everything bound into the lookup (``lookup.cache_key``) and
  its data need not name the caller at all (a ``credit`` section is keyed
  on the accounting id it was looked up with), so the caller's entries
  cannot be told apart from the others.  The cache is only an
  optimisation: the next lookups refill it.

Every step is one short Redis command, so a running service only sees
a cache miss or a replay that no longer holds an erased frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from screenpop.broker.redis_layout import FANOUT_KEY, PREFIX
from screenpop.broker.redis_url import redis_client

CACHE_PREFIX = f"{PREFIX}cache:"
"""The section cache's entries (``lookup.redis_cache.entry_key``)."""
SHARED_PREFIXES = (f"{PREFIX}kv:", f"{PREFIX}set:")
PAGE = 500
PLACES = ("redis_cache", "redis_frames", "redis_fanout", "redis_values", "redis_sets")
"""Where an erasure counts what it removed in Redis (the audit row's and the printout's names)."""


CALL_FIELDS = frozenset({"call", "call_id"})
"""The JSON fields a frame, a card or a sheet names its call in."""
NUMBER_FIELDS = frozenset({"e164", "digits", "raw", "number"})
"""The JSON fields a card (``caller``) or a sheet names the caller's number in."""


@dataclass(frozen=True, slots=True)
class Concerning:
    """What marks a key or an entry as the caller's.

    ``calls``: (provider, call id) of their calls; ``texts``: strings that
    identify them wherever they appear (their E.164).  Short ids are only
    matched where they mean the caller, never as any whole value: a call id
    or a customer id is often a small integer ("1"), and every event claim
    holds "1", every card holds numbers as strings.  So a call id counts in a
    ``call``/``call_id`` field (of that provider when the object names one),
    ``numbers`` (an unparsed number's digits) in a caller number field, and
    ``customer`` (connector, id) as that connector's entry of an ``ids`` map.
    """

    calls: frozenset[tuple[str, str]] = frozenset()
    texts: tuple[str, ...] = ()
    numbers: frozenset[str] = field(default_factory=frozenset)
    customer: tuple[str, str] | None = None

    def mentioned_in(self, text: str, depth: int = 3) -> bool:
        """True when ``text`` holds a ``texts`` string, or is JSON (even inside JSON) naming the caller."""
        if any(t in text for t in self.texts):
            return True
        if depth == 0 or text[:1] not in ("{", "["):
            return False
        try:
            parsed = json.loads(text)
        except ValueError:
            return False
        return self._in_json(parsed, depth - 1)

    def names_call(self, key: str) -> bool:
        """True when ``key`` has ``{provider}:{call_id}`` of one of the calls as whole segments."""
        padded = f":{key}:"
        return any(f":{provider}:{call_id}:" in padded for provider, call_id in self.calls)

    def _in_json(self, value: Any, depth: int) -> bool:
        if isinstance(value, str):
            return self.mentioned_in(value, depth)
        if isinstance(value, list):
            return any(self._in_json(v, depth) for v in value)
        if not isinstance(value, dict):
            return False
        return any(self._names(value, k, v) or self._in_json(v, depth) for k, v in value.items())

    def _names(self, holder: dict[str, Any], key: str, value: Any) -> bool:
        """True when ``holder[key]`` is one of the caller's calls, numbers or customer ids."""
        if key == "ids" and isinstance(value, dict) and self.customer is not None:
            connector, customer_id = self.customer
            return value.get(connector) is not None and str(value[connector]) == customer_id
        if not isinstance(value, str):
            return False
        if key in CALL_FIELDS:
            provider = holder.get("provider")
            return any(c == value and (provider in (None, p)) for p, c in self.calls)
        return key in NUMBER_FIELDS and value in self.numbers


async def erase_from_redis(url: str, caller: Concerning) -> dict[str, int]:
    """Remove the caller's keys and stream entries from the Redis at ``url``; counts per place."""
    counts = dict.fromkeys(PLACES, 0)
    redis = redis_client(url, decode_responses=True, socket_connect_timeout=2.0, socket_timeout=10.0)
    try:
        async for key in redis.scan_iter(match=f"{PREFIX}*", count=1000):
            place, removed = await _erase_key(redis, str(key), caller)
            if place:
                counts[place] += removed
    finally:
        await redis.aclose()
    return counts


async def _erase_key(redis: Redis, key: str, caller: Concerning) -> tuple[str | None, int]:
    if key.startswith(CACHE_PREFIX):
        return "redis_cache", int(await redis.delete(key))
    kind = str(await redis.type(key))
    if kind == "stream":
        return ("redis_fanout" if key == FANOUT_KEY else "redis_frames"), await _erase_entries(
            redis, key, caller
        )
    if kind == "list":
        return "redis_values", await _erase_list_entries(redis, key, caller)
    shared = key.startswith(SHARED_PREFIXES)
    if shared and caller.names_call(key.split(":", 2)[2]):
        return _place(kind), int(await redis.delete(key))
    contents = await _contents(redis, key, kind)
    if any(caller.mentioned_in(text) for text in contents):
        return _place(kind), int(await redis.delete(key))
    return None, 0


def _place(kind: str) -> str:
    return "redis_values" if kind == "string" else "redis_sets"


async def _contents(redis: Redis, key: str, kind: str) -> list[str]:
    """What a key holds, as texts, for the kinds screenpop writes (and hashes, to be safe)."""
    if kind == "string":
        found = await redis.get(key)
        return [] if found is None else [str(found)]
    if kind == "set":
        return [str(m) for m in await redis.smembers(key)]
    if kind == "hash":
        return [str(v) for pair in (await redis.hgetall(key)).items() for v in pair]
    return []


async def _erase_list_entries(redis: Redis, key: str, caller: Concerning) -> int:
    """LREM each entry that mentions the caller (the admin console's webhook log): the others stay."""
    doomed = {str(v) for v in await redis.lrange(key, 0, -1) if caller.mentioned_in(str(v))}
    return sum([int(await redis.lrem(key, 0, entry)) for entry in doomed])


async def _erase_entries(redis: Redis, key: str, caller: Concerning) -> int:
    """XDEL every entry of the stream one of whose fields mentions the caller, a page at a time."""
    removed, start = 0, "-"
    while True:
        page: Any = await redis.xrange(key, min=start, max="+", count=PAGE)
        doomed = [eid for eid, fields in page if any(caller.mentioned_in(str(v)) for v in fields.values())]
        if doomed:
            removed += int(await redis.xdel(key, *doomed))
        if len(page) < PAGE:
            return removed
        start = f"({page[-1][0]}"
