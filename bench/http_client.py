"""CPU per card of three ``http`` connectors, against a bare aiohttp client doing the same three GETs.

The latency bench's "server CPU per call" counts everything a call costs;
this one isolates the lookup side.  Both subjects run in this process, in
alternating blocks, against one ``floor.py backend`` child (the same JSON API
``latency.py --connectors http`` uses), so the difference between them is
what screenpop's connector path adds to aiohttp's own cost:

- floor: one ``aiohttp.ClientSession`` with its defaults; a card is three
  GETs at once (``asyncio.gather``) to URLs formatted by hand, each body
  read and ``json.loads``'ed.
- connectors: ``LookupEngine.lookup`` over three ``http`` connectors (four
  ``select`` paths each) through the session screenpop's service shares,
  with the breakers, the connector stats and the Prometheus observer on:
  what a card's lookup costs the service.

CPU is this process's (all threads, ``time.process_time``) per card; see
bench/README.md, "HTTP connectors".

    .venv/bin/python bench/http_client.py [--calls 2000] [--blocks 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from common import ADA, GRACE, LONDON, NOBODY, ROWS, BenchError, Children, free_port, wait_healthy

from screenpop.connector_api import ConnectorContext, client_session
from screenpop.connectors.http import HttpConnector
from screenpop.lookup import LookupEngine
from screenpop.metrics import Metrics
from screenpop.model import CallerNumber
from screenpop.phone import normalize, parse_caller
from screenpop.testing import make_settings

HERE = Path(__file__).resolve().parent
NUMBERS = (ADA, GRACE, LONDON, NOBODY)
Card = Callable[[str, CallerNumber], Awaitable[None]]


def connectors(base: str) -> list[dict[str, Any]]:
    """The latency bench's three connectors (bench/common.py ``connector``), with its URLs and paths."""
    return [
        {
            "name": name,
            "kind": "http",
            "timeout_ms": 800,
            "url": f"{base}/{name}?phone={{e164}}",
            "select": {field: f"$.{field}" for field in next(iter(rows.values()))},
        }
        for name, rows in ROWS.items()
    ]


async def floor_card(session: aiohttp.ClientSession, base: str, e164: str) -> None:
    phone = quote(e164, safe="")

    async def get(name: str) -> None:
        async with session.get(f"{base}/{name}?phone={phone}") as reply:
            body = await reply.read()
            if reply.status not in (200, 404):
                raise BenchError(f"backend answered {reply.status}")
            json.loads(body)

    await asyncio.gather(*(get(name) for name in ROWS))


async def block(card: Card, calls: int, concurrency: int) -> tuple[float, float]:
    """``calls`` cards, ``concurrency`` at a time; (CPU ms, wall ms) per card."""
    numbers = [(e164, parse_caller(e164, "US")) for e164 in NUMBERS]
    per_worker = [calls // concurrency + (1 if i < calls % concurrency else 0) for i in range(concurrency)]

    async def worker(count: int, offset: int) -> None:
        for i in range(count):
            e164, number = numbers[(offset + i) % len(numbers)]
            await card(e164, number)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(count, i) for i, count in enumerate(per_worker)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / calls, wall * 1000 / calls


async def run(args: argparse.Namespace, children: Children) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    floor_py = [sys.executable, str(HERE / "floor.py"), "backend", "--port", str(port)]
    children.start("backend", [*floor_py, "--delay-ms", str(args.delay_ms)])
    await wait_healthy(children, "backend", f"{base}/healthz")
    settings = make_settings(connectors(base))
    async with aiohttp.ClientSession() as bare, client_session() as shared:
        context = ConnectorContext("US", lambda raw: normalize(raw, "US"), http=shared)
        kinds = {c.name: HttpConnector(c.name, c.options, context) for c in settings.connectors}
        engine = LookupEngine(settings, kinds, observer=Metrics())
        subjects: dict[str, Card] = {
            "floor": lambda e164, _: floor_card(bare, base, e164),
            "connectors": lambda _, number: _lookup(engine, number),
        }
        for card in subjects.values():  # warm-up: connections opened, code paths run once
            await block(card, args.concurrency * 4, args.concurrency)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in subjects}
        for b in range(args.blocks):
            order = list(subjects) if b % 2 == 0 else list(reversed(subjects))
            for name in order:
                figures[name].append(await block(subjects[name], args.calls, args.concurrency))
        if engine.stats.summary("crm")["errors"] or engine.stats.summary("crm")["timeouts"]:
            raise BenchError(f"the crm connector failed: {engine.stats.summary('crm')}")
    return report(args, figures)


async def _lookup(engine: LookupEngine, number: CallerNumber) -> None:
    sections = await engine.lookup(number)
    if any(s.status.value not in ("ok", "not_found") for s in sections.values()):
        raise BenchError(f"a section failed: {sections}")


def report(args: argparse.Namespace, figures: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "setup": {k: getattr(args, k) for k in ("calls", "blocks", "concurrency", "delay_ms")},
    }
    for name, runs in figures.items():
        out[name] = {
            "cpu_ms_per_card": statistics.median(cpu for cpu, _ in runs),
            "cpu_ms_per_card_blocks": [round(cpu, 4) for cpu, _ in runs],
            "wall_ms_per_card": statistics.median(wall for _, wall in runs),
        }
    floor, path = out["floor"]["cpu_ms_per_card"], out["connectors"]["cpu_ms_per_card"]
    out["ratio"] = path / floor
    out["added_ms_per_card"] = path - floor
    return out


def print_table(result: dict[str, Any]) -> None:
    setup = result["setup"]
    print(
        f"http connectors bench: {setup['blocks']} blocks of {setup['calls']} cards per subject, "
        f"{setup['concurrency']} in flight, backend delay {setup['delay_ms']} ms; 3 GETs per card"
    )
    print()
    print(f"{'subject':<48}{'CPU ms/card':>12}{'wall ms/card':>14}")
    labels = {
        "floor": "floor: bare aiohttp ClientSession, 3 GETs",
        "connectors": "connectors: LookupEngine over 3 http connectors",
    }
    for key, label in labels.items():
        fig = result[key]
        print(f"{label:<48}{fig['cpu_ms_per_card']:>12.3f}{fig['wall_ms_per_card']:>14.3f}")
    print()
    print(
        f"connector path / floor: {result['ratio']:.2f}x "
        f"(+{result['added_ms_per_card'] * 1000:.0f} µs of CPU per card); medians over the blocks"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="cards per block and subject (default 2000)")
    parser.add_argument("--blocks", type=int, default=6, help="blocks per subject, taking turns (default 6)")
    parser.add_argument("--concurrency", type=int, default=32, help="cards in flight (default 32)")
    parser.add_argument("--delay-ms", type=int, default=20, help="the backend's answer delay (default 20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir, Children(Path(workdir)) as children:
        try:
            result = asyncio.run(run(args, children))
        except BenchError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
