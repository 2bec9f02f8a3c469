"""The insight bench's targets and its printed table (the figures themselves come from insight.py)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

BUILD_LIMIT_S = 15.0
LOOKUP_P99_LIMIT_MS = 2.0
REBUILD_RATIO_LIMIT = 1.2
TARGET_SIZE = 1_000_000
OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, ">": operator.gt}
METHOD_LABELS = {"ours": "ours", "personal": "personal top-frequency", "popularity": "global popularity"}


def size_label(size: str | int) -> str:
    exponent = len(str(int(size))) - 1
    return f"10^{exponent}" if int(size) == 10**exponent else f"{int(size):,}"


def check(label: str, value: float | None, op: str, limit: float | None, unit: str = "") -> dict[str, Any]:
    """One target: ``value op limit``; a missing value (nothing to measure) is a MISS."""
    passed = value is not None and limit is not None and OPS[op](value, limit)
    return {"label": label, "value": value, "op": op, "limit": limit, "unit": unit, "pass": passed}


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every target that the parts which ran can judge."""
    targets: dict[str, dict[str, Any]] = {}
    measured = {s: g for s, g in result["generated"].items() if "error" not in g}
    if measured:
        size = max(measured, key=int)
        g, at = measured[size], f"{size_label(size)} lines"
        targets["refresh_s"] = check(
            f"connector refresh (read + build), {at}", g["refresh_s"], "<=", BUILD_LIMIT_S, "s"
        )
        targets["build_s"] = check(f"model build alone, {at}", g["build_s"], "<=", BUILD_LIMIT_S, "s")
        p99 = g["lookup_ms"]["p99"]
        targets["lookup_p99_ms"] = check(
            f"lookup p99 in the connector, {at}", p99, "<=", LOOKUP_P99_LIMIT_MS, "ms"
        )
    quality = result.get("real", {}).get("quality")
    if quality:
        ours, personal, popular = quality["ours"], quality["personal"], quality["popularity"]
        targets["real_hit3"] = check(
            "real: likely_next hit@3 >= personal top-frequency", ours["hit3"], ">=", personal["hit3"]
        )
        targets["real_recall10"] = check(
            "real: likely_next recall@10 >= personal top-frequency",
            ours["recall10"],
            ">=",
            personal["recall10"],
        )
        targets["real_goes_with"] = check(
            "real: goes_with new-product hit@3 > popularity",
            ours["goes_with_new_hit3"], ">", popular["goes_with_new_hit3"],
        )  # fmt: skip
    ratio = result.get("service", {}).get("first_frame_p99_ratio")
    if ratio is not None:
        targets["rebuild_ratio"] = check(
            "other cards' first frame p99, rebuilding / quiet", ratio, "<=", REBUILD_RATIO_LIMIT, "x"
        )
    return targets


# --- printing ------------------------------------------------------------------------------------


def _histories(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = [(f"generated {size_label(s)}", g) for s, g in result["generated"].items()]
    if "real" in result:
        rows.append(("real (Instacart)", result["real"]))
    return rows


def print_table(result: dict[str, Any]) -> None:
    setup = result["setup"]
    real = result.get("real", {})
    source = real.get("package", "skipped" if "real" in result else "not asked for")
    print(
        f"screenpop insight bench: generated histories {', '.join(size_label(s) for s in setup['sizes'])} "
        f"lines (seed {setup['seed']}); real: Instacart 2017 sample from {source}; "
        f"min_customers {setup['min_customers']}" + ("; QUICK (10^5 only)" if setup["quick"] else "")
    )
    print()
    _print_speed(result)
    print()
    _print_quality(result)
    if "service" in result:
        print()
        _print_service(result["service"])
    print()
    _print_targets(result)


def _print_speed(result: dict[str, Any]) -> None:
    print(
        f"{'history':<18}{'lines':>10}{'customers':>10}{'orders':>9}{'products':>9}"
        f"{'refresh s':>11}{'RSS MB held/peak':>18}{'build s':>9}{'RSS MB held/peak':>18}"
        f"{'lookup p50':>11}{'p99 ms':>8}"
    )
    for name, part in _histories(result):
        if "skipped" in part or "error" in part:
            why = f"skipped: {part['skipped']}" if "skipped" in part else f"FAILED to run: {part['error']}"
            print(f"{name:<18}{why}")
            continue
        d, lk = part["data"], part["lookup_ms"]
        conn = f"{part['refresh_rss_held_mb']:.0f} / {part['refresh_rss_peak_mb']:.0f}"
        model = f"{part['build_rss_held_mb']:.0f} / {part['build_rss_peak_mb']:.0f}"
        print(
            f"{name:<18}{d['lines']:>10,}{d['customers']:>10,}{d['orders']:>9,}{d['products']:>9,}"
            f"{part['refresh_s']:>11.2f}{conn:>18}{part['build_s']:>9.2f}{model:>18}"
            f"{lk['p50']:>11.3f}{lk['p99']:>8.3f}"
        )
    gcs = [f"{name} {p['full_gc_during_lookups']}" for name, p in _histories(result) if "lookup_ms" in p]
    print(f"full (generation 2) garbage collections during the timed lookups: {', '.join(gcs) or '-'}")
    print(
        "refresh = the connector's first refresh (history_query read + build, in its worker process); "
        "build = PurchaseModel from lines in memory; RSS held after the build (gc'd), peak during it"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_quality(result: dict[str, Any]) -> None:
    print(
        f"{'leave-last-basket-out quality':<44}{'customers':>10}{'hit@3':>8}{'recall@10':>11}"
        f"{'goes_with new hit@3':>21}"
    )
    for name, part in _histories(result):
        quality = part.get("quality")
        if not quality:
            continue
        for i, method in enumerate(("ours", "personal", "popularity")):
            q = quality[method]
            first = f"{name}" if i == 0 else ""
            count = f"{quality['customers_evaluated']:,}" if i == 0 else ""
            new = f" of {quality['customers_with_new_products']:,}" if i == 0 else ""
            print(
                f"{first:<18}{METHOD_LABELS[method]:<26}{count:>10}{_fmt(q['hit3']):>8}"
                f"{_fmt(q['recall10']):>11}{_fmt(q['goes_with_new_hit3']):>11}{new}"
            )
    print(
        "recall@10 = |top 10 ∩ basket| / |basket| (Li et al.); goes_with over the customers whose "
        "held-out basket has a product new to them"
    )


def _print_service(service: dict[str, Any]) -> None:
    if "error" in service:
        print(f"rebuild impact: FAILED to run: {service['error']}")
        return
    print(
        f"rebuild impact: {service['calls_per_service']} calls per service at {service['rate']:g}/s in "
        f"{service['blocks']} ABBA blocks; the rebuilding service has refresh_s {service['refresh_s']:g}"
    )
    print(
        f"{'service':<14}{'first frame p50':>16}{'p90':>11}{'p99':>11}{'complete p50':>14}{'p99':>11}  (ms)"
    )
    for name in ("quiet", "rebuilding"):
        first, complete = service[name]["first_frame_ms"], service[name]["complete_ms"]
        print(
            f"{name:<14}{first['p50']:>16.2f}{first['p90']:>11.2f}{first['p99']:>11.2f}"
            f"{complete['p50']:>14.2f}{complete['p99']:>11.2f}"
        )
    for name, sections in service["section_statuses"].items():
        shown = "; ".join(
            f"{section} " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            for section, counts in sorted(sections.items())
        )
        print(f"sections of the {name} service's measured cards: {shown or 'none'}")
    print(
        f"the rebuilding service's CPU during its blocks: {service['rebuilding_cpu_share']:.0%} of one core; "
        f"first models after {service['first_model_s']['quiet']:.1f} s (quiet), "
        f"{service['first_model_s']['rebuilding']:.1f} s (rebuilding)"
    )


def _print_targets(result: dict[str, Any]) -> None:
    print(f"{'target':<58}{'value':>10}{'limit':>12}  verdict")
    for target in result["targets"].values():
        value, limit = target["value"], target["limit"]
        shown = "-" if value is None else f"{value:.3f}{target['unit']}"
        bound = "-" if limit is None else f"{target['op']} {limit:.3f}{target['unit']}"
        print(f"{target['label']:<58}{shown:>10}{bound:>12}  {'PASS' if target['pass'] else 'MISS'}")
    sizes = result["setup"]["sizes"]
    if max(sizes) < TARGET_SIZE:
        print(
            f"(the build and lookup targets are set for {size_label(TARGET_SIZE)} lines; shown for reference)"
        )
