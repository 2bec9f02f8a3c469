"""This instance's agent websockets: who may connect, and getting frames to them.

Frames arrive from the broker for any agent; the hub hands each one to the
sockets that agent holds here (several tabs all receive).  Every socket has a
bounded queue and its own sender, so a frozen browser is cut off when its
queue fills and never slows anyone else.

A socket lives no longer than its token: at ``exp`` it is closed with 4401
unless the client sent a ``refresh`` with a newer token for the same agent
before then (SPEC section 5).  The new token replaces the socket's
``identity``, so a role it names decides what the socket receives from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import WSMsgType, web

from screenpop.auth import AgentIdentity, reidentify, verify_token
from screenpop.broker import Broker, CardViews, Message, View, id_key
from screenpop.clock import Clock, SystemClock, Timer
from screenpop.config import Settings
from screenpop.errors import Unauthorized
from screenpop.generation import Generations
from screenpop.metrics import Metrics

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 5.0
QUEUE_LIMIT = 256
CLOSE_ORIGIN = 4403
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_HELLO = 4400
CLOSE_TOO_SLOW = 4408
CLOSE_RESTART = 1012
TAILS_KEPT = 64
"""Encoded bodies remembered: a publish's deliveries reach the sockets one after another."""

AuditCard = Callable[[str, str, int, Sequence[str], str | None], None]
"""``Store.audit_card``: (agent, call, version, sections seen, provider); queues a row, never awaits."""


class Outlet:
    """What every socket of this hub does with a message it takes: pick its view, audit, count.

    A socket's view follows the role of the token it holds *now* (read when
    the frame is sent, so a token refreshed with another role takes effect
    at once), and only what was written to a socket is audited, on the
    instance holding it, with the sections that frame carried data for.
    """

    def __init__(self, generations: Generations, audit: AuditCard, metrics: Metrics) -> None:
        self._generations = generations
        self._audit = audit
        self._metrics = metrics
        self._hidden: dict[str, frozenset[str]] = {}
        self._hidden_for: Settings | None = None
        self._tails: dict[int, tuple[str, bytes]] = {}  # id(body) -> (body, its encoded tail)

    def hidden(self, role: str) -> frozenset[str]:
        """What ``role`` hides under the latest config (a reload's role change applies to the next frame)."""
        settings = self._generations.latest.settings
        if settings is not self._hidden_for:
            self._hidden, self._hidden_for = {}, settings
        found = self._hidden.get(role)
        if found is None:
            found = self._hidden[role] = settings.hidden_sections(role)
        return found

    def frame(self, message: Message, role: str) -> tuple[bytes, View | None] | None:
        """The bytes a socket of ``role`` is sent for ``message``, and the card view they carry.

        A body (a card's view, a call status) is the same for every socket it
        goes to (a queue call: every member's), so it is encoded once; per
        socket only its event id goes in front.  None when the card has no
        view such a socket may see.
        """
        card = message.card
        if card is None:
            return frame_bytes(message.event_id, self._tail(message.body)), None
        view = card.view_for(self.hidden(role))
        if view is None:
            return None
        return frame_bytes(message.event_id, self._tail(view.body)), view

    def _tail(self, body: str) -> bytes:
        found = self._tails.get(id(body))
        if found is not None and found[0] is body:  # the body is held here, so its id is not reused
            return found[1]
        if len(self._tails) >= TAILS_KEPT:
            self._tails.clear()
        tail = body_tail(body)
        self._tails[id(body)] = (body, tail)
        return tail

    def sent(self, agent_id: str, card: CardViews, view: View) -> None:
        """A card view reached a socket: the audit trail's write-behind queue takes it (never awaits)."""
        self._audit(agent_id, card.call_id, card.version, view.shown, card.provider)

    def stale_card(self, agent_id: str, event_id: str) -> None:
        """A card version this socket already had (or a transfer overtook): counted, not sent."""
        self._metrics.frames_out_of_order.inc()
        log.info("agent %s: card %s is not newer than one already sent; not sent", agent_id, event_id)

    def out_of_order(self, agent_id: str, event_id: str) -> None:
        """A message older than one already sent: counted and logged, since sending it now would reorder."""
        self._metrics.frames_out_of_order.inc()
        log.warning("agent %s: message %s arrived after a later one and was not sent", agent_id, event_id)


class CardOrder:
    """Per socket: a card version no newer than one this socket already got for that call is not sent.

    Versions are reserved across instances, but an instance still building a
    card can publish one version after a transfer taken elsewhere moved the
    call on (docs/transfers.md, "Across instances").  Two frames of one
    version, or a version the sender's ``transferred`` message has already
    overtaken, would only confuse the agent, so the socket drops them:
    ``transferred`` raises the floor by one (the version the transfer itself
    was delivered as), a ``withdrawn`` clears it (a later ring pops afresh).
    """

    LIMIT = 512
    """Calls remembered per socket; the oldest is forgotten first (a tab open for days)."""

    def __init__(self) -> None:
        self._floor: dict[tuple[str | None, str], int] = {}

    def admits(self, message: Message) -> bool:
        card = message.card
        if card is not None:
            key = (card.provider, card.call_id)
            if card.version <= self._floor.get(key, 0):
                return False
            self._floor.pop(key, None)
            self._floor[key] = card.version
            if len(self._floor) > self.LIMIT:
                del self._floor[next(iter(self._floor))]
            return True
        if '"transferred"' in message.body or '"withdrawn"' in message.body:
            self._call_moved(message.body)
        return True

    def _call_moved(self, body: str) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict) or data.get("type") != "call":
            return
        keys = [k for k in self._floor if k[1] == data.get("call_id")]
        for key in keys:
            if data.get("status") == "transferred":
                self._floor[key] += 1
            elif data.get("status") == "withdrawn":
                del self._floor[key]


class AgentSocket:
    """One browser tab: the frames waiting for it, and the messages held back until welcome is out.

    An idle socket owns no task and no queue: thousands of agents sit idle
    for most of a shift (bench/sockets.py measures what each costs), so the
    deque and the sender task exist only while frames are waiting, and the
    token's expiry is an entry in the hub's ``Expiries``.
    """

    __slots__ = (
        "clock",
        "expiry",
        "held",
        "identity",
        "last_sent",
        "order",
        "outlet",
        "overflowed",
        "pending",
        "sender",
        "transport",
        "ws",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        identity: AgentIdentity,
        outlet: Outlet,
        clock: Clock,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.identity = identity
        self.outlet = outlet
        self.clock = clock
        self.expiry: list[Any] | None = None  # its entry in the hub's Expiries
        self.pending: deque[Message] | None = None
        self.sender: asyncio.Task[None] | None = None
        self.held: list[Message] | None = []
        self.last_sent = (-1, -1)
        self.overflowed = False
        self.order: CardOrder | None = None  # made by the first card: most sockets never get one

    def offer(self, message: Message) -> None:
        if self.held is not None:
            self.held.append(message)
            return
        self._enqueue(message)

    def _enqueue(self, message: Message) -> None:
        key = id_key(message.event_id)
        if key <= self.last_sent:
            if key < self.last_sent and not self._late_card(message):
                self.outlet.out_of_order(self.identity.id, message.event_id)
            return
        if self.overflowed:
            return
        if not self._admits(message):
            self.outlet.stale_card(self.identity.id, message.event_id)
            self.last_sent = key
            return
        if self._push(message):
            self.last_sent = key

    def _admits(self, message: Message) -> bool:
        if self.order is None:
            if message.card is None:
                return True  # a call status moves only floors that cards have set
            self.order = CardOrder()
        return self.order.admits(message)

    def _late_card(self, message: Message) -> bool:
        """Send a card that arrives after a later message when it is a newer version of its call.

        During a split Redis outage (a failover: each instance reconnects on
        its own back-off) this instance's sockets get cards with local ids,
        and another instance's cards of that time arrive only when its outbox
        is flushed, with older ids.  A card is self-contained and ``CardOrder``
        refuses a version the socket already had, so sending it late cannot
        show a call twice or go back a version; dropping it would lose a pop.
        Other messages (call status) keep the strict order.  ``last_sent``
        stays where it is.
        """
        if message.card is None or self.overflowed or not self._admits(message):
            return False
        if self._push(message):
            log.info("agent %s: card %s sent after a later message", self.identity.id, message.event_id)
        return True

    def _push(self, message: Message) -> bool:
        """Queue a frame for the sender, starting one if none runs; a full backlog cuts the socket off."""
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        elif len(pending) >= QUEUE_LIMIT:
            self.cut_off()
            return False
        pending.append(message)
        if self.sender is None:
            self.sender = asyncio.get_running_loop().create_task(self._send_pending())
        return True

    def cut_off(self) -> None:
        """A browser that stopped reading: drop its backlog and the connection at once.

        The sender may be stuck writing to it, so nothing is awaited here;
        the widget reconnects and resumes from its last event id.
        """
        self.overflowed = True
        self.pending = None
        log.warning("agent %s cut off: its socket stopped reading", self.identity.id)
        if self.transport is not None:
            self.transport.abort()

    def release(self, replayed: list[Message]) -> None:
        """Welcome and replay are out: send what arrived meanwhile, without repeats.

        A held message at or before the resume position, or one the replay
        carried, is a repeat; anything else older than what was sent is out
        of order (and counted).
        """
        seen = self.last_sent
        for message in replayed:
            self._enqueue(message)
        repeats = {m.event_id for m in replayed}
        held, self.held = self.held or [], None
        for message in held:
            if message.event_id not in repeats and id_key(message.event_id) > seen:
                self._enqueue(message)

    async def _send_pending(self) -> None:
        """Write waiting frames in order, each in the view of the socket's role as it is now; then end.

        Nothing is written once the token's ``exp`` has passed, even in the
        moment before the expiry timer closes the socket.  A connection that
        broke ends the sender quietly.
        """
        try:
            while self.pending and not self.ws.closed:
                if self.overflowed or self.identity.exp <= self.clock.time():
                    return
                await self._send(self.pending.popleft())
        except (ConnectionError, RuntimeError) as exc:
            log.debug("agent %s: socket gone while sending: %s", self.identity.id, exc)
        finally:
            self.sender = self.pending = None

    async def stop(self) -> None:
        """The socket is done: a sender still running is cancelled and awaited."""
        sender = self.sender
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send(self, message: Message) -> None:
        identity = self.identity
        picked = self.outlet.frame(message, identity.role)
        if picked is None:
            log.warning(
                "agent %s: card %s has no view for role %s", identity.id, message.event_id, identity.role
            )
            return
        frame, view = picked
        try:
            await self.ws.send_frame(frame, WSMsgType.TEXT)
        except asyncio.CancelledError:
            # send_frame writes before it can wait (on a paused transport's drain): the frame is out
            self._audit(identity, message, view)
            raise
        self._audit(identity, message, view)

    def _audit(self, identity: AgentIdentity, message: Message, view: View | None) -> None:
        if view is not None and message.card is not None:
            self.outlet.sent(identity.id, message.card, view)


class Expiries:
    """Every socket's token ``exp`` on one timer: the soonest is armed, the others wait in a heap.

    A timer per socket costs a handle, a context and a callback (~250 bytes
    each, held for hours by every idle agent); an entry here costs a third of
    that.  A closed socket's entry is emptied at once, so it holds nothing,
    and the heap is rebuilt without such entries once they are half of it.
    """

    def __init__(self, clock: Clock, due: Callable[[AgentSocket], None]) -> None:
        self._clock = clock
        self._due = due
        self._heap: list[list[Any]] = []  # [exp, sequence, socket or None once forgotten]
        self._sequence = itertools.count()
        self._timer: Timer | None = None
        self._armed_for = math.inf
        self._forgotten = 0

    def watch(self, exp: float, socket: AgentSocket) -> list[Any]:
        """Call ``due(socket)`` once ``exp`` has come; the entry returned is what ``forget`` takes."""
        entry = [exp, next(self._sequence), socket]
        heapq.heappush(self._heap, entry)
        self._arm()
        return entry

    def forget(self, entry: list[Any]) -> None:
        """The socket closed: its entry is emptied (and the heap rebuilt once half of it is empty)."""
        if entry[2] is None:
            return
        entry[2] = None
        self._forgotten += 1
        if self._forgotten > max(64, len(self._heap) // 2):
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._forgotten = 0

    def _arm(self) -> None:
        if not self._heap or self._heap[0][0] >= self._armed_for:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._armed_for = self._heap[0][0]
        self._timer = self._clock.call_at(self._armed_for, self._fire)

    def _fire(self) -> None:
        """Hand out every entry now due (the clock may fire early after a step back: then none is)."""
        self._timer, self._armed_for = None, math.inf
        now = self._clock.time()
        due: list[AgentSocket] = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            socket, entry[2] = entry[2], None
            if socket is None:
                self._forgotten -= 1
            else:
                due.append(socket)
        for socket in due:
            self._due(socket)  # may watch the socket again (a refresh moved its exp)
        self._arm()


class Hub:
    """The sockets of this instance, keyed by agent."""

    def __init__(
        self,
        generations: Generations,
        broker: Broker,
        welcome_extras: Callable[[AgentIdentity], dict[str, Any]],
        audit: AuditCard,
        metrics: Metrics,
        clock: Clock | None = None,
    ) -> None:
        self._generations = generations
        self._clock: Clock = clock or SystemClock()
        self._broker = broker
        self._welcome_extras = welcome_extras
        self._outlet = Outlet(generations, audit, metrics)
        # A list per agent: one tab is the common case, and a list of one is a third of a set's size.
        self._sockets: dict[str, list[AgentSocket]] = {}
        self._expiries = Expiries(self._clock, self._on_expiry)
        # The 4401 close a socket's expiry started.
        self._expiring: dict[AgentSocket, asyncio.Task[bool]] = {}
        self.closing = False
        broker.listen(self.on_frame)

    @property
    def _settings(self) -> Settings:
        """The latest config: a hello or a refresh after a reload is checked against it."""
        return self._generations.latest.settings

    @property
    def connected(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    def agents_by_queue(self) -> dict[str, int]:
        """How many distinct agents have a socket open here, per queue of theirs (for the admin page)."""
        members: dict[str, set[str]] = {}
        for agent_id, sockets in self._sockets.items():
            for socket in sockets:
                for queue in socket.identity.agent.queues:
                    members.setdefault(queue, set()).add(agent_id)
        return {queue: len(ids) for queue, ids in sorted(members.items())}

    def on_frame(self, message: Message) -> None:
        for socket in self._sockets.get(message.agent_id, ()):
            socket.offer(message)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """One socket's whole life; the read loop is inline because its frames live as long as the socket."""
        # No per-message deflate: a card is a kilobyte or two, and each socket would
        # compress every frame on its own (a queue call to 100 agents, 100 times).
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=64 * 1024, compress=False)
        socket = await self._open(ws, request)
        if socket is None:
            return ws
        try:
            while (msg := await ws.receive()).type not in _CLOSED:
                if msg.type is WSMsgType.TEXT:
                    await self._on_client_frame(socket, msg.data)
        finally:
            await self._forget(socket)
        return ws

    async def _open(self, ws: web.WebSocketResponse, request: web.Request) -> AgentSocket | None:
        """Accept the socket and its hello, register it and send the welcome; None when it was refused."""
        await ws.prepare(request)
        if self.closing:
            await ws.close(code=CLOSE_RESTART, message=b"server restarting")
            return None
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self._settings.server.allowed_origins:
            await ws.close(code=CLOSE_ORIGIN, message=b"origin not allowed")
            return None
        hello = await self._read_hello(ws)
        if hello is None:
            return None
        identity, resume = hello
        socket = AgentSocket(ws, identity, self._outlet, self._clock, request.transport)
        self._sockets.setdefault(identity.id, []).append(socket)
        self._watch_expiry(socket)
        try:
            await self._welcome(socket, resume)
        except BaseException:
            await self._forget(socket)
            raise
        return socket

    async def _forget(self, socket: AgentSocket) -> None:
        group = self._sockets[socket.identity.id]
        group.remove(socket)
        if not group:
            del self._sockets[socket.identity.id]
        if socket.expiry is not None:
            self._expiries.forget(socket.expiry)
        await socket.stop()
        closing = self._expiring.pop(socket, None)
        if closing is not None:
            await closing  # let the 4401 close finish its handshake

    async def _read_hello(self, ws: web.WebSocketResponse) -> tuple[AgentIdentity, str | None] | None:
        try:
            msg = await ws.receive(timeout=HELLO_TIMEOUT_S)
        except TimeoutError:
            await ws.close(code=CLOSE_TOO_SLOW, message=b"say hello within 5 s")
            return None
        frame = _json_object(msg.data) if msg.type is WSMsgType.TEXT else None
        if frame is None or frame.get("type") != "hello":
            await ws.close(code=CLOSE_NOT_HELLO, message=b"the first frame must be a hello")
            return None
        try:
            identity = verify_token(self._settings, frame.get("token"), self._clock.time())
        except Unauthorized as exc:
            await _refuse(ws, exc)
            return None
        resume = frame.get("resume_from")
        return identity, resume if isinstance(resume, str) and resume else None

    async def _welcome(self, socket: AgentSocket, resume: str | None) -> None:
        agent = socket.identity
        welcome: dict[str, Any] = {
            "type": "welcome",
            "agent": agent.id,
            "role": agent.role,
            "queues": list(agent.agent.queues),
            "event_id": resume or await self._broker.latest_id(agent.id),
        }
        replayed: list[Message] = []
        if resume:
            replayed, welcome["recovered"] = await self._broker.replay(agent.id, resume)
        welcome.update(self._welcome_extras(agent))
        await socket.ws.send_str(json.dumps(welcome))
        if resume:
            # Frames held meanwhile were all published after the socket was
            # registered; only a resume has a position to filter them by.
            socket.last_sent = id_key(resume)
        socket.release(replayed)

    async def _on_client_frame(self, socket: AgentSocket, text: str) -> None:
        frame = _json_object(text) or {}
        if frame.get("type") == "ping":
            await socket.ws.send_str('{"type":"pong"}')
        elif frame.get("type") == "refresh":
            await self._refresh(socket, frame.get("token"))

    async def _refresh(self, socket: AgentSocket, token: object) -> None:
        """A newer token for the same agent extends the socket; anything else closes it with 4401."""
        now = self._clock.time()
        try:
            if socket.identity.exp <= now:
                raise Unauthorized("the token had expired before the refresh")
            identity = verify_token(self._settings, token, now)
            if identity.id != socket.identity.id:
                raise Unauthorized("a refreshed token must name the same agent")
        except Unauthorized as exc:
            await _refuse(socket.ws, exc)
            return
        socket.identity = identity
        await socket.ws.send_str(json.dumps({"type": "refreshed", "exp": identity.exp}))

    def _watch_expiry(self, socket: AgentSocket) -> None:
        socket.expiry = self._expiries.watch(socket.identity.exp, socket)

    def _on_expiry(self, socket: AgentSocket) -> None:
        """The exp the timer was armed for has come: close with 4401, unless a refresh moved it."""
        if socket.identity.exp > self._clock.time():
            self._watch_expiry(socket)
            return
        log.info("agent %s: token expired, closing the socket", socket.identity.id)
        close = socket.ws.close(code=CLOSE_UNAUTHORIZED, message=b"the token has expired")
        self._expiring[socket] = asyncio.create_task(close)

    async def reconcile(self) -> int:
        """After a reload: every open socket re-checked against the new directory and roles.

        An agent no longer in the directory, or whose token names a role that
        no longer exists, is closed with 4401; the others stay open and take
        their role as it is now (a token's role claim still outranks the
        directory's), which picks the view of every frame from then on.
        Returns how many sockets were closed.
        """
        settings = self._settings
        refused: list[tuple[AgentSocket, Unauthorized]] = []
        for socket in [s for group in self._sockets.values() for s in group]:
            try:
                socket.identity = reidentify(settings, socket.identity)
            except Unauthorized as exc:
                refused.append((socket, exc))
        for socket, reason in refused:
            log.info("agent %s: closed after a reload: %s", socket.identity.id, reason)
        await asyncio.gather(*(_refuse(s.ws, reason) for s, reason in refused), return_exceptions=True)
        return len(refused)

    async def close_all(self, code: int = CLOSE_RESTART) -> None:
        """Close every socket (shutdown): 1012 tells widgets to reconnect elsewhere."""
        self.closing = True
        sockets = [s for group in self._sockets.values() for s in group]
        await asyncio.gather(
            *(s.ws.close(code=code, message=b"server restarting") for s in sockets),
            return_exceptions=True,
        )


async def _refuse(ws: web.WebSocketResponse, exc: Unauthorized) -> None:
    """Close with 4401 and the reason (a close reason holds at most 123 bytes)."""
    await ws.close(code=CLOSE_UNAUTHORIZED, message=str(exc).encode()[:120])


def body_tail(body: str) -> bytes:
    """A JSON object's text after its ``{``, encoded, with the comma an ``event_id`` before it needs."""
    rest = body[1:].lstrip()
    return (rest if rest.startswith("}") else "," + rest).encode()


def frame_bytes(event_id: str, tail: bytes) -> bytes:
    """``broker.frame_with_id`` for an encoded body: ``event_id`` first, then the body's members."""
    return b'{"event_id":"%s"%s' % (event_id.encode(), tail)


_CLOSED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})
"""What ``ws.receive`` returns once the socket is closing: the end of ``async for`` over it."""


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # RecursionError: deeply nested arrays from anyone
        return None
    return value if isinstance(value, dict) else None
