"""This instance's agent websockets: who may connect, and getting frames to them.

Frames arrive from the broker for any agent; the hub hands each one to the
sockets that agent holds here (several tabs all receive).  Every socket has a
bounded backlog and a sender of its own while frames wait, so a frozen
browser is cut off when its backlog fills and never slows anyone else; an
idle socket holds no task or queue (bench/sockets.py measures what it costs).

A socket lives no longer than its token: at ``exp`` it is closed with 4401
unless the client sent a ``refresh`` with a newer token for the same agent
before then (SPEC section 5).  The new token replaces the socket's
``identity``, so a role it names decides what the socket receives from then on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from screenpop.auth import AgentIdentity, reidentify, verify_token
from screenpop.broker import Broker, Message, format_id, id_key, parse_id
from screenpop.clock import Clock, SystemClock
from screenpop.config import Settings
from screenpop.errors import Unauthorized
from screenpop.generation import Generations
from screenpop.hub.agent_socket import AgentSocket
from screenpop.hub.expiries import Expiries
from screenpop.hub.live_calls import live_calls
from screenpop.hub.outlet import AuditCard, Outlet
from screenpop.metrics import Metrics

log = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 5.0
CLOSE_ORIGIN = 4403
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_HELLO = 4400
CLOSE_TOO_SLOW = 4408
CLOSE_RESTART = 1012


class Hub:
    """The sockets of this instance, keyed by agent."""

    def __init__(
        self,
        generations: Generations,
        broker: Broker,
        welcome_extras: Callable[[Settings, AgentIdentity], dict[str, Any]],
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
        # Sockets upgraded and not yet welcomed: a stop closes them with 1012 as well.
        self._greeting: set[web.WebSocketResponse] = set()
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
        try:
            socket = await self._open(ws, request)
            if socket is None:
                return ws
            try:
                while (msg := await ws.receive()).type not in _CLOSED:
                    if msg.type is WSMsgType.TEXT:
                        await self._on_client_frame(socket, msg.data)
            finally:
                await self._forget(socket)
        except ConnectionError as exc:
            if not ws.prepared:
                raise
            # The peer went while we answered it (a pong, the welcome, a refreshed), or it was cut
            # off for not reading: the client's doing, already told (the cut) or nothing to tell.
            log.debug("agent socket: connection gone while writing: %s", exc)
        except Exception:
            if not ws.prepared:
                raise  # no upgrade yet: an HTTP answer can still be given (``answer_errors``)
            # upgraded: no middleware is around this socket (it would hold memory for its whole
            # life), so the error is logged here and the browser told, to reconnect
            log.exception("agent socket: unexpected error; closed with 1011")
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
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
        self._greeting.add(ws)
        try:
            hello = await self._read_hello(ws)
        finally:
            self._greeting.discard(ws)
        if hello is None:
            return None
        socket = AgentSocket(ws, hello.identity, self._outlet, self._clock, request.transport)
        socket.role_notices = hello.role_notices
        self._sockets.setdefault(hello.identity.id, []).append(socket)
        try:
            self._watch_expiry(socket)
            await self._welcome(socket, hello.resume, hello.live_calls)
        except BaseException:
            await self._forget(socket)
            raise
        return socket

    async def _forget(self, socket: AgentSocket) -> None:
        """A socket that ended leaves nothing behind (entry, expiry, sender); a 4401 close finishes."""
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

    async def _read_hello(self, ws: web.WebSocketResponse) -> Hello | None:
        """The hello, within one window from the upgrade.

        ``receive(timeout=...)`` starts its timeout again after each ping or
        pong frame it answers inside, so a client pinging faster than the
        window held an unauthenticated socket for ever: the deadline is ours.
        """
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                msg = await ws.receive()
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
        # any value given counts as asking to resume (SPEC 5 then says `recovered`); junk is no position
        return Hello(
            identity,
            None if resume is None or resume == "" else resume,
            live_calls=frame.get("live_calls") is True,
            role_notices=frame.get("role_notices") is True,
        )

    async def _welcome(self, socket: AgentSocket, resume: object, live: bool) -> None:
        """The welcome, then what was missed; its ``event_id`` is always an id this broker issued.

        The widget keeps that id and resumes from it after the next drop:
        a client's junk handed back there came back on every reconnect, and so
        did a position the broker could not vouch for ("0-0", an id before
        the window), with ``recovered: false`` and the whole window each time.
        Only a recovered position is the client's own, and then it is exact.
        A hello without a position that asks for ``live_calls`` (the widget's,
        in a new or reloaded tab) is sent the calls of the window still ringing
        for or held by the agent; a client that does not ask gets what SPEC 5
        says, nothing before the next message.
        """
        agent = socket.identity
        recovered: bool | None = None
        position: tuple[int, int] | None = None
        if resume is not None:
            text = resume if isinstance(resume, str) else ""
            replayed, recovered = await self._broker.replay(agent.id, text)
            sent = replayed
            position = parse_id(text)
            if position is not None and not recovered and await self._ahead_of_stream(agent.id, position):
                position = None
        elif live:
            replayed, _ = await self._broker.replay(agent.id, "")
            sent = live_calls(agent.id, replayed)
        else:
            replayed = sent = []
        event_id = format_id(position) if position and recovered else await self._broker.latest_id(agent.id)
        agent = socket.identity  # as it is now: a reload while the broker answered may have changed it
        welcome: dict[str, Any] = {
            "type": "welcome",
            "agent": agent.id,
            "role": agent.role,
            "queues": list(agent.agent.queues),
            "event_id": event_id,
        }
        if recovered is not None:
            welcome["recovered"] = recovered
        welcome.update(self._welcome_extras(self._settings, agent))
        await socket.ws.send_str(json.dumps(welcome))
        if position:
            # Frames held meanwhile were all published after the socket was
            # registered; only a resume has a position to filter them by.
            socket.last_sent = position
        socket.release(sent, replayed)

    async def _ahead_of_stream(self, agent_id: str, position: tuple[int, int]) -> bool:
        """A resume position past anything the broker has for this agent: it is no position here.

        Such an id was made elsewhere: by an instance whose clock ran ahead
        while Redis was down, by a broker since replaced, or by a process
        restarted with its clock set back.  Taken as the socket's position
        it held back every call message with a lower id (answered, ended,
        transferred) until the clock passed it, so the tab showed a taken
        call ringing; the socket starts afresh instead (``recovered``
        stays false, and the widget fills the gap from ``/api/calls``).
        """
        return position > id_key(await self._broker.latest_id(agent_id))

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
        sooner = identity.exp < socket.identity.exp
        socket.identity = identity
        if sooner:  # the armed timer is for the later exp: the socket would outlive its token
            if socket.expiry is not None:
                self._expiries.forget(socket.expiry)
            self._watch_expiry(socket)
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

    async def reconcile(self, previous: Settings | None = None) -> int:
        """After a reload: every open socket re-checked against the new directory and roles.

        An agent no longer in the directory, or whose token names a role that
        no longer exists, is closed with 4401; the others stay open and take
        their role as it is now (a token's role claim still outranks the
        directory's), which picks the view of every frame from then on.  A
        socket whose welcome would now read otherwise than under ``previous``
        (another role, sections, queues or dispositions) is told so in a
        ``role`` message, so that the widget's header and the cards it holds
        follow.  Returns how many sockets were closed.
        """
        settings = self._settings
        refused: list[tuple[AgentSocket, Unauthorized]] = []
        changed: list[tuple[AgentSocket, dict[str, Any]]] = []
        told = _Told(self._welcome_extras, previous, settings)
        for socket in [s for group in self._sockets.values() for s in group]:
            try:
                before, socket.identity = socket.identity, reidentify(settings, socket.identity)
            except Unauthorized as exc:
                refused.append((socket, exc))
                continue
            # told only when its hello asked (the widget does); a socket not welcomed yet is not
            # told either: its welcome, still to come, reads the new role
            if not socket.role_notices or socket.held is not None:
                continue
            if (now := told.after(socket.identity)) != told.before(before):
                changed.append((socket, now))
        for socket, reason in refused:
            log.info("agent %s: closed after a reload: %s", socket.identity.id, reason)
        await asyncio.gather(*(_refuse(s.ws, reason) for s, reason in refused), return_exceptions=True)
        await asyncio.gather(*(s.ws.send_str(json.dumps(m)) for s, m in changed), return_exceptions=True)
        return len(refused)

    async def close_all(self, code: int = CLOSE_RESTART) -> None:
        """Close every socket (shutdown): 1012 tells widgets to reconnect elsewhere."""
        self.closing = True
        sockets = [s.ws for group in self._sockets.values() for s in group] + list(self._greeting)
        await asyncio.gather(
            *(ws.close(code=code, message=b"server restarting") for ws in sockets),
            return_exceptions=True,
        )


@dataclass(frozen=True, slots=True)
class Hello:
    """A socket's hello: who it is, where it resumes, and what it asks beyond SPEC 5.

    ``live_calls`` and ``role_notices`` are the widget's (docs/beyond-the-spec.md):
    a client written to SPEC 5 alone sends neither and gets exactly what it says.
    """

    identity: AgentIdentity
    resume: object
    live_calls: bool = False
    role_notices: bool = False


class _Told:
    """What a welcome tells an agent (role, queues, sections, dispositions), before and after a reload.

    Worked out once per role and queues, not per socket: a reload with
    thousands of agents connected builds a handful of them.
    """

    def __init__(
        self,
        extras: Callable[[Settings, AgentIdentity], dict[str, Any]],
        previous: Settings | None,
        settings: Settings,
    ) -> None:
        self._extras = extras
        self._previous = previous
        self._settings = settings
        self._made: dict[tuple[bool, str, tuple[str, ...]], dict[str, Any]] = {}

    def before(self, identity: AgentIdentity) -> dict[str, Any] | None:
        return None if self._previous is None else self._view(identity, self._previous, False)

    def after(self, identity: AgentIdentity) -> dict[str, Any]:
        return self._view(identity, self._settings, True)

    def _view(self, identity: AgentIdentity, settings: Settings, new: bool) -> dict[str, Any]:
        key = (new, identity.role, tuple(identity.agent.queues))
        found = self._made.get(key)
        if found is None:
            found = {"type": "role", "role": identity.role, "queues": list(identity.agent.queues)}
            found = self._made[key] = {**found, **self._extras(settings, identity)}
        return found


async def _refuse(ws: web.WebSocketResponse, exc: Unauthorized) -> None:
    """Close with 4401 and the reason (a close reason holds at most 123 bytes)."""
    await ws.close(code=CLOSE_UNAUTHORIZED, message=str(exc).encode()[:120])


_CLOSED = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})
"""What ``ws.receive`` returns once the socket is closing: the end of ``async for`` over it."""


def _json_object(text: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # RecursionError: deeply nested arrays from anyone
        return None
    return value if isinstance(value, dict) else None
