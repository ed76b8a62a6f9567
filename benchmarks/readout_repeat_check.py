"""Benchmark: the cost of FCR's repeat check (catalogue definition) in the experiment readout.

Uses the synthetic store of benchmarks/readout.py (built once, cached). Alternates, in one
process, the readout query of the benchmark's metric set (contacts per customer + FCR, CSAT,
AHT, NPS) with FCR as the catalogue defines it (flag, else resolved and no repeat within the
fcr_window_days setting: a RANGE window over the units' contacts) against the same query
with the earlier FCR without the repeat check (flag, else resolved). The ratio of the
medians is the figure; absolute times depend on the machine's load.

Usage: .venv/bin/python benchmarks/readout_repeat_check.py [--units N] [--runs K]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.readout import CACHE, EXPERIMENT, build  # noqa: E402
from experiments.metric_defs import METRICS  # noqa: E402
from experiments.readout_sql import Window, query_stats  # noqa: E402
from metrics.store import open_store  # noqa: E402

OLD_FCR = replace(
    METRICS["fcr"],
    numerator="CASE WHEN COALESCE(first_contact_resolved, resolved, FALSE) THEN 1.0 ELSE 0.0 END",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--by-day", action="store_true", help="with the per-day grouping")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"readout_{args.units}.duckdb"
    if not path.exists():
        t = time.perf_counter()
        build(path, args.units)
        print(f"built {path.name} in {time.perf_counter() - t:.1f} s")
    others = [METRICS[m] for m in ("contacts_per_customer", "csat", "aht", "nps")]
    window = Window.from_dates(*_dates(path))
    with open_store(path, read_only=True) as store:
        sets = {
            "without repeat check": [OLD_FCR, *others],
            "catalogue FCR": [METRICS["fcr"], *others],
        }
        times: dict[str, list[float]] = {k: [] for k in sets}
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            for name, metrics in sets.items():
                t = time.perf_counter()
                query_stats(store, EXPERIMENT, metrics, window, by_day=args.by_day)
                times[name].append(time.perf_counter() - t)
        base = statistics.median(times["without repeat check"])
        new = statistics.median(times["catalogue FCR"])
        print(
            f"{args.units:,} units, median of {args.runs} alternating runs, by_day={args.by_day}: "
            f"without repeat check {base:.3f} s, catalogue FCR {new:.3f} s, ratio {new / base:.2f}x"
        )
        print(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    return 0


def _dates(path: Path):
    from experiments.registry import get_experiment

    with open_store(path, read_only=True) as store:
        e = get_experiment(store, EXPERIMENT)
    return e.start_date, e.end_date


if __name__ == "__main__":
    sys.exit(main())
