"""A loopback proxy in front of Redis that holds back one instance's write of a call's kept card.

Transfer tests use it to force an interleaving between two instances: while
the write is held, the instance that made it waits for Redis, and the test
acts on the other instance (a transfer, a ring) or reads Redis itself.

The proxy reads whole commands (RESP arrays) before it looks for the write:
a command that reaches it in two reads (a loaded machine, a big card) is
still the one held.  And the instances' Redis clients get ``SLACK_S`` to
answer instead of the broker's 0.5 s: the proxy runs on the test's own
event loop, beside both apps, and a pause of that loop (the collector of a
test process that has run a thousand tests, a starved CPU) is not Redis
hanging.  A broker that took it for one went "down" and kept the card
locally, and the write the test waits for never came.

``CommandProxy`` is the proxy itself, forwarding whole commands; other
tests make it drop a kind of command instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

from screenpop.broker.redis_layout import value_key

CALL = "c-kept"
"""The call whose kept card is held unless a test names another ``marker``."""
COMPLETE = b'"complete":true'
"""A needle: the write of a complete card."""
SLACK_S = 5
"""How long the instances' Redis clients wait for an answer in these tests (the broker's own: 0.5 s)."""


def with_slack(redis_url: str) -> str:
    """``redis_url`` with ``socket_timeout=SLACK_S`` (a URL's query options win over the broker's)."""
    parts = urlsplit(redis_url)
    query = "&".join(filter(None, [parts.query, f"socket_timeout={SLACK_S}"]))
    return urlunsplit(parts._replace(query=query))


def command_end(buffer: bytes | bytearray) -> int | None:
    """Where the RESP command (an array of bulk strings, as redis-py writes) at the buffer's start
    ends; None while it has not all arrived."""
    line = buffer.find(b"\r\n")
    if line < 0:
        return None
    position = line + 2
    for _ in range(int(buffer[1:line])):
        line = buffer.find(b"\r\n", position)
        if line < 0:
            return None
        position = line + 2 + int(buffer[position + 1 : line]) + 2
        if position > len(buffer):
            return None
    return position


class CommandProxy:
    """Forwards loopback TCP to Redis a whole command at a time; ``pass_on`` decides what each becomes."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()

    async def pass_on(self, command: bytes, sink: asyncio.StreamWriter) -> None:
        """Forward ``command`` to Redis (a subclass may hold or drop it)."""
        sink.write(command)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        self._writers += [writer, up_writer]
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.gather(self._commands(reader, up_writer), self._pipe(up_reader, writer))
        up_writer.close()
        writer.close()

    async def _commands(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Hand each command to ``pass_on`` once all of it has arrived."""
        buffer = bytearray()
        while data := await source.read(65536):
            buffer += data
            while (end := command_end(buffer)) is not None:
                command = bytes(buffer[:end])
                del buffer[:end]
                await self.pass_on(command, sink)
            await sink.drain()
        sink.close()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
        sink.close()


class KeptCardHold(CommandProxy):
    """Forwards loopback TCP to Redis, holding the first write of a kept card that holds ``needle``.

    (Or the first write naming ``marker`` and holding ``needle``, when a marker is given.)
    """

    def __init__(self, redis_port: int, needle: bytes, marker: bytes | None = None) -> None:
        super().__init__(redis_port)
        self.needle = needle
        self.holding = asyncio.Event()
        self._release = asyncio.Event()
        self._marker = marker or value_key(f"card:pbx:{CALL}").encode()

    @property
    def url(self) -> str:
        """The broker URL of the instance whose writes pass this proxy."""
        return with_slack(f"redis://127.0.0.1:{self.port}/0")

    def release(self) -> None:
        self._release.set()

    async def close(self) -> None:
        self.release()
        await super().close()

    async def pass_on(self, command: bytes, sink: asyncio.StreamWriter) -> None:
        """Forward each command; hold the first that has marker and needle until ``release``."""
        if not self.holding.is_set() and self._marker in command and self.needle in command:
            self.holding.set()
            await self._release.wait()
        sink.write(command)


@contextlib.asynccontextmanager
async def held(redis_url: str, needle: bytes, marker: bytes | None = None) -> AsyncIterator[KeptCardHold]:
    proxy = KeptCardHold(urlsplit(redis_url).port or 6379, needle, marker)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
