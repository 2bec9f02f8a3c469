"""What an idle agent socket costs the server in memory, beside a bare-aiohttp floor measured in the same run.

Run by ``make bench-sockets``.  The service (``python -m screenpop serve``)
and the floor (``bench/floor.py floor``: websockets accepted and held, nothing
else) each run in their own process; this process is only the client, so its
sockets never count.  For each round both are started afresh, warmed with a
few sockets, then ``--agents`` sockets are connected (and, on screenpop,
welcomed with a real token) and held; the server's resident memory before and
after, once it has settled, gives KiB per idle socket.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import websockets
import yaml
from common import (
    BenchError,
    Children,
    Ports,
    free_port,
    run_script,
    service_argv,
    service_config,
    wait_healthy,
)
from websockets.typing import Origin

from screenpop.auth import mint_token
from screenpop.config import Settings, settings_from_mapping

TARGET_KIB = 16.0
WARM_SOCKETS = 50
CONNECT_CONCURRENCY = 50
SETTLE_STEP_S = 0.25
SETTLE_LIMIT_S = 10.0
HERE = Path(__file__).resolve().parent
MEMORY_FIELDS = ("VmRSS", "Pss", "Private_Clean", "Private_Dirty")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=2000, help="idle sockets per server (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers measured N times (default 3)")
    parser.add_argument("--log-dir", metavar="DIR", help="keep config, store and child logs here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def raise_fd_limit(needed: int) -> None:
    """This client holds every socket of both servers at once: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise BenchError(f"{needed} sockets need {needed} file descriptors; the limit is {soft} (ulimit -n)")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (/proc/PID/status) and Pss, Private_* (/proc/PID/smaps_rollup), in KiB."""
    text = Path(f"/proc/{pid}/status").read_text() + Path(f"/proc/{pid}/smaps_rollup").read_text()
    found = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+):\s+(\d+) kB", text, re.MULTILINE)}
    return {name: found[name] for name in MEMORY_FIELDS}


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine shares its memory bandwidth."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def settled(pid: int) -> dict[str, int]:
    """The server's memory once RSS stops moving (two readings 0.25 s apart within 64 KiB), or after 10 s."""
    last = memory_kib(pid)
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_STEP_S)
        now = memory_kib(pid)
        if abs(now["VmRSS"] - last["VmRSS"]) <= 64:
            return now
        last = now
    return last


class Agents:
    """How the client opens one socket on a target: a hello with a minted token, or nothing (the floor)."""

    def __init__(self, url: str, settings: Settings | None, origin: str) -> None:
        self.url = url
        self.settings = settings
        self.origin = Origin(origin)  # as a browser's widget sends it (an allowed origin)

    async def open(self, index: int, stack: contextlib.AsyncExitStack) -> Any:
        connecting = websockets.connect(self.url, origin=self.origin, open_timeout=30)
        ws = await stack.enter_async_context(connecting)
        if self.settings is None:
            return ws
        token = mint_token(self.settings, f"idle-{index:03d}")
        await ws.send(json.dumps({"type": "hello", "token": token}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if welcome.get("type") != "welcome":
            raise BenchError(f"idle-{index:03d} was not welcomed: {welcome}")
        return ws


@contextlib.asynccontextmanager
async def holding(agents: Agents, indexes: range) -> AsyncIterator[None]:
    """The sockets for ``indexes`` open (welcomed on screenpop) until the block ends, each read by a task."""
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with contextlib.AsyncExitStack() as stack:

        async def one(index: int) -> Any:
            async with limit:
                return await agents.open(index, stack)

        sockets = await asyncio.gather(*(one(i) for i in indexes))
        readers = [asyncio.create_task(_drain(ws)) for ws in sockets]
        try:
            yield
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


async def _drain(ws: Any) -> None:
    """An idle agent still reads (pings are answered by the library while this runs)."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async for _ in ws:
            pass


async def measure(pid: int, agents: Agents, count: int) -> dict[str, Any]:
    """Warm the server up with a few sockets, then its memory before and after ``count`` idle sockets."""
    async with holding(agents, range(WARM_SOCKETS)):
        await settled(pid)
    before = await settled(pid)
    started = time.perf_counter()
    async with holding(agents, range(count)):
        connect_s = time.perf_counter() - started
        after = await settled(pid)
    per_socket = {k: (after[k] - before[k]) / count for k in MEMORY_FIELDS}
    return {"before_kib": before, "after_kib": after, "kib_per_socket": per_socket, "connect_s": connect_s}


async def one_round(args: argparse.Namespace, children: Children, workdir: Path, n: int) -> dict[str, Any]:
    """Fresh service and floor processes, measured one after the other."""
    ports = Ports(free_port(), free_port(), free_port())
    options = argparse.Namespace(idle_agents=args.agents, connectors="scripted", delay_ms=20)
    config = service_config(options, ports, workdir)
    config["store"]["url"] = f"sqlite+aiosqlite:///{workdir / f'store-{n}.db'}"
    settings = settings_from_mapping(config, source="<bench>", environ={})
    config_path = workdir / f"sockets-{n}.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    service = children.start(f"service-{n}", service_argv(config_path, None, None), cwd=HERE.parent)
    floor_argv = [sys.executable, str(HERE / "floor.py"), "floor", "--port", str(ports.floor)]
    floor = children.start(f"floor-{n}", floor_argv)
    await asyncio.gather(
        wait_healthy(children, f"service-{n}", f"http://127.0.0.1:{ports.service}/healthz"),
        wait_healthy(children, f"floor-{n}", f"http://127.0.0.1:{ports.floor}/healthz"),
    )
    origin = config["server"]["allowed_origins"][0]
    try:
        floor_figures = await measure(
            floor.pid, Agents(f"ws://127.0.0.1:{ports.floor}/ws", None, origin), args.agents
        )
        service_url = f"ws://127.0.0.1:{ports.service}/ws"
        service_figures = await measure(service.pid, Agents(service_url, settings, origin), args.agents)
    finally:
        for proc in (children.procs.pop(f"service-{n}"), children.procs.pop(f"floor-{n}")):
            proc.terminate()
            proc.wait(12)
    return {"floor": floor_figures, "service": service_figures}


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, Any]:
    raise_fd_limit(args.agents + WARM_SOCKETS + 100)
    rounds = [await one_round(args, children, workdir, n) for n in range(max(1, args.rounds))]
    median = {
        who: {k: statistics.median(r[who]["kib_per_socket"][k] for r in rounds) for k in MEMORY_FIELDS}
        for who in ("floor", "service")
    }
    value = median["service"]["VmRSS"]
    return {
        "setup": {
            "agents": args.agents,
            "rounds": len(rounds),
            "load": load_average(),
        },
        "rounds": rounds,
        "median_kib_per_socket": median,
        "target": {"value": value, "limit": TARGET_KIB, "pass": value <= TARGET_KIB},
    }


def print_table(result: dict[str, Any]) -> None:
    setup, median = result["setup"], result["median_kib_per_socket"]
    print(
        f"screenpop sockets bench: {setup['agents']} idle sockets per server, median of "
        f"{setup['rounds']} rounds (fresh processes each); load average at the end {setup['load']}"
    )
    print()
    print(f"{'KiB per idle socket':<32}" + "".join(f"{name:>15}" for name in MEMORY_FIELDS))
    for who, label in (("floor", "floor (bare aiohttp)"), ("service", "screenpop (welcomed)")):
        print(f"{label:<32}" + "".join(f"{median[who][k]:>15.2f}" for k in MEMORY_FIELDS))
    rss = [f"{r['service']['kib_per_socket']['VmRSS']:.2f}" for r in result["rounds"]]
    floors = [f"{r['floor']['kib_per_socket']['VmRSS']:.2f}" for r in result["rounds"]]
    print(f"VmRSS per round: screenpop {', '.join(rss)}; floor {', '.join(floors)}")
    target = result["target"]
    ratio = target["value"] / median["floor"]["VmRSS"]
    print()
    print(f"{'target':<52}{'value':>8}{'limit':>8}  verdict")
    verdict = "PASS" if target["pass"] else "MISS"
    label = "screenpop VmRSS per idle socket (KiB)"
    print(f"{label:<52}{target['value']:>8.2f}{target['limit']:>8.1f}  {verdict}")
    print(f"(screenpop / floor: {ratio:.2f}x; kernel socket buffers are not in these figures)")


def failed(result: dict[str, Any]) -> bool:
    return not result["rounds"]


def main(argv: Sequence[str] | None = None) -> int:
    return run_script(parse_args(argv), run, print_table, failed)


if __name__ == "__main__":
    sys.exit(main())
