"""What a card leaves in Redis expires by itself, well within the shortest `retention:` age (one day)."""

from __future__ import annotations

from redis.asyncio import Redis

from screenpop.broker import Delivery
from screenpop.broker.redis import RedisBroker

ADA = "+14155550132"
DAY_MS = 86_400_000


async def test_every_key_holding_a_card_expires_within_a_day(redis_url: str) -> None:
    """The agent stream, the fan-out stream and the publish record of a card each carry an expiry.

    Retention deletes a call from the store after ``calls_days`` (1 at the
    least); a Redis key without an expiry would keep the caller's card after
    that whenever no later call comes to trim it (a quiet night, a service
    taken down).
    """
    broker = RedisBroker(redis_url, 300)
    await broker.start()
    try:
        await broker.publish([Delivery("agent-1", f'{{"type":"card","call_id":"c-1","e164":"{ADA}"}}')])
    finally:
        await broker.close()

    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        holding = [key async for key in redis.scan_iter(match="*") if await _holds(redis, key, ADA)]
        expiries = {key: await redis.pttl(key) for key in holding}
    finally:
        await redis.aclose()
    assert {"screenpop:agent:agent-1", "screenpop:fanout"} <= set(expiries)
    assert [key for key, ms in expiries.items() if not 0 < ms <= DAY_MS] == []


async def _holds(redis: Redis, key: str, text: str) -> bool:
    kind = await redis.type(key)
    if kind == "stream":
        return any(text in str(fields) for _, fields in await redis.xrange(key))
    return kind == "string" and text in str(await redis.get(key))
