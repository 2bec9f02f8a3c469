"""Real `screenpop serve` processes for cluster and fault tests, and the small servers they talk to.

Each service runs as `python -m screenpop serve --config FILE` in its own
process group on a free loopback port, with its log in the test's temporary
directory (shown when it fails to start).  ``services`` always kills what it
started, whatever the test did; ``HitServer`` is a local HTTP API for `http`
connectors that counts requests and can be told to hang or to answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import websockets
import yaml
from aiohttp import web

from screenpop.config import Settings, settings_from_mapping
from tests.support.ports import free_port
from tests.support.service import Agent, base_config, event_body
from tests.support.signers import sign
from tests.support.tokens import token_for
from tests.support.waiting import wait_for, wait_until

ROOT = Path(__file__).resolve().parents[2]
START_WITHIN_S = 30.0
STOP_WITHIN_S = 10.0


@dataclass
class Service:
    """One `screenpop serve` process: where it listens, its log, and how to end it."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    settings: Settings

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    async def kill(self) -> None:
        """SIGKILL the whole process group: a crash, with no goodbye to anyone."""
        if self.alive:  # once reaped, its id may belong to someone else
            self._signal_group(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, STOP_WITHIN_S)

    async def stop(self) -> None:
        """SIGTERM (a graceful stop), escalating to SIGKILL if it lingers."""
        if not self.alive:
            return
        self._signal_group(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            await self.kill()

    async def get(self, path: str) -> tuple[int, Any]:
        """One GET; JSON answers parsed, anything else as text."""
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(self.base + path) as reply,
        ):
            text = await reply.text()
            try:
                return reply.status, json.loads(text)
            except ValueError:
                return reply.status, text

    async def metric(self, name: str, labels: str = "") -> float | None:
        """One Prometheus sample's value: ``metric("screenpop_circuit_open", 'connector="crm"')``."""
        _, text = await self.get("/metrics")
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in str(text).splitlines():
            sample, _, value = line.rpartition(" ")
            if sample == wanted:
                return float(value)
        return None

    def token(self, agent_id: str) -> str:
        return token_for(self.settings, agent_id)

    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def _launch(name: str, config: dict[str, Any], workdir: Path) -> Service:
    """Write the config with a free port and start the process in a session of its own."""
    port = free_port()
    config = {**config, "server": {**config.get("server", {}), "host": "127.0.0.1", "port": port}}
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    log = workdir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            # setpriv execs (same pid); the death signal ends the service if pytest itself is killed
            [
                "setpriv",
                "--pdeathsig=KILL",
                "--",
                sys.executable,
                "-m",
                "screenpop",
                "serve",
                "--config",
                str(path),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    settings = settings_from_mapping(config, source=str(path), environ={})
    return Service(name, port, process, log, settings)


async def wait_healthy(service: Service, within: float = START_WITHIN_S) -> None:
    """Poll /healthz until it answers 200; fail at once if the process died (with its log's tail)."""
    timeout = aiohttp.ClientTimeout(total=1)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def healthy() -> bool:
            if not service.alive:
                raise AssertionError(f"{service.name} exited with {service.process.returncode}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(service.base + "/healthz") as reply:
                    return reply.status == 200
            return False

        try:
            await wait_for(healthy, within, f"{service.name} answering /healthz")
        except AssertionError as failed:
            raise AssertionError(f"{failed}:\n{service.log_tail()}") from None


@contextlib.asynccontextmanager
async def services(workdir: Path, **configs: dict[str, Any]) -> AsyncIterator[dict[str, Service]]:
    """Start one process per named config (in parallel) and always end them, group and all.

    They end with SIGKILL: how they stop is not under test here (`e2e/test_cli_service`
    covers SIGTERM), and a graceful stop costs a second or two per process.
    """
    started: dict[str, Service] = {}
    try:
        for name, config in configs.items():
            started[name] = _launch(name, config, workdir)
        await asyncio.gather(*(wait_healthy(s) for s in started.values()))
        yield started
    finally:
        await asyncio.gather(*(s.kill() for s in started.values()), return_exceptions=True)


def wait_ready(port: int, process: subprocess.Popen[str], within: float = 30) -> None:
    """Wait until ``process`` accepts connections on ``port``; fail at once if it exited."""

    def accepting() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"service exited: {process.stderr.read() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_until(accepting, within, "the service accepting connections")


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM (a graceful stop), escalating to SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# webhooks and agents ----------------------------------------------------------


async def ring(
    service: Service, call_id: str, session: aiohttp.ClientSession | None = None, **fields: Any
) -> tuple[int, Any]:
    """POST a signed generic `ringing` (or other ``event``) webhook to ``service``."""
    event = fields.pop("event", "ringing")
    body = event_body(call_id, event, **fields)
    headers = {"Content-Type": "application/json", "Screenpop-Signature": sign(body)}
    owned = session is None
    client = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        async with client.post(f"{service.base}/webhooks/pbx", data=body, headers=headers) as reply:
            text = await reply.text()
            return reply.status, json.loads(text) if text else None
    finally:
        if owned:
            await client.close()


@contextlib.asynccontextmanager
async def agent_on(service: Service, agent_id: str, resume_from: str | None = None) -> AsyncIterator[Agent]:
    """An agent's websocket on ``service``, past its welcome (kept in ``agent.welcome``)."""
    async with websockets.connect(service.ws_url(), ping_interval=None, open_timeout=5) as ws:
        agent = Agent(ws)
        hello: dict[str, Any] = {"type": "hello", "token": service.token(agent_id)}
        if resume_from:
            hello["resume_from"] = resume_from
        await ws.send(json.dumps(hello))
        agent.welcome = await agent.next(5)
        assert agent.welcome["type"] == "welcome", agent.welcome
        yield agent


def versions(frames: list[dict[str, Any]]) -> list[int]:
    return [int(f["version"]) for f in frames]


# a local HTTP API for `http` connectors ------------------------------------------


@dataclass
class HitServer:
    """A JSON API on loopback: counts requests per path, answers after ``delay_s`` or hangs.

    ``GET /<anything>?phone=N`` answers ``{"items": [{"full_name": ..., "phone": N}]}``;
    ``hits[(path, N)]`` counts those requests.
    While ``hanging`` is set, requests wait until it is cleared (or the server closes),
    as a wedged upstream system would.
    """

    delay_s: float = 0.0
    hits: Counter[tuple[str, str]] = field(default_factory=Counter)
    _answering: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    def __post_init__(self) -> None:
        self._answering.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hang(self) -> None:
        self._answering.clear()

    def answer(self) -> None:
        self._answering.set()

    async def _handle(self, request: web.Request) -> web.Response:
        phone = request.query.get("phone", "")
        self.hits[(request.path, phone)] += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answering.wait(), 30)
        await asyncio.sleep(self.delay_s)  # allow-sleep: a deliberately slow API (delay_s is the input)
        return web.json_response({"items": [{"full_name": f"Caller {phone[-4:]}", "phone": phone}]})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def close(self) -> None:
        self._answering.set()  # release the hung requests so the server can stop
        if self._runner is not None:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def hit_server(delay_s: float = 0.0) -> AsyncIterator[HitServer]:
    server = HitServer(delay_s=delay_s)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def http_connector(name: str, url: str, **options: Any) -> dict[str, Any]:
    """An `http` connector reading ``full_name`` from the first item HitServer answers."""
    return {
        "name": name,
        "kind": "http",
        "method": "GET",
        "url": url + "?phone={e164}",
        "select": {"name": "$.items[0].full_name"},
        **options,
    }


def service_config(
    store_url: str,
    broker_url: str = "memory://",
    connectors: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """``base_config`` with four `support` agents (agent-1…agent-4), the given broker and connectors."""
    config = base_config(store_url, **overrides)
    config["broker"] = {"url": broker_url, **config.get("broker", {})}
    config["agents"]["directory"] = [
        {"id": f"agent-{n}", "role": "tier1", "queues": ["support"]} for n in range(1, 5)
    ]
    if connectors is not None:
        config["connectors"] = connectors
        names = {c["name"] for c in connectors}
        config["roles"] = {
            role: {"hide": [h for h in rules.get("hide", []) if h in names]}
            for role, rules in config["roles"].items()
        }
    return config


class RawAgentSocket:
    """An agent websocket spoken by hand over a plain socket, so that it can stop reading for real.

    A client library keeps reading into its own buffers; this one reads only
    when told, and its kernel receive buffer is made tiny, so once it stops the
    server's writes back up after a few kilobytes, as with a browser tab that hangs.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    async def open(cls, service: Service, agent_id: str, receive_buffer: int = 4096) -> RawAgentSocket:
        """Connect, upgrade, say hello and read the welcome; then it is up to the test to read or not."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        agent = cls(sock)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(5):
            await loop.sock_connect(sock, ("127.0.0.1", service.port))
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            await loop.sock_sendall(sock, request.encode())
            while b"\r\n\r\n" not in agent.buffer:
                agent.buffer += await agent._recv()
            head, _, agent.buffer = agent.buffer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head
            hello = {"type": "hello", "token": service.token(agent_id)}
            await loop.sock_sendall(sock, _client_frame(0x1, json.dumps(hello).encode()))
            opcode, payload = await agent.next_frame()
            assert opcode == 0x1 and json.loads(payload)["type"] == "welcome", payload
        return agent

    async def _recv(self) -> bytes:
        chunk = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        return chunk

    async def next_frame(self) -> tuple[int, bytes]:
        """One whole server frame (opcode, payload); servers never mask."""
        while True:
            parsed = _parse_frame(self.buffer)
            if parsed is not None:
                opcode, payload, self.buffer = parsed
                return opcode, payload
            self.buffer += await self._recv()

    async def read_until_closed(self, within: float) -> list[tuple[int, bytes]]:
        """Read everything the server still sends until it ends the connection (bounded in time)."""
        frames: list[tuple[int, bytes]] = []
        async with asyncio.timeout(within):
            while True:
                try:
                    frames.append(await self.next_frame())
                except (EOFError, ConnectionResetError):
                    return frames

    def close(self) -> None:
        self.sock.close()


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame (RFC 6455 section 5.2)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", size)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _parse_frame(data: bytes) -> tuple[int, bytes, bytes] | None:
    """(opcode, payload, rest) of the first whole unmasked frame in ``data``, or None if incomplete."""
    if len(data) < 2:
        return None
    opcode, size, offset = data[0] & 0x0F, data[1] & 0x7F, 2
    if size == 126:
        if len(data) < 4:
            return None
        size, offset = struct.unpack("!H", data[2:4])[0], 4
    elif size == 127:
        if len(data) < 10:
            return None
        size, offset = struct.unpack("!Q", data[2:10])[0], 10
    if len(data) < offset + size:
        return None
    return opcode, data[offset : offset + size], data[offset + size :]


async def screenpop_command(*args: str, within: float = 60.0) -> tuple[int, str, str]:
    """One `python -m screenpop ARGS…` run to its end (exit code, stdout, stderr), without blocking the loop.

    Tests that serve something in this process (a CRM, the service itself)
    while the command talks to it need the loop free, so not ``subprocess.run``.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "screenpop",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, out.decode(), err.decode()
