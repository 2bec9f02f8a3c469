"""Asterisk AMI: a real asyncio AMI server on 127.0.0.1 speaks to the real listener.

The fake server is written here, independently of screenpop's protocol
reader: it sends Asterisk's banner, checks ``Action: Login``, answers Pings,
and plays recorded event packets (field sets as documented for Asterisk 18+).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import pytest

from screenpop.config import ProviderSettings
from screenpop.model import CallEvent, EventKind
from screenpop.providers import parse_ami_stream
from screenpop.providers.asterisk_ami import AmiListener

USERNAME = "screenpop"
SECRET = "ami-secret"
BANNER = b"Asterisk Call Manager/5.0.1\r\n"
AGENTS = {"PJSIP/1001": "agent-1", "Bob": "agent-2", "PJSIP/201": "agent-3"}

CALLER = """Channel: PJSIP/trunk-00000001
ChannelState: 6
ChannelStateDesc: Up
CallerIDNum: +14155550132
CallerIDName: ADA L
ConnectedLineNum: <unknown>
ConnectedLineName: <unknown>
Language: en
AccountCode:
Context: from-trunk
Exten: 600
Priority: 3
Uniqueid: 1763800000.101
Linkedid: 1763800000.101"""


def member(n: str, name: str) -> str:
    return f"""DestChannel: PJSIP/{n}-0000000{n[-1]}
DestChannelState: 5
DestChannelStateDesc: Ringing
DestCallerIDNum: {n}
DestCallerIDName: {name}
DestContext: from-queue
DestExten: 600
DestPriority: 1
DestUniqueid: 1763800000.{n}
DestLinkedid: 1763800000.101
Queue: support
Interface: PJSIP/{n}
MemberName: {name}"""


QUEUE_CALL = f"""Event: Newchannel
Privilege: call,all
{CALLER}

Event: AgentCalled
Privilege: agent,all
{CALLER}
{member("1001", "Alice")}

Event: AgentCalled
Privilege: agent,all
{CALLER}
{member("1002", "Bob")}

Event: AgentConnect
Privilege: agent,all
{CALLER}
{member("1002", "Bob")}
HoldTime: 4
RingTime: 3

Event: Hangup
Privilege: call,all
Channel: PJSIP/1002-00000002
Uniqueid: 1763800000.1002
Linkedid: 1763800000.101
CallerIDNum: 1002
CallerIDName: Bob
Cause: 16
Cause-txt: Normal Clearing

Event: Hangup
Privilege: call,all
{CALLER}
Cause: 16
Cause-txt: Normal Clearing

"""

EXPECTED = [
    (EventKind.RINGING, "agent-1", "support"),
    (EventKind.RINGING, "agent-2", "support"),
    (EventKind.ANSWERED, "agent-2", "support"),
    (EventKind.ENDED, None, None),
]


def wire(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


class FakeAmi:
    """A minimal AMI server: banner, Login check, Ping answers, scripted events."""

    def __init__(self, *, silent_after_login: bool = False) -> None:
        self.port = 0
        self.logins: list[tuple[str, str]] = []
        self.silent_after_login = silent_after_login
        self.server: asyncio.Server | None = None
        self.clients: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.clients:
            writer.close()
        self.clients.clear()
        await self.server.wait_closed()

    async def send(self, text: str) -> None:
        for writer in self.clients:
            writer.write(wire(text))
            await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        try:
            while fields := await self._read_action(reader):
                if not await self._answer(fields, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _read_action(self, reader: asyncio.StreamReader) -> dict[str, str]:
        fields: dict[str, str] = {}
        for _ in range(50):
            line = (await reader.readline()).decode()
            if not line:
                return {}
            if line in ("\r\n", "\n"):
                return fields
            key, _, value = line.rstrip("\r\n").partition(": ")
            fields[key] = value
        return {}

    async def _answer(self, fields: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        action_id = fields.get("ActionID", "")
        if fields.get("Action") == "Login":
            self.logins.append((fields.get("Username", ""), fields.get("Secret", "")))
            if (fields.get("Username"), fields.get("Secret")) != (USERNAME, SECRET):
                refusal = f"Response: Error\nActionID: {action_id}\nMessage: Authentication failed\n\n"
                writer.write(wire(refusal))
                await writer.drain()
                return False
            accepted = f"Response: Success\nActionID: {action_id}\nMessage: Authentication accepted\n\n"
            writer.write(wire(accepted))
            writer.write(wire("Event: FullyBooted\nPrivilege: system,all\nStatus: Fully Booted\n\n"))
            self.clients.append(writer)
        elif fields.get("Action") == "Ping" and not self.silent_after_login:
            writer.write(wire(f"Response: Success\nActionID: {action_id}\nPing: Pong\n\n"))
        await writer.drain()
        return True


def settings(port: int, secret: str = SECRET) -> ProviderSettings:
    return ProviderSettings(
        name="asterisk",
        kind="asterisk_ami",
        host="127.0.0.1",
        port=port,
        username=USERNAME,
        secret=secret,
        agents=AGENTS,
    )


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # allow-sleep: poll interval of a bounded wait for a condition


async def take(queue: asyncio.Queue[CallEvent], n: int) -> list[CallEvent]:
    return [await asyncio.wait_for(queue.get(), 5) for _ in range(n)]


@pytest.fixture
async def ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    with contextlib.suppress(AssertionError, RuntimeError):
        await server.stop()


def listener_for(port: int, queue: asyncio.Queue[CallEvent], **kwargs: object) -> AmiListener:
    async def on_event(event: CallEvent) -> None:
        await queue.put(event)

    return AmiListener(
        settings(port, **kwargs),  # type: ignore[arg-type]
        on_event,
        initial_backoff_s=0.05,
        max_backoff_s=0.2,
        timeout_s=2.0,
    )


async def test_queue_call_and_reconnect_after_pbx_restart(ami: FakeAmi) -> None:
    """A recorded queue call yields ringing x2, answered, ended; after a PBX restart the link comes back."""
    events: asyncio.Queue[CallEvent] = asyncio.Queue()
    listener = listener_for(ami.port, events)
    await listener.start()
    try:
        await wait_for(lambda: listener.state == "connected", "connected")
        assert ami.logins == [(USERNAME, SECRET)]
        await ami.send(QUEUE_CALL)
        got = await take(events, 4)
        assert [(e.event, e.agent, e.queue) for e in got] == EXPECTED
        assert {e.call_id for e in got} == {"1763800000.101"}
        assert (got[0].from_raw, got[0].caller_name, got[0].provider) == ("+14155550132", "ADA L", "asterisk")

        await ami.stop()
        await wait_for(lambda: listener.state.startswith("down: "), "down")
        await ami.start()
        await wait_for(lambda: listener.state == "connected", "reconnected")
        assert len(ami.logins) == 2
        await ami.send(QUEUE_CALL.replace("1763800000.101", "1763800099.7"))
        again = await take(events, 4)
        assert [(e.event, e.call_id) for e in again] == [
            (EventKind.RINGING, "1763800099.7"),
            (EventKind.RINGING, "1763800099.7"),
            (EventKind.ANSWERED, "1763800099.7"),
            (EventKind.ENDED, "1763800099.7"),
        ]
    finally:
        await listener.stop()
    assert listener.state == "down: stopped"


async def test_wrong_secret_is_reported_and_retried(ami: FakeAmi) -> None:
    """A refused login shows as ``down: login refused: …`` and is tried again with back-off."""
    listener = listener_for(ami.port, asyncio.Queue(), secret="wrong")
    await listener.start()
    try:
        await wait_for(lambda: len(ami.logins) >= 2, "a second login attempt")
        assert listener.state in ("down: login refused: Authentication failed", "connecting")
        await wait_for(lambda: listener.state.startswith("down: login refused"), "refused state")
    finally:
        await listener.stop()


async def test_nothing_listening_is_connection_refused() -> None:
    """With no PBX on the port the state says connection refused."""
    server = FakeAmi()
    await server.start()
    port = server.port
    await server.stop()
    listener = listener_for(port, asyncio.Queue())
    await listener.start()
    try:
        await wait_for(lambda: listener.state == "down: connection refused", "connection refused")
    finally:
        await listener.stop()


async def test_not_an_ami_port() -> None:
    """A server that does not greet like Asterisk is reported, not logged in to."""

    async def http_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http_like, "127.0.0.1", 0)
    listener = listener_for(server.sockets[0].getsockname()[1], asyncio.Queue())
    await listener.start()
    try:
        await wait_for(lambda: listener.state.startswith("down: not an AMI port"), "protocol error")
    finally:
        await listener.stop()
        server.close()
        await server.wait_closed()


async def test_failing_handler_keeps_the_link(ami: FakeAmi) -> None:
    """An exception in on_event keeps the link; that event is handed over again and all arrive in order."""
    seen: list[CallEvent] = []

    async def on_event(event: CallEvent) -> None:
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("store unavailable")

    listener = AmiListener(settings(ami.port), on_event, initial_backoff_s=0.05, max_backoff_s=0.2)
    await listener.start()
    try:
        await wait_for(lambda: listener.state == "connected", "connected")
        await ami.send(QUEUE_CALL)
        await wait_for(lambda: len(seen) == 5, "all four events, the first twice")
        assert listener.state == "connected"
    finally:
        await listener.stop()
    assert [(e.event, e.agent) for e in seen[1:]] == [(kind, agent) for kind, agent, _ in EXPECTED]
    assert seen[0] == seen[1]


async def test_silent_pbx_is_dropped_after_unanswered_pings() -> None:
    """A PBX that stops answering (not even Ping) is disconnected and logged in to again."""
    server = FakeAmi(silent_after_login=True)
    await server.start()
    listener = AmiListener(
        settings(server.port),
        lambda event: asyncio.sleep(0),  # allow-sleep: an event handler that does nothing
        initial_backoff_s=0.05,
        max_backoff_s=0.2,
        ping_interval_s=0.1,
    )
    await listener.start()
    try:
        await wait_for(lambda: len(server.logins) >= 2, "a new login after silence")
    finally:
        await listener.stop()
        await server.stop()


def test_parse_ami_stream_of_a_recording() -> None:
    """A captured stream with banner and responses replays to the same four events."""
    recording = (
        "Asterisk Call Manager/5.0.1\r\n"
        "Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
        + wire(QUEUE_CALL).decode()
    )
    events = parse_ami_stream(recording, settings(5038))
    assert [(e.event, e.agent, e.queue) for e in events] == EXPECTED
    unmapped = parse_ami_stream(QUEUE_CALL)
    assert [(e.provider, e.agent) for e in unmapped][:2] == [("asterisk", None), ("asterisk", None)]


DIRECT_DIAL = """Event: DialBegin
Channel: PJSIP/trunk-00000009
CallerIDNum: <unknown>
CallerIDName: <unknown>
Uniqueid: 1763800500.1
Linkedid: 1763800500.1
DestChannel: PJSIP/201-0000000a
DestCallerIDNum: 201
DestUniqueid: 1763800500.2
DestLinkedid: 1763800500.1
DialString: 201

Event: DialBegin
Channel: PJSIP/trunk-00000009
CallerIDNum: <unknown>
Uniqueid: 1763800500.1
Linkedid: 1763800500.1
DestChannel: PJSIP/provider-0000000b
DestUniqueid: 1763800500.3
DestLinkedid: 1763800500.1
DialString: +18005550100@provider

Event: DialEnd
Channel: PJSIP/trunk-00000009
CallerIDNum: <unknown>
Uniqueid: 1763800500.1
Linkedid: 1763800500.1
DestChannel: PJSIP/201-0000000a
DestUniqueid: 1763800500.2
DestLinkedid: 1763800500.1
DialStatus: ANSWER

Event: Hangup
Channel: PJSIP/trunk-00000009
CallerIDNum: <unknown>
Uniqueid: 1763800500.1
Linkedid: 1763800500.1
Cause: 16
"""


def test_direct_dial_to_an_extension() -> None:
    """DialBegin to a mapped device rings that agent; other dials are ignored; DialEnd ANSWER is answered."""
    events = parse_ami_stream(DIRECT_DIAL, settings(5038))
    assert [(e.event, e.agent) for e in events] == [
        (EventKind.RINGING, "agent-3"),
        (EventKind.ANSWERED, "agent-3"),
        (EventKind.ENDED, None),
    ]
    assert events[0].from_raw == ""
    assert events[0].caller_name is None


def test_ring_no_answer_withdraws_and_unanswered_call_is_missed() -> None:
    """AgentRingNoAnswer withdraws the call from that member's agent; hanging up unanswered is missed."""
    text = f"""Event: AgentCalled
{CALLER}
{member("1001", "Alice")}

Event: AgentCalled
{CALLER}
{member("1002", "Bob")}

Event: AgentRingNoAnswer
{CALLER}
{member("1001", "Alice")}
RingTime: 15

Event: Hangup
{CALLER}
Cause: 16
"""
    events = parse_ami_stream(text, settings(5038))
    assert [(e.event, e.agent, e.call_id) for e in events] == [
        (EventKind.RINGING, "agent-1", "1763800000.101"),
        (EventKind.RINGING, "agent-2", "1763800000.101"),
        (EventKind.WITHDRAWN, "agent-1", "1763800000.101"),
        (EventKind.MISSED, None, "1763800000.101"),
    ]


def test_direct_dial_that_stops_ringing_withdraws() -> None:
    """A DialEnd to a mapped device with NOANSWER/BUSY/CANCEL withdraws; to an unmapped one says nothing."""
    ring_end = DIRECT_DIAL.split("Event: DialEnd")[1].split("Event: Hangup")[0]
    for status in ("NOANSWER", "BUSY", "CANCEL"):
        text = "Event: DialEnd" + ring_end.replace("DialStatus: ANSWER", f"DialStatus: {status}")
        events = parse_ami_stream(text, settings(5038))
        assert [(e.event, e.agent) for e in events] == [(EventKind.WITHDRAWN, "agent-3")]
    unmapped = parse_ami_stream(
        "Event: DialEnd" + ring_end.replace("PJSIP/201-", "PJSIP/999-"), settings(5038)
    )
    assert unmapped == []
