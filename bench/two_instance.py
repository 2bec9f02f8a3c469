"""``two_instance.py``: what the cross-instance path through Redis adds to a card's latency.

Two ``screenpop serve`` processes, A and B, share one throwaway Redis
(``broker.url: redis://…``); each has its own SQLite store file (the store
is written behind the pop, off the measured path, and two processes on one
SQLite file would only add lock waits).  The measuring agent is connected to
B.  Two paths are measured in the same run, in alternating blocks (ABBA) so
that noise from the rest of the machine falls on both alike:

- **single**: webhook to B, agent on B: B appends to Redis and delivers to its
  own socket (one Lua round trip);
- **cross**: webhook to A, agent on B: A appends to Redis, and B learns of the
  card from its blocking XREAD on the shared fan-out stream.

Both paths use the same broker, connectors and agent socket.  The target
is on their difference: under 2 ms added at p50, webhook -> first card
frame.  That difference also holds a second effect: on the cross path A does
the webhook's work and B only relays, so on a small machine the cross path
can even come out faster.  The hop alone is therefore measured too, per
call: the measuring agent has a second socket, on A, and every card reaches
both sockets (the posting instance's directly, the other through the fan-out
stream); the receiving socket's arrival minus the posting one's is what
crossing instances costs, free of the difference in who did the work
(negative when the relayed frame wins the race).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from common import (
    CALLERS,
    HERE,
    MEASURING_AGENT,
    REPO,
    BenchError,
    Call,
    CardFrames,
    Children,
    Figures,
    FrameParser,
    Ports,
    Target,
    Tracker,
    free_port,
    idle_agents,
    interleaved,
    parse_args,
    percentiles,
    placed_apart,
    run_script,
    service_argv,
    service_config,
    wait_healthy,
    watching,
)
from redis_server import command_stats, inline, start_redis, wait_redis

from screenpop.auth import mint_token
from screenpop.config import settings_from_mapping

ADDED_P50_LIMIT_MS = 2.0
INSTANCES = ("a", "b")
METRICS = (("202", "ack_ms"), ("first card frame", "first_frame_ms"), ("complete card", "complete_ms"))


def instance_config(
    args: argparse.Namespace, port: int, backend_port: int, store: Path, redis_url: str
) -> dict[str, Any]:
    """The single-instance bench config, on ``port``, with the shared Redis broker and its own store."""
    config = service_config(args, Ports(port, 0, backend_port), store.parent)
    config["store"] = {"url": f"sqlite+aiosqlite:///{store}"}
    config["broker"] = {"url": redis_url}
    return config


def write_configs(
    args: argparse.Namespace, workdir: Path, redis_url: str, backend_port: int
) -> dict[str, dict[str, Any]]:
    """One config per instance, sharing every secret (agent tokens and webhooks valid on both)."""
    ports = {name: free_port() for name in INSTANCES}
    configs = {
        name: instance_config(args, ports[name], backend_port, workdir / f"store-{name}.db", redis_url)
        for name in INSTANCES
    }
    shared = configs["a"]
    configs["b"]["agents"]["token_secret"] = shared["agents"]["token_secret"]
    configs["b"]["providers"] = shared["providers"]
    for name, config in configs.items():
        (workdir / f"bench-{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return configs


async def start(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, dict[str, Any]]:
    """Redis first (the services connect at start-up), then the backend if any, then A and B."""
    measured = placed_apart(args.cpus)  # first: Redis and the backend share the bench's CPU
    redis_url = start_redis(children, workdir)
    await wait_redis(children, redis_url)
    backend_port = free_port()
    if args.connectors == "http":
        argv = [sys.executable, str(HERE / "floor.py"), "backend", "--port", str(backend_port)]
        children.start("backend", [*argv, "--delay-ms", str(args.delay_ms)])
        await wait_healthy(children, "backend", f"http://127.0.0.1:{backend_port}/healthz")
    configs = write_configs(args, workdir, redis_url, backend_port)
    for name in INSTANCES:
        argv = service_argv(workdir / f"bench-{name}.yaml", None, args.service_runner)
        children.start(f"service-{name}", [*measured, *argv], cwd=REPO)
    await asyncio.gather(
        *(wait_healthy(children, f"service-{n}", f"{base(c)}/readyz") for n, c in configs.items())
    )
    return configs


def base(config: dict[str, Any]) -> str:
    return str(config["server"]["public_url"])


class FirstSeen(Tracker):
    """When each call's first card frame reached the second socket, which nobody posts for."""

    def __init__(self, parse: FrameParser) -> None:
        super().__init__(parse)
        self.first: dict[str, float] = {}

    def on_frame(self, text: str, at: float) -> None:
        parsed = self.parse(text)
        if parsed is not None:
            self.first.setdefault(parsed[0], at)


def hop(calls: Sequence[Call], other: FirstSeen, sign: int) -> dict[str, float]:
    """Per call, the first frame on B minus the first frame on A (``sign`` 1), or A minus B (-1)."""
    gaps = [
        sign * (call.first - other.first[call.call_id])
        for call in calls
        if not math.isnan(call.first) and call.call_id in other.first
    ]
    return percentiles(gaps)


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, Any]:
    if args.profile:
        raise BenchError("--profile is for the single-instance run; profile A or B with --service-runner")
    configs = await start(args, children, workdir)
    settings = settings_from_mapping(configs["b"], source="<bench>", environ={})
    secret = configs["a"]["providers"][0]["secret"]
    ws = {name: base(c).replace("http://", "ws://") + "/ws" for name, c in configs.items()}
    hooks = {name: f"{base(c)}/webhooks/pbx" for name, c in configs.items()}
    pids = [children.procs[name].pid for name in ("service-a", "service-b", "redis")]
    hello = json.dumps({"type": "hello", "token": mint_token(settings, MEASURING_AGENT)})
    cards = CardFrames()
    tracker, on_a = Tracker(cards), FirstSeen(CardFrames())
    half = args.idle_agents // 2
    async with (
        idle_agents(ws["a"], settings, half) as idle_a,
        idle_agents(ws["b"], settings, args.idle_agents - half, first=half) as idle_b,
        watching(ws["a"], hello, on_a),
        watching(ws["b"], hello, tracker) as session,
    ):
        single = Target(session, [hooks["b"]], tracker, pids)
        cross = Target(session, [hooks["a"]], tracker, pids)
        redis_url = configs["a"]["broker"]["url"]
        await inline(redis_url, "CONFIG RESETSTAT")
        await interleaved([single, cross], args, secret)
        redis_stats = await command_stats(redis_url)
        stray_idle_frames = sum(idle_a) + sum(idle_b)
    result = report(args, single.figures(), cross.figures(), stray_idle_frames)
    result["hop_ms"] = {"a_to_b": hop(cross.measured, on_a, 1), "b_to_a": hop(single.measured, on_a, -1)}
    result["section_statuses"] = dict(cards.statuses)
    webhooks = 2 * (args.warmup + args.calls)
    result["redis_commands"] = {
        name: {"per_webhook": stat["calls"] / webhooks, "usec_per_call": stat["usec_per_call"]}
        for name, stat in sorted(redis_stats.items(), key=lambda item: -item[1]["calls"])
    }
    return result


def report(args: argparse.Namespace, single: Figures, cross: Figures, idle_frames: int) -> dict[str, Any]:
    added = {m: cross_m["p50"] - single_m["p50"] for m, single_m, cross_m in (
        ("first_frame_p50_ms", single.first, cross.first),
        ("complete_p50_ms", single.complete, cross.complete),
    )}  # fmt: skip
    return {
        "setup": {
            "mode": "two-instance",
            "calls_per_path": args.calls,
            "warmup": args.warmup,
            "blocks": args.blocks,
            "rate": args.rate,
            "concurrency": args.concurrency if args.rate <= 0 else None,
            "connectors": args.connectors,
            "connector_delay_ms": args.delay_ms,
            "idle_agents": args.idle_agents,
            "numbers": "unique per call" if args.unique_numbers else list(CALLERS),
            "broker": "one redis-server on loopback",
            "store": "one SQLite file per instance",
        },
        "single": single.as_json(),
        "cross": cross.as_json(),
        "idle_agent_frames": idle_frames,
        "added_ms": added,
        "ratio": {
            "first_frame_p50": cross.first["p50"] / single.first["p50"],
            "complete_p50": cross.complete["p50"] / single.complete["p50"],
        },
        "targets": {
            "added_first_frame_p50_ms": {
                "value": added["first_frame_p50_ms"],
                "limit": ADDED_P50_LIMIT_MS,
                "pass": added["first_frame_p50_ms"] < ADDED_P50_LIMIT_MS,
            },
        },
    }


def print_table(result: dict[str, Any]) -> None:
    setup, single, cross = result["setup"], result["single"], result["cross"]
    rate = f"{setup['rate']:g}/s" if setup["rate"] > 0 else f"max rate ({setup['concurrency']} in flight)"
    print(
        f"screenpop two-instance bench: {setup['calls_per_path']} calls per path at {rate} in "
        f"{setup['blocks']} alternating blocks after {setup['warmup']} warm-up; "
        f"3 {setup['connectors']} connectors at {setup['connector_delay_ms']} ms; "
        f"{setup['idle_agents']} idle agents split over A and B; Redis broker; agent on B"
    )
    print()
    print(f"{'metric':<48}{'p50':>9}{'p90':>9}{'p99':>9}  (ms)")
    for label, figures in (("single (webhook to B)", single), ("cross (webhook to A)", cross)):
        for name, key in METRICS:
            print_row(f"{label}: webhook -> {name}", figures[key])
    print()
    added, ratio = result["added_ms"], result["ratio"]
    print(
        f"added by the cross-instance path at p50: first card frame {added['first_frame_p50_ms']:+.2f} ms "
        f"({ratio['first_frame_p50']:.2f}x), complete card {added['complete_p50_ms']:+.2f} ms "
        f"({ratio['complete_p50']:.2f}x)"
    )
    hops = result["hop_ms"]
    print(
        "the fan-out hop alone (same call, the agent's socket on the receiving instance minus its "
        "socket on the posting one):"
    )
    for label, key in (("A -> B (cross calls)", "a_to_b"), ("B -> A (single calls)", "b_to_a")):
        print_row(f"  {label}", hops[key])
    print(
        f"calls/s completed: single {single['calls_per_s']:.1f}, cross {cross['calls_per_s']:.1f}; "
        f"card frames per call {single['frames_per_call']:.2f} / {cross['frames_per_call']:.2f}"
    )
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(result.get("section_statuses", {}).items()))
    print(f"sections of the complete cards: {statuses or 'none'}")
    commands = ", ".join(
        f"{name} {c['per_webhook']:.1f} x {c['usec_per_call']:.0f} us"
        for name, c in list(result["redis_commands"].items())[:6]
    )
    print(f"Redis commands per webhook (server-side time each): {commands}")
    print(
        f"CPU per call (A + B + Redis): single {single['server_cpu_ms_per_call']:.2f} ms, "
        f"cross {cross['server_cpu_ms_per_call']:.2f} ms"
    )
    for name, figures in (("single", single), ("cross", cross)):
        if figures["refused"] or figures["lost"]:
            print(f"{name}: {figures['refused']} calls refused, {figures['lost']} without a complete card")
    if result["idle_agent_frames"]:
        print(f"idle agents received {result['idle_agent_frames']} frames (expected none)")
    target = result["targets"]["added_first_frame_p50_ms"]
    print()
    print(f"{'target (cross - single, same run)':<52}{'added':>8}{'limit':>8}  verdict")
    verdict = "PASS" if target["pass"] else "MISS"
    label = "webhook -> first card frame p50"
    print(f"{label:<52}{target['value']:>6.2f}ms{'< ' + format(target['limit'], 'g'):>6}ms  {verdict}")


def print_row(label: str, figures: dict[str, float]) -> None:
    print(f"{label:<48}" + "".join(f"{figures[p]:>9.2f}" for p in ("p50", "p90", "p99")))


def failed(result: dict[str, Any]) -> bool:
    """Lost or refused calls mean the run did not measure what it claims."""
    figures = (result["single"], result["cross"])
    return any(f["refused"] or f["lost"] for f in figures) or any(
        math.isnan(f[m]["p50"]) for f in figures for m in ("ack_ms", "first_frame_ms")
    )


TWO_INSTANCE_BLOCKS = 8  # ABBA blocks, so that noise falls on both paths alike


def main(argv: Sequence[str] | None = None) -> int:
    return run_script(parse_args(__doc__, argv, TWO_INSTANCE_BLOCKS), run, print_table, failed)


if __name__ == "__main__":
    sys.exit(main())
