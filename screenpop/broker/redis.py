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

The parts: ``scripts`` (the ``.lua`` files: ``append``, ``ring``, a ringing
event in one round trip, ``add_members`` and ``replace_members``, and their
arguments), ``redis_layout`` (key names, ids), ``fanout`` (handing entries out in
order), ``replay``, ``local_fallback`` (ids, outbox and values while Redis is
away), ``redis_values`` (the shared values and member sets, with that
fallback) and ``faults``.  This module holds ``RedisBroker``, which ties them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Sequence

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

import screenpop.broker.scripts as scripts
from screenpop.broker.fanout import Fanout
from screenpop.broker.faults import FAULTS, describe_fault
from screenpop.broker.local_fallback import OUTBOX_MAX, LocalIds, LocalValues, Outbox, RecentClaims
from screenpop.broker.protocol import (
    Delivery,
    FrameHandler,
    Message,
    Ring,
    Rung,
    parse_id,
)
from screenpop.broker.redis_eviction import eviction_risk
from screenpop.broker.redis_layout import (
    BORN_KEY,
    FANOUT_KEY,
    PREFIX,
    stream_key,
)
from screenpop.broker.redis_url import redis_client
from screenpop.broker.redis_values import SharedValues
from screenpop.broker.replay import replay_from_redis
from screenpop.stopping import cancel_and_wait

log = logging.getLogger(__name__)

FANOUT_KEEP_MS = 60_000
FLUSH_BATCH = 500
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 1.0
FIRST_CONNECT_WAIT_S = 2.0
#: Fan-out reads in a row that may time out while Redis answers a PING (a paused process): one more is
#: a fault, not a pause (a reply too big to arrive in time would otherwise leave the broker up and deaf).
CONFIRMED_TIMEOUTS_MAX = 2


class RedisBroker(SharedValues):
    """``broker.url: redis://…``: same behaviour as ``MemoryBroker``, across instances."""

    def __init__(self, url: str, replay_s: int) -> None:
        self.instance_id = uuid.uuid4().hex
        """Names this instance's fan-out entries and, as ``screenpop:<id>``, its Redis connections."""
        self._redis = redis_client(
            url,
            decode_responses=True,
            client_name=f"{PREFIX}{self.instance_id}",
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
            # one retry on a fresh socket after a restart; a slow server gets none
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._window_ms = replay_s * 1000
        # Script objects: EVALSHA, and on NOSCRIPT (a new primary after a failover) load and run again;
        # each (re)connection loads them all first (``_load_scripts``)
        self._append = self._redis.register_script(scripts.APPEND_LUA)
        self._ring = self._redis.register_script(scripts.RING_LUA)
        self._add_members = self._redis.register_script(scripts.ADD_MEMBERS_LUA)
        self._replace_members = self._redis.register_script(scripts.REPLACE_MEMBERS_LUA)
        self._keep_latest = self._redis.register_script(scripts.KEEP_LATEST_LUA)
        self._move_members = self._redis.register_script(scripts.MOVE_MEMBERS_LUA)
        self._put_newer = self._redis.register_script(scripts.PUT_NEWER_LUA)
        self._ids = LocalIds()
        self._fanout = Fanout(self.instance_id, self._ids)
        self._outbox = Outbox()
        self._local = LocalValues()
        self._claims = RecentClaims()
        self._born: str | None = None  # the Redis's birth mark last seen; a new one means its data is gone
        self._up = False
        self._ready = asyncio.Event()
        self._reason = "not started"
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._last_internal = ""  # the fault last logged with a traceback; see ``_internal_error``
        self.eviction_risk: str | None = None
        """How the Redis last connected to may evict screenpop's keys (``redis_eviction``), or None."""

    # life cycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start the supervisor and give Redis a moment; a down Redis does not stop the service."""
        if self._supervisor is None:
            self._reason = "connecting"
            self._supervisor = asyncio.create_task(self._supervise(), name="screenpop-redis-broker")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_CONNECT_WAIT_S):
                await self._ready.wait()
        if not self._up:  # a broker that was never up logs no "down" later: say it once here
            log.warning(
                "redis broker not reachable at start (%s); cards reach this instance's agents only "
                "until it is, and the connection is retried",
                self._reason,
            )

    async def close(self) -> None:
        self._closing = True
        self._up, self._reason = False, "closed"
        if self._supervisor is not None:
            await cancel_and_wait(self._supervisor)  # a cancel landing in a Redis command can be swallowed
            self._supervisor = None
        if self._outbox:
            log.warning("broker closed with %d messages not yet in Redis", len(self._outbox))
        self._fanout.handlers.clear()
        await self._redis.aclose()

    async def health(self) -> str:
        """The state the supervisor last saw; never waits on the network."""
        return "ok" if self._up else f"down: {self._reason}"

    def listen(self, handler: FrameHandler) -> None:
        self._fanout.handlers.append(handler)

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
            self._fanout.in_flight[token] = False
            try:
                await self._append_all(
                    deliveries, ["*"] * len(deliveries), [token] * len(deliveries), delivered=False
                )
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
            else:
                return
            finally:
                arrived = self._fanout.in_flight.pop(token)
            if arrived:
                return  # the append reached Redis, only its reply was lost: the reader delivered it
        self._deliver_here(deliveries, token)

    def _deliver_here(self, deliveries: Sequence[Delivery], token: str) -> None:
        """Without Redis: to this instance's agents now, with local ids; to Redis from the outbox later."""
        if not deliveries:
            return
        ids = [self._ids.next() for _ in deliveries]
        for delivery, event_id in zip(deliveries, ids, strict=True):
            self._outbox.keep(delivery, event_id, token)
        self._fanout.delivered_here(token)
        self._fanout.deliver_all(deliveries, ids)

    async def ring(self, ring: Ring) -> Rung:
        """``ring.lua``: one round trip; without Redis, the same steps here and the card from the outbox.

        The card's append is one publish (one token), so everything
        ``publish`` guarantees holds for it: order, and an append whose
        reply was lost is neither appended nor delivered twice.  (After such
        a loss the agents counted new are those this process's values call
        new, which may include some that held the card already.)
        """
        token = uuid.uuid4().hex
        arrived = False
        if self._up:
            self._fanout.in_flight[token] = False
            sent_from = self._fanout.position
            keys, args = scripts.ring_call(ring, self._append_head(sent_from), token)
            try:
                rung, appended = scripts.ring_reply(await self._ring(keys=keys, args=args))
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
            else:
                if rung.claimed:
                    self._claims.note(ring.event_key, ring.event_ttl_s)
                if appended is not None:
                    deliveries = [Delivery(agent, card=ring.card) for agent in rung.new]
                    self._fanout.appended(deliveries, appended, sent_from, delivered=False)
                return rung
            finally:
                arrived = self._fanout.in_flight.pop(token)
        rung = self._local.ring(ring)
        if not arrived:  # else the script ran, only its reply was lost: the reader delivered the card
            self._deliver_here([Delivery(agent, card=ring.card) for agent in rung.new], token)
        return rung

    async def _append_all(
        self, deliveries: Sequence[Delivery], wanted: Sequence[str], tokens: Sequence[str], delivered: bool
    ) -> list[str]:
        """Append in one script call, then hand out every fan-out entry up to ours, in fan-out order.

        ``tokens``: per delivery, the publish it came from; a token Redis has
        appended before is not appended again (a lost reply's outbox copy).
        ``delivered``: this instance's sockets had these messages already (an
        outbox flush), so only the other instances are to deliver them.
        """
        sent_from = self._fanout.position
        head = [*self._append_head(sent_from), "1" if delivered else "0"]
        keys, args = scripts.append_call(deliveries, wanted, tokens, head)
        reply = await self._append(keys=keys, args=args)
        return self._fanout.appended(deliveries, reply, sent_from, delivered)

    def _append_head(self, sent_from: str | None) -> list[str | int]:
        """``append.lua``'s first arguments: origin, replay window, expiry, fan-out window, position."""
        expiry_ms = 2 * self._window_ms + 60_000
        return [self.instance_id, self._window_ms, expiry_ms, FANOUT_KEEP_MS, sent_from or ""]

    async def _flush_outbox(self) -> None:
        """Append what was published during the outage, oldest first, keeping its ids where possible."""
        for _ in range(OUTBOX_MAX // FLUSH_BATCH + 100):
            batch = self._outbox.first(FLUSH_BATCH)
            if not batch:
                return
            await self._append_all(
                [p.delivery for p in batch],
                [p.event_id for p in batch],
                [p.token for p in batch],
                delivered=True,
            )
            self._outbox.drop_through(batch[-1].seq)
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
            except Exception as exc:  # a bug must not leave the broker silently deaf
                self._internal_error(exc)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _internal_error(self, exc: Exception) -> None:
        """Log a fault that is not Redis being away: with its traceback once, not at every retry.

        The same fault again (the same type and words) is only counted as the
        broker being down, with the fault's name as the reason (/readyz), so a
        fault that every reconnection meets cannot flood the log.
        """
        said = f"{type(exc).__name__}: {exc}"
        if said != self._last_internal:
            log.error("redis broker supervisor failed; reconnecting", exc_info=exc)
            self._last_internal = said
        self._mark_down(f"internal error ({type(exc).__name__})")

    async def _session(self) -> None:
        """One connection's life: catch up, then read the fan-out stream until a fault."""
        await self._redis.ping()
        await self._load_scripts()
        await self._note_eviction_risk()
        await self._mark_born()
        if self._fanout.position is None:
            newest = await self._redis.xrevrange(FANOUT_KEY, count=1)
            self._fanout.position = str(newest[0][0]) if newest else "0-0"
        await self._local.copy_to(self._redis)
        await self._flush_outbox()
        self._up, self._reason, self._last_internal = True, "", ""
        self._ready.set()
        log.info("redis broker connected")
        timeouts = 0  # in a row: reads that never finish while Redis answers PINGs are a fault too
        while self._up and not self._closing:
            try:
                await self._fanout.read(self._redis)
            except (RedisTimeoutError, TimeoutError):
                timeouts += 1
                if timeouts > CONFIRMED_TIMEOUTS_MAX:
                    raise
                await self._confirm_after_timeout()
            else:
                timeouts = 0

    async def _confirm_after_timeout(self) -> None:
        """A fan-out read timed out: Redis hangs only if a PING now times out too (it raises then).

        The read's 0.5 s run while this process is paused (a container at the
        end of its CPU quota, a long collection, a VM stalled by its host), and
        after such a pause the timeout fires before the reply that arrived
        meanwhile is read.  The reader waits in XREAD nearly all the time, so
        every pause over 0.5 s took the broker down: 503s on /readyz and
        cards crossing instances only after a reconnection.  Reading again is
        harmless: the position moves only with the entries delivered.  A hung
        Redis is now noticed by the reader after 1 s instead of 0.5 s; a call's
        own command still notices it after 0.5 s.
        """
        await self._redis.ping()
        log.info(
            "redis broker: a read of the fan-out stream timed out, but Redis answers; "
            "was this process paused (CPU quota, collector)?"
        )

    async def _load_scripts(self) -> None:
        """Load every script on (re)connect: a restarted or promoted Redis has none, and a call would pay.

        (A call that meets NOSCRIPT anyway still works: the Script object loads it and runs it again.)
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            for script in (
                self._append,
                self._ring,
                self._add_members,
                self._replace_members,
                self._keep_latest,
                self._move_members,
                self._put_newer,
            ):
                pipe.script_load(script.script)
            await pipe.execute()

    async def _note_eviction_risk(self) -> None:
        """Read the (new) Redis's eviction policy on each connection; say so once when it changes."""
        risk = await eviction_risk(self._redis)
        if risk is not None and risk != self.eviction_risk:
            log.warning("%s", risk)
        self.eviction_risk = risk

    async def _mark_born(self) -> None:
        """Remember since when this Redis holds history: older ids cannot be vouched for.

        A birth mark other than the one last seen is a Redis that lost its
        data (restarted without persistence): this instance's claims go back.
        """
        seconds, micros = await self._redis.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(BORN_KEY, seconds * 1000 + micros // 1000 - 1, nx=True)
            pipe.get(BORN_KEY)
            _, born = await pipe.execute()
        if self._born is not None and str(born) != self._born:
            restored = await self._claims.copy_to(self._redis)
            log.warning("redis lost its data (restarted empty?); %d duplicate guards put back", restored)
        self._born = str(born)

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
        return self._ids.latest()

    async def replay(self, agent_id: str, after: str) -> tuple[list[Message], bool]:
        """Messages after ``after`` within the window; complete only when nothing after it was lost."""
        position = parse_id(after)
        if self._up:
            try:
                return await replay_from_redis(self._redis, agent_id, position, self._window_ms)
            except FAULTS as exc:
                self._mark_down(describe_fault(exc))
        start = position or (-1, -1)
        return self._outbox.messages_after(agent_id, start), False
