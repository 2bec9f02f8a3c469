"""HTTP written by hand onto a socket: a request whose parts arrive as separate TCP segments.

Real senders over real networks deliver a body in pieces; aiohttp's client
always writes it whole, so the tests that need pieces write them here.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


async def raw_exchange(base: str, head: str, parts: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` and each of ``parts`` as its own TCP segment, a pause apart; return the answer.

    The pause is the input under test: a body that arrives in pieces, as it
    does from a real sender over a real network.
    """
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head.encode("latin-1"))
        for index, part in enumerate(parts):
            await writer.drain()
            if index:
                await asyncio.sleep(0.2)  # allow-sleep: the gap between two segments is what is tested
            writer.write(part)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def request_head(method: str, path: str, headers: dict[str, str]) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"
