"""Asterisk AMI: a real asyncio AMI server on 127.0.0.1 (``support/ami.py``) speaks to the real listener.

The fake server is written independently of screenpop's protocol reader: it
sends Asterisk's banner, checks ``Action: Login``, answers Pings, and plays
recorded event packets (field sets as documented for Asterisk 18+).
"""

from __future__ import annotations

import asyncio

from screenpop.model import CallEvent, EventKind
from screenpop.providers import parse_ami_stream
from screenpop.providers.asterisk_ami import AmiListener
from tests.support.ami import CALLER, QUEUE_CALL, SECRET, USERNAME, FakeAmi, member, settings, wire
from tests.support.waiting import wait_for

EXPECTED = [
    (EventKind.RINGING, "agent-1", "support"),
    (EventKind.RINGING, "agent-2", "support"),
    (EventKind.ANSWERED, "agent-2", "support"),
    (EventKind.ENDED, None, None),
]


async def take(queue: asyncio.Queue[CallEvent], n: int) -> list[CallEvent]:
    return [await asyncio.wait_for(queue.get(), 5) for _ in range(n)]


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
        await wait_for(lambda: listener.state == "connected", 5.0, "connected", every=0.01)
        assert ami.logins == [(USERNAME, SECRET)]
        await ami.send(QUEUE_CALL)
        got = await take(events, 4)
        assert [(e.event, e.agent, e.queue) for e in got] == EXPECTED
        assert {e.call_id for e in got} == {"1763800000.101"}
        assert (got[0].from_raw, got[0].caller_name, got[0].provider) == ("+14155550132", "ADA L", "asterisk")

        await ami.stop()
        await wait_for(lambda: listener.state.startswith("down: "), 5.0, "down", every=0.01)
        await ami.start()
        await wait_for(lambda: listener.state == "connected", 5.0, "reconnected", every=0.01)
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
        await wait_for(lambda: len(ami.logins) >= 2, 5.0, "a second login attempt", every=0.01)
        assert listener.state in ("down: login refused: Authentication failed", "connecting")
        await wait_for(
            lambda: listener.state.startswith("down: login refused"), 5.0, "refused state", every=0.01
        )
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
        await wait_for(
            lambda: listener.state == "down: connection refused", 5.0, "connection refused", every=0.01
        )
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
        await wait_for(
            lambda: listener.state.startswith("down: not an AMI port"), 5.0, "protocol error", every=0.01
        )
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
        await wait_for(lambda: listener.state == "connected", 5.0, "connected", every=0.01)
        await ami.send(QUEUE_CALL)
        await wait_for(lambda: len(seen) == 5, 5.0, "all four events, the first twice", every=0.01)
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
        await wait_for(lambda: len(server.logins) >= 2, 5.0, "a new login after silence", every=0.01)
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
