"""A throwaway redis-server for the two-instance run, started as one of the bench's children.

It is started through ``Children`` rather than ``tests/servers.py`` so that
the one place that stops the service processes also stops Redis (after
them: ``Children`` stops in reverse start order), on success, error or
Ctrl-C alike, and so its log lands next to theirs in ``--log-dir``.
Persistence is off: nothing the bench writes is worth keeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

from common import HEALTH_TIMEOUT_S, BenchError, Children, free_port

NAME = "redis"


def start_redis(children: Children, workdir: Path) -> str:
    """Start redis-server on a free loopback port in ``workdir``; returns its ``redis://`` URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is not installed (scripts/install-test-deps.sh installs it)")
    port = free_port()
    data = workdir / "redis"
    data.mkdir(exist_ok=True)
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    children.start(NAME, argv)
    return f"redis://127.0.0.1:{port}/0"


async def inline(url: str, command: str, timeout_s: float = 2.0) -> bytes:
    """One inline command on a fresh connection (no client library); the reply's payload."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
    try:
        writer.write(command.encode() + b"\r\n")
        head = await asyncio.wait_for(reader.readline(), timeout_s)
        if not head.startswith(b"$"):
            return head.rstrip()
        return (await asyncio.wait_for(reader.readexactly(int(head[1:]) + 2), timeout_s))[:-2]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def wait_redis(children: Children, url: str, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Poll with PING until Redis answers +PONG; fail with its log when it exits or lags."""
    proc = children.procs[NAME]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"redis-server exited with {proc.returncode}:\n{children.log_tail(NAME)}")
        with contextlib.suppress(OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            if (await inline(url, "PING", 1)).startswith(b"+PONG"):
                return
        await asyncio.sleep(0.05)
    raise BenchError(f"redis-server did not answer within {timeout_s:.0f} s:\n{children.log_tail(NAME)}")


async def command_stats(url: str) -> dict[str, dict[str, float]]:
    """``INFO commandstats`` as {command: {calls, usec_per_call}}: where Redis spent its time."""
    text = (await inline(url, "INFO commandstats")).decode()
    stats: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, fields = line.removeprefix("cmdstat_").partition(":")
        values = dict(pair.split("=", 1) for pair in fields.split(","))
        stats[name] = {"calls": float(values["calls"]), "usec_per_call": float(values["usec_per_call"])}
    return stats
