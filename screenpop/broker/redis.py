"""The broker for several instances: a Redis Stream per agent, and one shared fan-out stream.

Each message is appended to its agent's stream (``screenpop:agent:{id}``,
trimmed to ``broker.replay_s``), and the stream id Redis assigns is the
event id, so ids from every instance sort on one clock.  The same Lua call
appends the batch to the fan-out stream (``screenpop:fanout``), which every
instance reads with XREAD from where it stopped: an instance that lost its
connection catches up on what it missed instead of losing it, as pub/sub
would.  This instance's handlers are called directly, without waiting for
the round trip through the fan-out stream, but never out of turn: every
instance hands out fan-out entries (its own included) in fan-out order, which
is every agent stream's id order, whichever of its Redis answers (the
reader's XREAD or a publish's script) brings an entry first.  An agent's
socket never sees a later message before an earlier one, so none is lost to
the socket's "already sent" check.

Redis may go away.  Then cards still reach the agents of this instance with
locally made ids, wait in a bounded outbox, and are appended when Redis
returns; the duplicate guard and the shared values fall back to this process
(dedupe is per instance during the outage) and are copied to Redis on
return.  A supervisor task owns the connection: it reads the fan-out stream
(a blocking read every quarter second doubles as the health check), notices
faults, reconnects with back-off and jitter, and keeps the state that
``health()`` answers from without touching the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from screenpop.broker.protocol import (
    CardViews,
    Delivery,
    FrameHandler,
    Message,
    from_fields,
    id_key,
    to_fields,
)

log = logging.getLogger(__name__)

PREFIX = "screenpop:"
FANOUT_KEY = f"{PREFIX}fanout"
FANOUT_KEEP_MS = 60_000
READ_COUNT = 200
MISSED_MAX = 1000
BORN_KEY = f"{PREFIX}born"
OUTBOX_MAX = 10_000
FLUSH_BATCH = 500
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 1.0
READ_BLOCK_MS = 250
FIRST_CONNECT_WAIT_S = 2.0
MAX_ID_PART = 2**64 - 1
SENT_PREFIX = f"{PREFIX}sent:"
"""Before a publish token: the record that its deliveries are in Redis (see ``APPEND_LUA``)."""

FAULTS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

# KEYS[1]: the fan-out stream; KEYS[1 + i]: the stream of delivery i.  ARGV: origin, window ms,
# expiry ms, fan-out window ms, this instance's fan-out position ("" for none), "1" when the origin
# has delivered these messages to its own sockets already (an outbox flush) else "0", packet count
# n, then each packet as its field count and its flat name, value list (``to_fields``), then per
# delivery: agent id, wanted id ("*" or an outbox id), packet index, publish token.  A queue call
# sends one packet for many agents, so its bodies travel (and are fanned out) once.
#
# The token names the ``publish`` a delivery came from, and makes appending idempotent: the
# script records each token it appends (``screenpop:sent:<token>``, with the ids it got, kept as
# long as the agent streams), and a delivery whose token is recorded already is not appended
# again: it is the outbox's copy of an append that reached Redis though its reply was lost (a
# timeout), or the client library's resend of it.  The fan-out entry names the tokens it carries
# (``k``), so the origin can tell its own entry when its reader brings it.
#
# Returns the ids, the fan-out entry's id ("" when nothing was new), and the fan-out entries after
# this instance's position, so that it can hand those to its agents first and keep every agent's
# messages in id order.  A repeated call gets the ids of its first run back.
APPEND_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minid = string.format('%d', math.max(0, now - tonumber(ARGV[2])))
local fan_minid = string.format('%d', math.max(0, now - tonumber(ARGV[4])))
local cursor = 8
local packets = {}
for j = 1, tonumber(ARGV[7]) do
  local count = tonumber(ARGV[cursor])
  packets[j] = {unpack(ARGV, cursor + 1, cursor + count)}
  cursor = cursor + count + 1
end
local missed = {}
if ARGV[5] ~= '' then
  missed = redis.call('XRANGE', KEYS[1], '(' .. ARGV[5], '+', 'COUNT', MISSED_MAX)
end
local ids, out = {}, {}
local earlier, made, fresh, used = {}, {}, {}, {}
local fan_id = ''
for i = 2, #KEYS do
  local key = KEYS[i]
  local agent, wanted, index = ARGV[cursor], ARGV[cursor + 1], tonumber(ARGV[cursor + 2])
  local token = ARGV[cursor + 3]
  cursor = cursor + 4
  if earlier[token] == nil then
    local record = redis.call('GET', 'SENT_PREFIX' .. token)
    if record then
      earlier[token] = cjson.decode(record)
    else
      earlier[token] = false
      made[token] = {}
      fresh[#fresh + 1] = token
    end
  end
  local record = earlier[token]
  if record then
    used[token] = (used[token] or 0) + 1
    ids[i - 1] = record.ids[used[token]] or record.fan
    fan_id = record.fan
  else
    local fields = packets[index + 1]
    local id = nil
    if wanted ~= '*' then
      local added = redis.pcall('XADD', key, 'MINID', '~', minid, wanted, unpack(fields))
      if type(added) == 'string' then id = added end
    end
    if id == nil then
      id = redis.call('XADD', key, 'MINID', '~', minid, '*', unpack(fields))
    end
    redis.call('PEXPIRE', key, ARGV[3])
    ids[i - 1] = id
    out[#out + 1] = {agent, id, index}
    table.insert(made[token], id)
  end
end
if #out > 0 then
  fan_id = redis.call('XADD', KEYS[1], 'MINID', '~', fan_minid, '*', 'o', ARGV[1], 'l', ARGV[6],
                      'k', table.concat(fresh, ' '), 'm', cjson.encode({p = packets, d = out}))
  for _, token in ipairs(fresh) do
    redis.call('SET', 'SENT_PREFIX' .. token, cjson.encode({ids = made[token], fan = fan_id}), 'PX', ARGV[3])
  end
end
return {ids, fan_id, missed}
""".replace("MISSED_MAX", str(MISSED_MAX)).replace("SENT_PREFIX", SENT_PREFIX)


# KEYS[1]: a set; ARGV[1]: its time to live in seconds, ARGV[2…]: members to add.  The empty
# member marks that the set exists even when every real member was removed.  Returns the members
# that were not in the set before: atomic, so of racing instances only one hears "new" per member.
ADD_MEMBERS_LUA = """
redis.call('SADD', KEYS[1], '')
local new = {}
for i = 2, #ARGV do
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then new[#new + 1] = ARGV[i] end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return new
"""

EXISTS_MARK = ""
"""The member every shared set holds, so that an emptied set is told apart from no set."""


def stream_key(agent_id: str) -> str:
    return f"{PREFIX}agent:{agent_id}"


def value_key(key: str) -> str:
    return f"{PREFIX}kv:{key}"


def set_key(key: str) -> str:
    """Sets live apart from values: a value written by an older release is never read as a set."""
    return f"{PREFIX}set:{key}"


def describe_fault(exc: BaseException) -> str:
    """A short reason for /readyz: ``connection refused`` rather than a driver's sentence."""
    chain = _causes(exc)
    text = " ".join(str(link) for link in chain).lower()
    if (
        any(isinstance(link, ConnectionRefusedError) for link in chain)
        or "refused" in text
        or "error 111 " in text
    ):
        return "connection refused"
    if any(isinstance(link, TimeoutError) for link in chain) or "timeout" in text or "timed out" in text:
        return "timeout"
    if "closed" in text or "reset" in text or "eof" in text:
        return "connection lost"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it was raised from, a few links deep."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and len(chain) < 5:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain


def _parse_id(event_id: str) -> tuple[int, int] | None:
    """A stream id Redis would accept, or None (so a client's junk never reaches XRANGE)."""
    ms, seq = id_key(event_id)
    if ms < 0 or seq < 0 or ms > MAX_ID_PART or seq > MAX_ID_PART:
        return None
    return ms, seq


def _format(position: tuple[int, int]) -> str:
    return f"{position[0]}-{position[1]}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class _Pending:
    """A message published while Redis was away, with the id its local agents saw."""

    seq: int
    delivery: Delivery
    event_id: str
    token: str  # the publish it came from: its append may have reached Redis already


@dataclass
class _LocalSet:
    """A shared set changed while Redis was away: what it holds here, and what to undo there."""

    members: set[str]
    removed: set[str]
    until: float


class _LocalValues:
    """The duplicate guard and shared values while Redis is away; copied back on return."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float, bool]] = {}
        self.sets: dict[str, _LocalSet] = {}

    def get(self, key: str) -> str | None:
        found = self.values.get(key)
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def put(self, key: str, value: str, ttl_s: float, claim: bool) -> None:
        if len(self.values) >= 10_000:
            now = time.monotonic()
            self.values = {k: v for k, v in self.values.items() if v[1] >= now}
        self.values[key] = (value, time.monotonic() + ttl_s, claim)

    def live_set(self, key: str) -> _LocalSet | None:
        found = self.sets.get(key)
        return found if found is not None and found.until >= time.monotonic() else None

    def add_members(self, key: str, members: Sequence[str], ttl_s: float) -> list[str]:
        found = self.live_set(key) or _LocalSet(set(), set(), 0.0)
        new = [m for m in dict.fromkeys(members) if m not in found.members]
        found.members.update(new)
        found.removed.difference_update(new)
        found.until = time.monotonic() + ttl_s
        self.sets[key] = found
        return new

    def remove_member(self, key: str, member: str) -> bool:
        found = self.live_set(key)
        if found is None or member not in found.members:
            return False
        found.members.discard(member)
        found.removed.add(member)
        return True

    async def copy_to(self, redis: Redis) -> None:
        """Claims go in only where no other instance claimed first; values overwrite; sets merge."""
        now = time.monotonic()
        live = [(k, v, until, claim) for k, (v, until, claim) in self.values.items() if until > now]
        sets = [(k, found) for k, found in self.sets.items() if found.until > now]
        if live or sets:
            async with redis.pipeline(transaction=False) as pipe:
                for key, value, until, claim in live:
                    pipe.set(value_key(key), value, px=max(1, int((until - now) * 1000)), nx=claim)
                for key, found in sets:
                    pipe.sadd(set_key(key), EXISTS_MARK, *found.members)
                    if found.removed:
                        pipe.srem(set_key(key), *found.removed)
                    pipe.pexpire(set_key(key), max(1, int((found.until - now) * 1000)))
                await pipe.execute()
        self.values.clear()
        self.sets.clear()


class RedisBroker:
    """``broker.url: redis://…``: same behaviour as ``MemoryBroker``, across instances."""

    def __init__(self, url: str, replay_s: int) -> None:
        self.instance_id = uuid.uuid4().hex
        """Names this instance's fan-out entries and, as ``screenpop:<id>``, its Redis connections."""
        self._redis = Redis.from_url(
            url,
            decode_responses=True,
            client_name=f"{PREFIX}{self.instance_id}",
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            # one retry on a fresh socket after a restart; a slow server gets none
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._window_ms = replay_s * 1000
        self._append = self._redis.register_script(APPEND_LUA)
        self._add_members = self._redis.register_script(ADD_MEMBERS_LUA)
        self._handlers: list[FrameHandler] = []
        self._outbox: deque[_Pending] = deque()
        self._outbox_seq = itertools.count()
        self._local = _LocalValues()
        self._last = (0, 0)
        self._up = False
        self._ready = asyncio.Event()
        self._reason = "not started"
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._fanout_position: str | None = None
        # Publish tokens whose append is in flight: True once the reader handed out their entry.
        self._in_flight: dict[str, bool] = {}
        # Tokens delivered here with local ids (the append failed): their entry, if the append
        # reached Redis after all, is not to be delivered here again.  Bounded like the outbox.
        self._delivered_here: OrderedDict[str, None] = OrderedDict()

    # life cycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start the supervisor and give Redis a moment; a down Redis does not stop the service."""
        if self._supervisor is None:
            self._reason = "connecting"
            self._supervisor = asyncio.create_task(self._supervise(), name="screenpop-redis-broker")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_CONNECT_WAIT_S):
                await self._ready.wait()

    async def close(self) -> None:
        self._closing = True
        self._up, self._reason = False, "closed"
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._outbox:
            log.warning("broker closed with %d messages not yet in Redis", len(self._outbox))
        self._handlers.clear()
        await self._redis.aclose()

    async def health(self) -> str:
        """The state the supervisor last saw; never waits on the network."""
        return "ok" if self._up else f"down: {self._reason}"

    def listen(self, handler: FrameHandler) -> None:
        self._handlers.append(handler)

    # publishing ---------------------------------------------------------

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        """Append to the streams and fan out; without Redis, deliver here and keep for later.

        Two appends in flight may come back in the other order: each answer
        hands out every fan-out entry up to its own, in fan-out order, so this
        instance's agents still get frames in id order (see ``_append_all``).
        """
        if not deliveries:
            return
        token = uuid.uuid4().hex
        if self._up:
            self._in_flight[token] = False
            try:
                await self._append_all(
                    deliveries, ["*"] * len(deliveries), [token] * len(deliveries), delivered=False
                )
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
            else:
                return
            finally:
                arrived = self._in_flight.pop(token)
            if arrived:
                return  # the append reached Redis, only its reply was lost: the reader delivered it
        ids = [self._local_id() for _ in deliveries]
        for delivery, event_id in zip(deliveries, ids, strict=True):
            self._keep(delivery, event_id, token)
        self._delivered_here[token] = None
        if len(self._delivered_here) > OUTBOX_MAX:
            self._delivered_here.popitem(last=False)
        self._deliver_all(deliveries, ids)

    async def _append_all(
        self, deliveries: Sequence[Delivery], wanted: Sequence[str], tokens: Sequence[str], delivered: bool
    ) -> list[str]:
        """Append in one script call, then hand out every fan-out entry up to ours, in fan-out order.

        ``tokens``: per delivery, the publish it came from; a token Redis has
        appended before is not appended again (a lost reply's outbox copy).
        ``delivered``: this instance's sockets had these messages already (an
        outbox flush), so only the other instances are to deliver them.
        """
        packets: dict[str | CardViews, int] = {}
        flat: list[str | int] = []
        refs: list[str | int] = []
        for delivery, want, token in zip(deliveries, wanted, tokens, strict=True):
            index = packets.get(delivery.content)
            if index is None:
                index = packets[delivery.content] = len(packets)
                fields = to_fields(delivery)
                flat += [len(fields), *fields]
            refs += [delivery.agent_id, want, index, token]
        expiry_ms = 2 * self._window_ms + 60_000
        sent_from = self._fanout_position
        args: list[str | int] = [self.instance_id, self._window_ms, expiry_ms, FANOUT_KEEP_MS]
        args += [sent_from or "", "1" if delivered else "0", len(packets), *flat, *refs]
        keys = [FANOUT_KEY, *(stream_key(d.agent_id) for d in deliveries)]
        raw_ids, fan_id, missed = await self._append(keys=keys, args=args)
        ids = [str(i) for i in raw_ids]
        for event_id in ids:
            self._note(event_id)
        for entry_id, entry in missed:
            self._take_fanout(str(entry_id), _pairs(entry))
        gapless = sent_from is not None and len(missed) < MISSED_MAX
        if fan_id and self._take_own(str(fan_id), gapless) and not delivered:
            self._deliver_all(deliveries, ids)
        return ids

    def _take_own(self, fan_id: str, gapless: bool) -> bool:
        """Whether our own fan-out entry is to be delivered now, from what we published.

        Delivery follows the fan-out stream's order, which is every agent
        stream's id order on every instance.  The reader's answer may overtake
        this script's reply: then it has delivered our entry already, from the
        entry itself, and we must not again.  When ``missed`` did not reach up
        to our entry (too many to fetch), the reader delivers it in its place.
        """
        position = self._fanout_position
        if position is None:
            return True  # no position to order by (not connected yet): as before, at once
        if not gapless or id_key(fan_id) <= id_key(position):
            return False
        self._fanout_position = fan_id
        return True

    def _deliver_all(self, deliveries: Sequence[Delivery], ids: Sequence[str]) -> None:
        for delivery, event_id in zip(deliveries, ids, strict=True):
            self._deliver(Message.of(delivery, event_id))

    def _deliver(self, message: Message) -> None:
        for handler in list(self._handlers):
            try:
                handler(message)
            except Exception:  # one broken listener must not starve the others
                log.exception("frame handler failed for agent %s", message.agent_id)

    def _note(self, event_id: str) -> None:
        self._last = max(self._last, id_key(event_id))

    def _local_id(self) -> str:
        """The next id after every id seen, on this clock: the order agents here see stays true."""
        ms = _now_ms()
        last_ms, last_seq = self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        return _format(self._last)

    def _keep(self, delivery: Delivery, event_id: str, token: str) -> None:
        if len(self._outbox) >= OUTBOX_MAX:
            dropped = self._outbox.popleft()
            log.warning(
                "broker outbox full: message %s for agent %s dropped",
                dropped.event_id,
                dropped.delivery.agent_id,
            )
        self._outbox.append(_Pending(next(self._outbox_seq), delivery, event_id, token))

    async def _flush_outbox(self) -> None:
        """Append what was published during the outage, oldest first, keeping its ids where possible."""
        for _ in range(OUTBOX_MAX // FLUSH_BATCH + 100):
            batch = list(itertools.islice(self._outbox, FLUSH_BATCH))
            if not batch:
                return
            await self._append_all(
                [p.delivery for p in batch],
                [p.event_id for p in batch],
                [p.token for p in batch],
                delivered=True,
            )
            while self._outbox and self._outbox[0].seq <= batch[-1].seq:
                self._outbox.popleft()
        raise RedisError("outbox keeps growing while being flushed")

    # supervision --------------------------------------------------------

    def _mark_down(self, reason: str) -> None:
        if self._up:
            log.warning("redis broker down: %s", reason)
        self._up = False
        self._reason = reason
        self._ready.clear()

    async def _supervise(self) -> None:
        """Connect, listen, and after any fault reconnect with capped exponential back-off."""
        delay = BACKOFF_MIN_S
        while not self._closing:
            try:
                await self._session()
            except FAULTS as exc:
                if self._up:
                    delay = BACKOFF_MIN_S
                self._mark_down(describe_fault(exc))
            except Exception:  # a bug must not leave the broker silently deaf
                log.exception("redis broker supervisor failed; reconnecting")
                self._mark_down("internal error")
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _session(self) -> None:
        """One connection's life: catch up, then read the fan-out stream until a fault."""
        await self._redis.ping()
        await self._mark_born()
        if self._fanout_position is None:
            newest = await self._redis.xrevrange(FANOUT_KEY, count=1)
            self._fanout_position = str(newest[0][0]) if newest else "0-0"
        await self._local.copy_to(self._redis)
        await self._flush_outbox()
        self._up, self._reason = True, ""
        self._ready.set()
        log.info("redis broker connected")
        while self._up and not self._closing:
            await self._read_fanout()

    async def _mark_born(self) -> None:
        """Remember since when this Redis holds history: older ids cannot be vouched for."""
        seconds, micros = await self._redis.time()
        await self._redis.set(BORN_KEY, seconds * 1000 + micros // 1000 - 1, nx=True)

    async def _read_fanout(self) -> None:
        """Deliver what other instances published since our position; a timeout here means Redis hangs."""
        position = self._fanout_position or "0-0"
        found = await self._redis.xread({FANOUT_KEY: position}, count=READ_COUNT, block=READ_BLOCK_MS)
        for _, entries in _stream_entries(found):
            for entry_id, fields in entries:
                self._take_fanout(str(entry_id), fields)

    def _take_fanout(self, entry_id: str, fields: dict[str, str]) -> None:
        """Deliver one fan-out entry after those before it, once, whichever answer brought it first.

        Our own entries are delivered here too when the reader (or another
        publish's ``missed``) brings them before their own script's reply;
        only what our sockets had before it reached Redis is skipped: an
        outbox flush, or an append whose reply was lost after Redis ran it
        (its publish delivered with local ids).  An own entry of a publish
        still waiting for its reply is marked arrived, so that publish does
        not deliver it again should the reply be lost.
        """
        if self._fanout_position is not None and id_key(entry_id) <= id_key(self._fanout_position):
            return
        self._fanout_position = entry_id
        if fields.get("o") == self.instance_id:
            tokens = fields.get("k", "").split()
            for token in tokens:
                if token in self._in_flight:
                    self._in_flight[token] = True
            had = [token for token in tokens if token in self._delivered_here]
            for token in had:
                del self._delivered_here[token]
            if fields.get("l") == "1" or (tokens and len(had) == len(tokens)):
                return
        self._on_message(fields.get("m", ""))

    def _on_message(self, data: str) -> None:
        try:
            batch = json.loads(data)
            packets = [_pairs(packet) for packet in batch["p"]]
            messages = [
                from_fields(str(agent), str(event_id), packets[int(index)])
                for agent, event_id, index in batch["d"]
            ]
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("ignoring a malformed broker message")
            return
        for message in messages:
            self._note(message.event_id)
            self._deliver(message)

    # replay -------------------------------------------------------------

    async def latest_id(self, agent_id: str) -> str:
        """The agent's last stream id, or the instant just before Redis's now when it has none."""
        if self._up:
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.xrevrange(stream_key(agent_id), count=1)
                    pipe.time()
                    last, (seconds, micros) = await pipe.execute()
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
            else:
                if last:
                    return str(last[0][0])
                return f"{seconds * 1000 + micros // 1000 - 1}-0"
        return _format(max(self._last, (_now_ms() - 1, 0)))

    async def replay(self, agent_id: str, after: str) -> tuple[list[Message], bool]:
        """Messages after ``after`` within the window; complete only when nothing after it was lost."""
        position = _parse_id(after)
        if self._up:
            try:
                return await self._replay_redis(agent_id, position)
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        start = position or (-1, -1)
        frames = [
            Message.of(p.delivery, p.event_id)
            for p in self._outbox
            if p.delivery.agent_id == agent_id and id_key(p.event_id) > start
        ]
        return frames, False

    async def _replay_redis(
        self, agent_id: str, position: tuple[int, int] | None
    ) -> tuple[list[Message], bool]:
        key = stream_key(agent_id)
        start = "-" if position is None else f"({_format(position)}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.time()
            pipe.get(BORN_KEY)
            pipe.exists(key)
            pipe.xinfo_stream(key)
            pipe.xrange(key, start, "+")
            (seconds, micros), born, exists, info, entries = await pipe.execute(raise_on_error=False)
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        cutoff = (now_ms - self._window_ms, 0)
        if isinstance(entries, ResponseError):
            raise entries
        recent = [(str(i), fields) for i, fields in entries if id_key(str(i)) >= cutoff]
        frames = _messages(agent_id, recent)
        if position is None or born is None:
            return frames, False
        dropped = len(frames) < len(entries)
        return frames, _complete(position, now_ms, int(born), cutoff, exists, info, dropped)

    # shared values ------------------------------------------------------

    async def claim(self, key: str, ttl_s: int) -> bool:
        if self._up:
            try:
                return bool(await self._redis.set(value_key(key), "1", ex=ttl_s, nx=True))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        if self._local.get(key) is not None:
            return False
        self._local.put(key, "1", ttl_s, claim=True)
        return True

    async def claim_and_get(self, key: str, ttl_s: int, other: str) -> tuple[bool, str | None]:
        if self._up:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(value_key(key), "1", ex=ttl_s, nx=True)
                    pipe.get(value_key(other))
                    claimed, found = await pipe.execute()
                return bool(claimed), None if found is None else str(found)
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return await self.claim(key, ttl_s), await self.get(other)

    async def release(self, key: str) -> None:
        if self._up:
            try:
                await self._redis.delete(value_key(key))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        self._local.values.pop(key, None)

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        if self._up:
            try:
                await self._redis.set(value_key(key), value, ex=ttl_s)
                return
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        self._local.put(key, value, ttl_s, claim=False)

    async def get(self, key: str) -> str | None:
        if self._up:
            try:
                found: Any = await self._redis.get(value_key(key))
                return None if found is None else str(found)
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.get(key)

    async def add_members(self, key: str, members: Sequence[str], ttl_s: int) -> list[str]:
        if self._up:
            try:
                new = await self._add_members(keys=[set_key(key)], args=[ttl_s, *members])
                return [str(m) for m in new]
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.add_members(key, members, ttl_s)

    async def remove_member(self, key: str, member: str) -> bool:
        if self._up:
            try:
                return bool(await self._redis.srem(set_key(key), member))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        return self._local.remove_member(key, member)

    async def members(self, key: str) -> list[str] | None:
        if self._up:
            try:
                found: Any = await self._redis.smembers(set_key(key))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
            else:
                if EXISTS_MARK not in found:
                    return None
                return sorted(str(m) for m in found if m != EXISTS_MARK)
        local = self._local.live_set(key)
        return None if local is None else sorted(local.members)


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


def _stream_entries(found: Any) -> list[tuple[Any, list[tuple[Any, dict[str, str]]]]]:
    """XREAD's answer as (stream, entries) pairs: RESP2 gives a list, RESP3 a mapping."""
    if not found:
        return []
    if isinstance(found, dict):
        return list(found.items())
    return [(stream, entries) for stream, entries in found]


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    """A stream entry's fields as Lua hands them back: a flat name, value, name, value list."""
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
