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
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from screenpop.auth import AgentIdentity, verify_token
from screenpop.broker import Broker, id_key
from screenpop.clock import Clock, SystemClock, Timer
from screenpop.errors import Unauthorized
from screenpop.settings import Settings

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 5.0
QUEUE_LIMIT = 256
CLOSE_ORIGIN = 4403
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_HELLO = 4400
CLOSE_TOO_SLOW = 4408
CLOSE_RESTART = 1012


class AgentSocket:
    """One browser tab: its queue, its sender, and the frames held back until welcome is out."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        identity: AgentIdentity,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.identity = identity
        self.queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)
        self.held: list[tuple[str, str]] | None = []
        self.last_sent = (-1, -1)
        self.overflowed = False

    def offer(self, event_id: str, frame: str) -> None:
        if self.held is not None:
            self.held.append((event_id, frame))
            return
        self._enqueue(event_id, frame)

    def _enqueue(self, event_id: str, frame: str) -> None:
        key = id_key(event_id)
        if key <= self.last_sent:
            return
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.cut_off()
            return
        self.last_sent = key

    def cut_off(self) -> None:
        """A browser that stopped reading: drop its backlog and the connection at once.

        The sender may be stuck writing to it, so nothing is awaited here;
        the widget reconnects and resumes from its last event id.
        """
        self.overflowed = True
        self.queue = asyncio.Queue(1)
        log.warning("agent %s cut off: its socket stopped reading", self.identity.id)
        if self.transport is not None:
            self.transport.abort()

    def release(self, sent: list[tuple[str, str]]) -> None:
        """Welcome and replay are out: send what arrived meanwhile, without repeats."""
        for event_id, frame in sent:
            self._enqueue(event_id, frame)
        held, self.held = self.held or [], None
        for event_id, frame in held:
            self._enqueue(event_id, frame)

    async def send_loop(self, clock: Clock) -> None:
        """Write queued frames in order; a connection that broke ends the loop quietly.

        Nothing is written once the token's ``exp`` has passed, even in the
        moment before the expiry timer closes the socket.
        """
        try:
            while not self.ws.closed:
                frame = await self.queue.get()
                if self.overflowed or self.identity.exp <= clock.time():
                    return
                await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError) as exc:
            log.debug("agent %s: socket gone while sending: %s", self.identity.id, exc)


class Hub:
    """The sockets of this instance, keyed by agent."""

    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        welcome_extras: Callable[[AgentIdentity], dict[str, Any]],
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._clock: Clock = clock or SystemClock()
        self._broker = broker
        self._welcome_extras = welcome_extras
        self._sockets: dict[str, set[AgentSocket]] = {}
        # One timer per socket for its token's exp (a timer handle costs a seventh of a task),
        # and the close it starts once due.
        self._expiries: dict[AgentSocket, Timer] = {}
        self._expiring: dict[AgentSocket, asyncio.Task[bool]] = {}
        self.closing = False
        broker.listen(self.on_frame)

    @property
    def connected(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    def on_frame(self, agent_id: str, event_id: str, frame: str) -> None:
        for socket in self._sockets.get(agent_id, ()):
            socket.offer(event_id, frame)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # No per-message deflate: a card is a kilobyte or two, and each socket would
        # compress every frame on its own (a queue call to 100 agents, 100 times).
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=64 * 1024, compress=False)
        await ws.prepare(request)
        if self.closing:
            await ws.close(code=CLOSE_RESTART, message=b"server restarting")
            return ws
        origin = request.headers.get("Origin")
        if origin is not None and origin not in self._settings.server.allowed_origins:
            await ws.close(code=CLOSE_ORIGIN, message=b"origin not allowed")
            return ws
        hello = await self._read_hello(ws)
        if hello is None:
            return ws
        identity, resume_from = hello
        await self._serve(ws, identity, resume_from, request.transport)
        return ws

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

    async def _serve(
        self,
        ws: web.WebSocketResponse,
        identity: AgentIdentity,
        resume: str | None,
        transport: asyncio.Transport | None,
    ) -> None:
        socket = AgentSocket(ws, identity, transport)
        self._sockets.setdefault(identity.id, set()).add(socket)
        sender = asyncio.create_task(socket.send_loop(self._clock))
        self._watch_expiry(socket)
        try:
            await self._welcome(socket, resume)
            await self._read_loop(socket)
        finally:
            self._sockets[identity.id].discard(socket)
            if not self._sockets[identity.id]:
                del self._sockets[identity.id]
            self._expiries.pop(socket).cancel()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            closing = self._expiring.pop(socket, None)
            if closing is not None:
                await closing  # let the 4401 close finish its handshake

    async def _welcome(self, socket: AgentSocket, resume: str | None) -> None:
        agent = socket.identity
        welcome: dict[str, Any] = {
            "type": "welcome",
            "agent": agent.id,
            "role": agent.role,
            "queues": list(agent.agent.queues),
            "event_id": resume or await self._broker.latest_id(agent.id),
        }
        replayed: list[tuple[str, str]] = []
        if resume:
            replayed, welcome["recovered"] = await self._broker.replay(agent.id, resume)
        welcome.update(self._welcome_extras(agent))
        await socket.ws.send_str(json.dumps(welcome))
        if resume:
            # Frames held meanwhile were all published after the socket was
            # registered; only a resume has a position to filter them by.
            socket.last_sent = id_key(resume)
        socket.release(replayed)

    async def _read_loop(self, socket: AgentSocket) -> None:
        async for msg in socket.ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = _json_object(msg.data) or {}
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
        self._expiries[socket] = self._clock.call_at(socket.identity.exp, lambda: self._on_expiry(socket))

    def _on_expiry(self, socket: AgentSocket) -> None:
        """The exp the timer was armed for has come: close with 4401, unless a refresh moved it."""
        if socket.identity.exp > self._clock.time():
            self._watch_expiry(socket)
            return
        log.info("agent %s: token expired, closing the socket", socket.identity.id)
        close = socket.ws.close(code=CLOSE_UNAUTHORIZED, message=b"the token has expired")
        self._expiring[socket] = asyncio.create_task(close)

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


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # RecursionError: deeply nested arrays from anyone
        return None
    return value if isinstance(value, dict) else None
