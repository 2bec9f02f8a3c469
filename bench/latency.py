"""Webhook -> card latency of screenpop, printed as ratios to a bare-aiohttp floor measured in the same run.

Run by ``make bench``.  The service and the floor each run in their own
process, so the load client never shares their event loop.  See
bench/README.md for what is measured and how to read the table.
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
    ACK_TARGET,
    BURST_CPU_TARGET_MS,
    CALLERS,
    FIRST_FRAME_TARGET,
    MEASURING_AGENT,
    CardFrames,
    Children,
    Figures,
    Ports,
    call_by_call,
    forwarded_body,
    free_port,
    idle_agents,
    interleaved,
    parse_args,
    run_script,
    service_config,
    start_children,
    target,
    turn_gap_s,
    wait_healthy,
)

from screenpop.auth import mint_token
from screenpop.config import settings_from_mapping


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, Any]:
    ports = Ports(free_port(), free_port(), free_port())
    config = service_config(args, ports, workdir)
    settings = settings_from_mapping(config, source="<bench>", environ={})
    config_path = workdir / "bench.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    started = start_children(args, children, ports, config_path)
    await asyncio.gather(
        *(wait_healthy(children, name, f"http://127.0.0.1:{port}/healthz") for name, port in started.items())
    )
    secret = config["providers"][0]["secret"]
    floor_base, service_base = f"127.0.0.1:{ports.floor}", f"127.0.0.1:{ports.service}"
    ws_url = f"ws://{service_base}/ws"
    hello = json.dumps({"type": "hello", "token": mint_token(settings, MEASURING_AGENT)})
    cards = CardFrames()
    async with (
        idle_agents(ws_url, settings, args.idle_agents) as idle_frames,
        target(
            [f"http://{floor_base}/webhooks/pbx"], f"ws://{floor_base}/ws", None, forwarded_body,
            [children.procs["floor"].pid],
        ) as floor,
        target(
            [f"http://{service_base}/webhooks/pbx"], ws_url, hello, cards,
            [children.procs["service"].pid],
        ) as service,
    ):  # fmt: skip
        await interleaved([floor, service], args, secret)
        stray_idle_frames = sum(idle_frames)
    result = report(args, floor.figures(), service.figures(), stray_idle_frames)
    result["service"]["section_statuses"] = dict(cards.statuses)
    return result


def report(args: argparse.Namespace, floor: Figures, service: Figures, idle_frames: int) -> dict[str, Any]:
    ack_ratio = service.ack["p99"] / floor.ack["p99"]
    first_ratio = service.first["p50"] / floor.first["p50"]
    targets = {
        "ack_p99_ratio": {"value": ack_ratio, "limit": ACK_TARGET, "pass": ack_ratio <= ACK_TARGET},
        "first_frame_p50_ratio": {
            "value": first_ratio,
            "limit": FIRST_FRAME_TARGET,
            "pass": first_ratio <= FIRST_FRAME_TARGET,
        },
    }
    if args.rate <= 0:  # a burst: what the service spends per call, whatever the latency
        cpu = service.cpu_ms_per_call
        targets["burst_cpu_ms_per_call"] = {
            "value": cpu,
            "limit": BURST_CPU_TARGET_MS,
            "pass": cpu <= BURST_CPU_TARGET_MS,
        }
    return {
        "setup": {
            "calls": args.calls,
            "warmup": args.warmup,
            "blocks": args.blocks,
            "turn_gap_ms": turn_gap_s(args.turn_gap_ms, args.rate, 2) * 1000 if args.rate > 0 else None,
            "rate": args.rate,
            "concurrency": args.concurrency if args.rate <= 0 else None,
            "connectors": args.connectors,
            "connector_delay_ms": args.delay_ms,
            "idle_agents": args.idle_agents,
            "numbers": "unique per call" if args.unique_numbers else list(CALLERS),
            "profiled": bool(args.profile),
        },
        "floor": floor.as_json(),
        "service": service.as_json(),
        "idle_agent_frames": idle_frames,
        "targets": targets,
    }


def print_table(result: dict[str, Any]) -> None:
    setup, floor, service = result["setup"], result["floor"], result["service"]
    rate = f"{setup['rate']:g}/s" if setup["rate"] > 0 else f"max rate ({setup['concurrency']} in flight)"
    numbers = setup["numbers"] if isinstance(setup["numbers"], str) else f"cycling over {len(CALLERS)}"
    turns = (
        f"floor and screenpop taking turns call by call, {setup['turn_gap_ms']:g} ms apart "
        "(the floor before and after screenpop in turn)"
        if call_by_call(setup["blocks"], setup["rate"])
        else f"floor and screenpop taking turns in {max(1, setup['blocks'])} block(s)"
    )
    print(
        f"screenpop latency bench: {setup['calls']} calls at {rate} after {setup['warmup']} warm-up, "
        f"{turns}; "
        f"3 {setup['connectors']} connectors at {setup['connector_delay_ms']} ms; "
        f"{setup['idle_agents']} idle agents; caller numbers {numbers}"
        + ("; PROFILED (slower)" if setup["profiled"] else "")
    )
    print()
    print(f"{'metric':<40}{'p50':>9}{'p90':>9}{'p99':>9}  (ms)")
    rows = [
        ("floor: POST -> 202 (acknowledgement)", floor["ack_ms"]),
        ("floor: POST -> frame (delivery)", floor["first_frame_ms"]),
        ("screenpop: webhook -> 202", service["ack_ms"]),
        ("screenpop: webhook -> first card frame", service["first_frame_ms"]),
        ("screenpop: webhook -> complete card", service["complete_ms"]),
    ]
    for name, figures in rows:
        print(f"{name:<40}" + "".join(f"{figures[p]:>9.2f}" for p in ("p50", "p90", "p99")))
    print()
    print(
        f"calls/s completed: screenpop {service['calls_per_s']:.1f}, floor {floor['calls_per_s']:.1f}; "
        f"card frames per call {service['frames_per_call']:.2f}"
    )
    statuses = ", ".join(f"{n} {k}" for k, n in sorted(service.get("section_statuses", {}).items()))
    print(f"sections of the complete cards: {statuses or 'none'}")
    print(
        f"server CPU per call (all threads): screenpop {service['server_cpu_ms_per_call']:.2f} ms, "
        f"floor {floor['server_cpu_ms_per_call']:.2f} ms"
    )
    print(
        f"machine CPU stolen by the hypervisor while the calls ran: screenpop's "
        f"{100 * service['machine_steal_share']:.1f}%, the floor's {100 * floor['machine_steal_share']:.1f}% "
        "(high steal slows every figure)"
    )
    for name, figures in (("floor", floor), ("screenpop", service)):
        if figures["refused"] or figures["lost"]:
            print(f"{name}: {figures['refused']} calls refused, {figures['lost']} without a complete card")
    if result["idle_agent_frames"]:
        print(f"idle agents received {result['idle_agent_frames']} frames (expected none)")
    print_targets(result)


def print_targets(result: dict[str, Any]) -> None:
    print()
    print(f"{'target (ratio to the floor, same run)':<52}{'value':>8}{'limit':>8}  verdict")
    labels = {
        "ack_p99_ratio": ("webhook -> 202 p99 / floor ack p99", "x"),
        "first_frame_p50_ratio": ("first card frame p50 / floor delivery p50", "x"),
        "burst_cpu_ms_per_call": ("server CPU per call in the burst (all threads)", " ms"),
    }
    burst = result["setup"]["rate"] <= 0
    for key, figure in result["targets"].items():
        label, unit = labels[key]
        verdict = "PASS" if figure["pass"] else "MISS"
        if burst and key != "burst_cpu_ms_per_call":
            verdict += " (reference only)"
        print(f"{label:<52}{figure['value']:>8.2f}{figure['limit']:>6.1f}{unit:<2}  {verdict}")
    if burst:
        print("(the ratio targets are set for the fixed-rate run; in a burst the CPU per call is the target)")


def failed(result: dict[str, Any]) -> bool:
    """Lost or refused calls mean the run did not measure what it claims."""
    figures = (result["floor"], result["service"])
    return any(f["refused"] or f["lost"] for f in figures) or any(
        math.isnan(f[m]["p50"]) for f in figures for m in ("ack_ms", "first_frame_ms")
    )


def main(argv: Sequence[str] | None = None) -> int:
    # Call by call at a fixed rate (bench/README.md, "Taking turns"); a burst runs in one block.
    return run_script(parse_args(__doc__, argv, default_blocks=0), run, print_table, failed)


if __name__ == "__main__":
    sys.exit(main())
