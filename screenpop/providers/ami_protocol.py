"""The Asterisk Manager Interface wire format, and nothing else.

AMI is plain TCP: the server greets with ``Asterisk Call Manager/<version>``,
then both sides exchange packets of ``Key: Value`` lines (CRLF) ended by an
empty line.  This is small enough to read ourselves: panoramisk, the asyncio
AMI client, has been unmaintained since 2021 and still uses the removed
``loop=`` style of asyncio, so screenpop does not depend on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

Packet = dict[str, str]

BANNER_PREFIX = b"Asterisk Call Manager"
MAX_PACKET_LINES = 500


class AmiProtocolError(Exception):
    """The peer does not speak AMI (no banner, an endless packet, a line too long)."""


REPEATED_SUFFIX = "ChanVariable"
"""Headers an event repeats, one per variable (``ChanVariable: NAME=value``, ``DestChanVariable``)."""


def add_line(packet: Packet, line: str) -> None:
    """``Key: Value`` into ``packet``; a line without a colon (banner, command output) is skipped.

    A repeated ``…ChanVariable`` header keeps every value, one per line.
    """
    key, sep, value = line.partition(":")
    if sep and key.strip():
        key = key.strip()
        value = value[1:] if value.startswith(" ") else value
        if key.endswith(REPEATED_SUFFIX) and key in packet:
            value = f"{packet[key]}\n{value}"
        packet[key] = value


def split_packets(text: str) -> list[Packet]:
    """Every packet of a captured AMI stream, for replaying a recording."""
    packets: list[Packet] = []
    current: Packet = {}
    for line in text.splitlines():
        if line.strip():
            add_line(current, line.rstrip("\r"))
        elif current:
            packets.append(current)
            current = {}
    if current:
        packets.append(current)
    return packets


async def read_packet(reader: asyncio.StreamReader) -> Packet | None:
    """The next packet from the stream, or None when the peer closed it."""
    packet: Packet = {}
    for _ in range(MAX_PACKET_LINES):
        try:
            raw = await reader.readline()
        except ValueError as exc:  # a line past the StreamReader limit
            raise AmiProtocolError("an AMI line is longer than 64 KiB") from exc
        if not raw:
            return None
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line:
            add_line(packet, line)
        elif packet:
            return packet
    raise AmiProtocolError(f"an AMI packet has more than {MAX_PACKET_LINES} lines")


def encode_action(fields: Mapping[str, str]) -> bytes:
    """An action packet; a CR or LF in a value would inject headers, so it is refused."""
    lines: list[str] = []
    for key, value in fields.items():
        if any(c in key + value for c in "\r\n"):
            raise ValueError(f"AMI field {key!r} contains a line break")
        lines.append(f"{key}: {value}\r\n")
    return ("".join(lines) + "\r\n").encode("utf-8")


def is_banner(line: bytes) -> bool:
    return line.startswith(BANNER_PREFIX)
