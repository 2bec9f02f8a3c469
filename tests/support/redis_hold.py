"""A loopback proxy in front of Redis that holds back one instance's write of a call's kept card.

Transfer tests use it to force an interleaving between two instances: while
the write is held, the instance that made it waits for Redis, and the test
acts on the other instance (a transfer, a ring) or reads Redis itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from screenpop.broker.redis_layout import value_key

CALL = "c-kept"
"""The call whose kept card is held unless a test names another ``marker``."""
COMPLETE = b'"complete":true'
"""A needle: the write of a complete card."""


class KeptCardHold:
    """Forwards loopback TCP to Redis, holding the first write of a kept card that holds ``needle``.

    (Or the first write naming ``marker`` and holding ``needle``, when a marker is given.)
    """

    def __init__(self, redis_port: int, needle: bytes, marker: bytes | None = None) -> None:
        self.needle = needle
        self.redis_port = redis_port
        self.port = 0
        self.holding = asyncio.Event()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._marker = marker or value_key(f"card:pbx:{CALL}").encode()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def release(self) -> None:
        self._release.set()

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        self._writers += [writer, up_writer]
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.gather(self._pipe(reader, up_writer, hold=True), self._pipe(up_reader, writer))
        up_writer.close()
        writer.close()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, hold: bool = False
    ) -> None:
        while data := await source.read(65536):
            if hold and not self.holding.is_set() and self._marker in data and self.needle in data:
                self.holding.set()
                await self._release.wait()
            sink.write(data)
            await sink.drain()
        sink.close()


@contextlib.asynccontextmanager
async def held(redis_url: str, needle: bytes, marker: bytes | None = None) -> AsyncIterator[KeptCardHold]:
    proxy = KeptCardHold(urlsplit(redis_url).port or 6379, needle, marker)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
