"""A fake Asterisk Manager Interface server on 127.0.0.1, written independently of screenpop's AMI reader.

It sends Asterisk's banner, checks ``Action: Login``, answers Pings, and
plays recorded event packets (field sets as documented for Asterisk 18+).
``QUEUE_CALL`` is one recorded queue call; ``settings`` is the provider block
that points screenpop's listener at a ``FakeAmi``; ``wait_link_state`` waits for the
service's /readyz to report that link's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from screenpop.config import ProviderSettings
from tests.support.service import api
from tests.support.waiting import wait_for

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


async def wait_link_state(base: str, link: Callable[[str], bool], within: float = 8.0) -> dict[str, Any]:
    """Poll /readyz until the AMI link's state satisfies ``link``."""

    async def ready() -> dict[str, Any] | None:
        status, report = await api(base, "GET", "/readyz")
        if status == 200 and link(report.get("phone_links", {}).get("asterisk", "")):
            return dict(report)
        return None

    return dict(await wait_for(ready, within, "the AMI link's state on /readyz"))
