"""Asterisk (``kind: asterisk_ami``): screenpop logs in to the AMI port and listens.

There is no webhook: Asterisk only tells a connected manager client, so
``AmiListener`` keeps one TCP connection per provider block, logs in, and
turns events into ``CallEvent``s (``call_id`` is ``Linkedid``, the id of the
caller's channel, which every agent leg of the call shares):

* ``AgentCalled`` (a queue member is rung) -> ringing for the member's agent
  (``Interface`` or ``MemberName`` through ``agents``), in ``Queue``;
* ``DialBegin`` to a device or extension that maps to an agent -> ringing
  for that agent (direct dials; other dials, trunks and Local channels are
  not an agent's phone ringing and are ignored);
* ``AgentConnect``, or ``DialEnd`` with ``DialStatus: ANSWER`` to a mapped
  agent -> answered by that agent; a ``DialEnd`` to a mapped agent that
  stopped ringing (``NOANSWER``, ``BUSY``, ``CANCEL``, …) -> withdrawn from
  that agent;
* ``Hangup`` of the caller's channel (``Uniqueid == Linkedid``) -> ended,
  or missed when no agent answered it on this connection;
* ``AgentRingNoAnswer`` (a member's ring timed out; the queue goes on
  ringing others) -> withdrawn from that member's agent only.

The AMI wire format is read by ``ami_protocol`` (panoramisk, the asyncio AMI
library, is abandoned since 2021).  The link reconnects by itself with
exponential back-off and jitter, and ``state`` says how it is for /readyz.

AMI never sends an event twice, so an event the service cannot take right
now (429 when it is full, the broker or the store failing) is not dropped:
each link keeps a bounded backlog, delivered in order by one task that
retries the event at its head with back-off.  Only an event the service
refuses for good, the oldest when the backlog overflows, and what is left
at shutdown are given up, each counted (``/metrics``) and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

from screenpop.config import ProviderSettings
from screenpop.errors import RateLimited, ScreenpopError, Unavailable
from screenpop.model import CallEvent
from screenpop.providers.ami_events import AmiTranslator
from screenpop.providers.ami_protocol import (
    AmiProtocolError,
    encode_action,
    is_banner,
    read_packet,
)
from screenpop.retry import Backoff, DropObserver, NoObserver, is_transient, worth_logging

log = logging.getLogger(__name__)

OnEvent = Callable[[CallEvent], Awaitable[object]]
BACKLOG_LIMIT = 10_000
"""Events kept per link while the service cannot take them (a few minutes of a busy PBX)."""
UNKNOWN_FAILURE_ATTEMPTS = 5
"""Tries of an event failing for a reason that is neither known to be passing nor a refusal."""


class AmiLoginRefused(Exception):
    """The PBX answered ``Action: Login`` with an error (wrong username or secret)."""


class AmiListener:
    """One AMI connection that logs in, listens, and comes back after a PBX restart.

    ``state`` is ``connecting``, ``connected`` or ``down: <reason>``.  Events go
    to ``on_event`` one at a time, in the order Asterisk sent them, through a
    backlog of at most ``backlog_limit`` events: an ``on_event`` that fails for
    a passing reason (``RateLimited``, ``Unavailable``, a connection error) is
    called again with the same event after a back-off, and a failing
    ``on_event`` never drops the link.  ``observer`` counts the retries and
    the events given up under ``queue_name`` (``ami:<provider>``).
    """

    def __init__(
        self,
        settings: ProviderSettings,
        on_event: OnEvent,
        *,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 5.0,
        ping_interval_s: float = 20.0,
        observer: DropObserver | None = None,
        retry: Backoff | None = None,
        backlog_limit: int = BACKLOG_LIMIT,
    ) -> None:
        self.settings = settings
        self.on_event = on_event
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.ping_interval_s = ping_interval_s
        self.queue_name = f"ami:{settings.name}"
        self._observer = observer or NoObserver()
        self._retry = retry or Backoff(initial_s=0.05, max_s=2.0)
        self._backlog: deque[CallEvent] = deque()
        self._backlog_limit = backlog_limit
        self._has_backlog = asyncio.Event()
        self._handling: CallEvent | None = None  # taken off the backlog, not yet handled
        self._state = "down: not started"
        self._task: asyncio.Task[None] | None = None
        self._deliverer: asyncio.Task[None] | None = None
        self._last_heard = 0.0
        self.dropped = 0

    @property
    def state(self) -> str:
        return self._state

    @property
    def backlog(self) -> int:
        """Events read from the PBX and not yet taken by the service."""
        return len(self._backlog) + (self._handling is not None)

    async def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ami:{self.settings.name}")
            self._deliverer = asyncio.create_task(
                self._deliver_backlog(), name=f"ami:{self.settings.name}:events"
            )

    async def stop(self) -> None:
        """Close the connection and stop reconnecting; events still waiting are given up (counted)."""
        tasks = (self._task, self._deliverer)
        self._task = self._deliverer = None
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        left = ([self._handling] if self._handling is not None else []) + list(self._backlog)
        self._handling = None
        self._backlog.clear()
        for event in left:
            self._give_up(event, "shutdown")
        self._state = "down: stopped"

    async def _run(self) -> None:
        attempt = 0
        while True:  # ends when stop() cancels the task
            self._state = "connecting"
            connected = False
            try:
                connected = await self._session()
                reason = "connection closed by the PBX"
            except AmiLoginRefused as exc:
                reason = f"login refused: {exc}"
            except (OSError, TimeoutError, AmiProtocolError) as exc:
                reason = describe(exc)
            self._state = f"down: {reason}"
            log.warning("AMI %s is down: %s", self.settings.name, reason)
            attempt = 0 if connected else attempt + 1
            await asyncio.sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        """Exponential with equal jitter, so that many screenpops do not knock in step."""
        delay = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** min(attempt, 30))
        return delay / 2 + random.uniform(0, delay / 2)

    async def _session(self) -> bool:
        """One connection: banner, login, listen until it ends; True if it got to ``connected``."""
        host, port = self.settings.host or "127.0.0.1", self.settings.port
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout_s)
        try:
            await asyncio.wait_for(self._login(reader, writer), self.timeout_s)
            self._state = "connected"
            log.info("AMI %s connected to %s:%s", self.settings.name, host, port)
            await self._listen(reader, writer)
            return True
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        banner = await reader.readline()
        if not is_banner(banner):
            raise AmiProtocolError(f"not an AMI port (it greeted with {banner[:40]!r})")
        action_id = uuid.uuid4().hex
        writer.write(
            encode_action(
                {
                    "Action": "Login",
                    "ActionID": action_id,
                    "Username": self.settings.username or "",
                    "Secret": self.settings.secret or "",
                }
            )
        )
        await writer.drain()
        for _ in range(1000):  # events may come before the response; a bound keeps a bad peer out
            packet = await read_packet(reader)
            if packet is None:
                raise AmiProtocolError("the PBX closed the connection during login")
            if packet.get("ActionID") == action_id or "Response" in packet:
                if packet.get("Response") != "Success":
                    raise AmiLoginRefused(packet.get("Message") or "no reason given")
                return
        raise AmiProtocolError("no answer to Login")

    async def _listen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        translator = AmiTranslator(self.settings.name, self.settings.agents)
        self._last_heard = time.monotonic()
        keepalive = asyncio.create_task(self._keepalive(writer))
        try:
            while (packet := await read_packet(reader)) is not None:
                self._last_heard = time.monotonic()
                for event in translator.translate(packet):
                    self._enqueue(event)
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive

    def _enqueue(self, event: CallEvent) -> None:
        """Add to the backlog; beyond its bound the oldest waiting event is given up (counted)."""
        if len(self._backlog) >= self._backlog_limit:
            self._give_up(self._backlog.popleft(), "queue_full")
        self._backlog.append(event)
        self._has_backlog.set()

    async def _deliver_backlog(self) -> None:
        """Hand the backlog to ``on_event`` in order, one event at a time, until ``stop``."""
        while True:
            if not self._backlog:
                self._has_backlog.clear()
                await self._has_backlog.wait()
                continue
            self._handling = self._backlog.popleft()
            await self._deliver(self._handling)
            self._handling = None

    async def _deliver(self, event: CallEvent) -> None:
        """``on_event(event)``, retried with back-off while it fails for a passing reason."""
        attempt = 0
        while True:
            try:
                await self.on_event(event)
                return
            except Exception as exc:  # sorted below: retried, or given up and counted
                if not _worth_retrying(exc, attempt):
                    # the kind only: a refusal's sentence may quote the event (a caller's number)
                    log.error(
                        "AMI %s: %s of call %s refused: %s",
                        self.settings.name,
                        event.event.value,
                        event.call_id[:80],
                        getattr(exc, "code", None) or type(exc).__name__,
                    )
                    self._give_up(event, "rejected")
                    return
                log.warning(
                    "AMI %s: %s of call %s not taken yet (%s); retry %d",
                    self.settings.name,
                    event.event.value,
                    event.call_id,
                    type(exc).__name__,
                    attempt + 1,
                )
            self._observer.retried(self.queue_name)
            await self._retry.wait(attempt)
            attempt += 1

    def _give_up(self, event: CallEvent, reason: str) -> None:
        """Count (always) and log (the first, then every thousandth) an event that will never be handled."""
        self._observer.dropped(self.queue_name, reason)
        self.dropped += 1
        if reason != "queue_full" or worth_logging(self.dropped):
            log.error(
                "AMI %s: gave up %s of call %s (%s; %d in all)",
                self.settings.name,
                event.event.value,
                event.call_id,
                reason,
                self.dropped,
            )

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        """Ping when quiet; a PBX that stays silent through two pings is gone (close, reconnect)."""
        while not writer.is_closing():
            await asyncio.sleep(self.ping_interval_s)
            if time.monotonic() - self._last_heard > 2.5 * self.ping_interval_s:
                log.warning("AMI %s: no answer to Ping, reconnecting", self.settings.name)
                writer.close()
                return
            writer.write(encode_action({"Action": "Ping"}))


def _worth_retrying(exc: Exception, attempt: int) -> bool:
    """Passing failures are retried until they pass; a refusal never; anything else a few times."""
    if isinstance(exc, RateLimited | Unavailable) or is_transient(exc):
        return True
    if isinstance(exc, ScreenpopError):
        return False  # the service refuses the event itself (e.g. a call id it cannot keep)
    return attempt + 1 < UNKNOWN_FAILURE_ATTEMPTS


def describe(exc: BaseException) -> str:
    """A short reason for /readyz: ``connection refused``, ``timed out``, …"""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc) or type(exc).__name__).lower()
    return str(exc)
