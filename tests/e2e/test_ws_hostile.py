"""Agent sockets that read slowly or not at all, against a real `screenpop serve`.

A tab that reads slowly keeps its socket and gets every frame once it reads;
one that stops reading is cut off.  Either is the client's doing: never an
"unexpected error" with a traceback that pages whoever is on call.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.processes import (
    RawAgentSocket,
    Service,
    _client_frame,
    agent_on,
    ring,
    service_config,
    services,
)
from tests.support.service import big_card_connectors
from tests.support.waiting import wait_for

PING = _client_frame(0x1, b'{"type": "ping"}')
FILL_CALLS = 20
"""Calls of ~330 KB each to a tab that does not read: past any loopback buffer, not 256 frames."""


class Pinger:
    """Pings by the thousand on a socket that never reads: its pongs pile up in the server's writer.

    aiohttp waits for the transport to drain only once a socket's writes pass
    its 64 KiB limit, so one pong in every ~4000 waits; a burst of more is
    sure to include one.  A burst the kernel takes only in part is finished
    on the next call, so the frames stay whole.
    """

    COUNT = 5000
    BURST = PING * COUNT

    def __init__(self, frozen: RawAgentSocket) -> None:
        self.frozen = frozen
        self.unsent = b""
        self.sent = 0  # pings sent or being sent

    def burst(self) -> None:
        """Send (the rest of) a burst, as much as the kernel takes now."""
        if not self.unsent:
            self.unsent, self.sent = self.BURST, self.sent + self.COUNT
        try:
            self.unsent = self.unsent[self.frozen.sock.send(self.unsent) :]
        except BlockingIOError:
            pass  # the server stopped reading: its read loop waits to write a pong, as this test wants
        except ConnectionError:
            self.unsent = b""  # cut off already: the loop sees it in the connected count

    async def finish(self, within: float) -> None:
        """The rest of the last burst, sent as the server reads it."""
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_sendall(self.frozen.sock, self.unsent), within)
        self.unsent = b""


async def _connected(service: Service) -> float | None:
    return await service.metric("screenpop_agents_connected")


async def test_a_slow_tab_that_pings_gets_every_pong_once_it_reads(tmp_path: Path) -> None:
    """Pings answered while the socket's cards wait to drain all get their pong: the tab is not closed."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=big_card_connectors(4, 32))
    config["card"] = {"deadline_ms": 1000, "history": 0}
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        async with agent_on(a, "agent-1") as listener:
            slow = await RawAgentSocket.open(a, "agent-2")  # reads nothing until the pings are in
            try:
                pinger = Pinger(slow)
                for n in range(FILL_CALLS):  # past the kernel's buffers: a card of agent-2's waits to drain
                    pinger.burst()  # answered while it does: one pong in thousands waits for the drain too
                    assert (await ring(a, f"fill-{n}", queue="support"))[0] == 202
                    await listener.card_until_complete(f"fill-{n}")
                await pinger.finish(within=10)
                pongs = await _pongs_read(slow, pinger.sent, within=30)
                assert pongs == pinger.sent
                assert await _connected(a) == 2.0
                assert "unexpected error" not in a.log.read_text(errors="replace"), a.log_tail(40)
            finally:
                slow.close()


async def _pongs_read(agent: RawAgentSocket, wanted: int, within: float) -> int:
    """Read frames until ``wanted`` pongs came (or the server ended the socket): how many came."""
    pongs = 0
    async with asyncio.timeout(within):
        while pongs < wanted:
            try:
                opcode, payload = await agent.next_frame()
            except (EOFError, ConnectionError):
                return pongs
            if opcode == 0x8:
                raise AssertionError(f"closed: {payload!r}")
            pongs += opcode == 0x1 and payload == b'{"type":"pong"}'
    return pongs


async def test_a_tab_that_pings_but_never_reads_is_cut_off_without_an_error_logged(tmp_path: Path) -> None:
    """A socket cut off while its pong waits for a full buffer ends with the warning, not a 1011 traceback."""
    config = service_config(f"sqlite+aiosqlite:///{tmp_path}/store.db", connectors=big_card_connectors(4, 32))
    config["card"] = {"deadline_ms": 1000, "history": 0}
    async with services(tmp_path, a=config) as started:
        a = started["a"]
        frozen = await RawAgentSocket.open(a, "agent-2")  # says hello, then never reads again
        try:
            sent, pinger = 0, Pinger(frozen)
            while sent < 300 and await _connected(a) == 1.0:
                for n in range(5):
                    pinger.burst()  # one of these finds the buffer full: a pong's write then waits
                    assert (await ring(a, f"flood-{sent + n}", agent="agent-2"))[0] == 202
                sent += 5
            await wait_for(lambda: _none_connected(a), 10, f"the frozen socket cut after {sent} calls")
            async with agent_on(a, "agent-1") as agent:  # the service goes on; its log is written by now
                assert (await ring(a, "after-cut", agent="agent-1"))[0] == 202
                await agent.card_until_complete("after-cut")
            log = a.log.read_text(errors="replace")
            assert "agent agent-2 cut off" in log, log
            assert "unexpected error" not in log and "Traceback" not in log, a.log_tail(40)
        finally:
            frozen.close()


async def _none_connected(service: Service) -> bool:
    return await _connected(service) == 0.0
