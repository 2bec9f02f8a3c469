"""One agent's browser tab: the order its frames keep, and writing them without a task while idle."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import WSMsgType, web

from screenpop.auth import AgentIdentity
from screenpop.broker import Message, View, id_key
from screenpop.clock import Clock
from screenpop.hub.outlet import Outlet

log = logging.getLogger(__name__)

QUEUE_LIMIT = 256
"""Frames waiting for one socket before it counts as stopped reading and is cut off."""


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
        "role_notices",
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
        self.role_notices = False  # its hello asked to be told of a reload's role change (the widget)

    def offer(self, message: Message) -> None:
        """Send ``message`` in order: held until the welcome is out, dropped when stale or a repeat.

        The usual case (a tab reading along, nothing queued) is written from
        here, with no task: every ringing's first frame passes here before
        the webhook's 202.
        """
        if self.held is not None:
            self.held.append(message)
            return
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
        """Write the frame now when nothing waits before it, else queue it for the sender.

        A full backlog cuts the socket off.
        """
        if self.sender is None:
            self._write_now(message)
            return True
        pending = self.pending
        if pending is None:
            pending = self.pending = deque()
        elif len(pending) >= QUEUE_LIMIT:
            self.cut_off()
            return False
        pending.append(message)  # the sender, finishing a write that waits for the drain, sends it next
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

    def release(self, replayed: list[Message], read: Sequence[Message] = ()) -> None:
        """Welcome and replay are out: send what arrived meanwhile, without repeats.

        A held message at or before the resume position, or one the replay
        read (``read``: what was sent of it, and what a fresh tab was left
        without on purpose, ``live_calls``), is a repeat; anything else older
        than what was sent is out of order (and counted).
        """
        seen = self.last_sent
        held, self.held = self.held or [], None
        for message in replayed:
            self.offer(message)
        repeats = {m.event_id for m in replayed} | {m.event_id for m in read}
        for message in held:
            if message.event_id not in repeats and id_key(message.event_id) > seen:
                self.offer(message)

    def _write_now(self, message: Message) -> None:
        """Write one frame from the publisher's own call: no task, no turn of the loop.

        The common case, a tab reading along with nothing waiting for it,
        then costs what the bare-aiohttp floor pays: the card is on the wire
        before the webhook's 202 is.  ``send_frame`` writes before it can
        wait, and waits only when the transport is over its high-water mark;
        then a sender task finishes that wait, and what comes meanwhile
        queues behind it as any backlog does.
        """
        identity = self.identity
        if self.ws.closed or self.overflowed or identity.exp <= self.clock.time():
            return
        picked = self._picked(message)
        if picked is None:
            return
        frame, view = picked
        step = self.ws.send_frame(frame, WSMsgType.TEXT)
        try:
            waiting = step.send(None)
        except StopIteration:
            self._audit(identity, message, view)
            return
        except (ConnectionError, RuntimeError) as exc:
            log.debug("agent %s: socket gone while sending: %s", self.identity.id, exc)
            return
        self._audit(identity, message, view)  # written: only the wait for the drain is left
        self.sender = asyncio.get_running_loop().create_task(self._drain_then_send(step, _taken(waiting)))

    async def _drain_then_send(self, step: Coroutine[Any, Any, None], waiting: Any) -> None:
        """Finish a write that waits for the transport to drain, as a task would, then the backlog."""
        try:
            while True:
                await asyncio.wait((waiting,))
                try:
                    waiting = _taken(step.send(None))
                except StopIteration:
                    break
        except (ConnectionError, RuntimeError) as exc:
            log.debug("agent %s: socket gone while draining: %s", self.identity.id, exc)
            self.sender = self.pending = None
            return
        except BaseException:
            step.close()
            self.sender = self.pending = None
            raise
        await self._send_pending()

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

    def _picked(self, message: Message) -> tuple[bytes, View | None] | None:
        """The frame in the view of the socket's role as it is now, or None (logged) without one."""
        identity = self.identity
        picked = self.outlet.frame(message, identity.role)
        if picked is None:
            _no_view(identity, message)
        return picked

    async def _send(self, message: Message) -> None:
        identity = self.identity
        picked = self._picked(message)
        if picked is None:
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


def _no_view(identity: AgentIdentity, message: Message) -> None:
    log.warning("agent %s: card %s has no view for role %s", identity.id, message.event_id, identity.role)


def _taken(waiting: Any) -> Any:
    """Take a future the step yielded as a Task takes one: at once, clearing its ``_asyncio_future_blocking``.

    The step yields the protocol's one drain waiter, which the read loop's
    pong and aiohttp's heartbeat ping also await while the transport is
    paused.  Left set until the drain, it made their ``await`` fail at once
    ("await wasn't used with future"): a slow tab that pinged was closed
    1011 with a traceback, and a heartbeat then dropped the socket.
    """
    waiting._asyncio_future_blocking = False
    return waiting
