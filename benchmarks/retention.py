"""Retention fit times at the default sample (20k customers): sBG, Kaplan-Meier, key drivers.

Usage: python benchmarks/retention.py [--db PATH] [--repeat 3]

Without --db a seeded sample store at the default scale (`cx sample`: 20,000 customers,
12 months, seed 42) is generated in a temporary folder. Each measurement is the median of --repeat
runs, printed in seconds and as a ratio to a baseline timed in the same process: the simple
CLV per segment (metrics.clv.simple_clv, one aggregate query the page already runs), so the
ratios stay comparable on a busy or a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.clv import simple_clv  # noqa: E402
from metrics.retention.contractual import contractual_clv  # noqa: E402
from metrics.retention.drivers import key_drivers  # noqa: E402
from metrics.retention.durations import lifetime_counts  # noqa: E402
from metrics.retention.sbg import fit_sbg, fit_survivors  # noqa: E402
from metrics.retention.survival import survival_by  # noqa: E402
from metrics.store import Store, open_store  # noqa: E402

HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def run(store: Store, repeat: int) -> None:
    counts = lifetime_counts(store, "segment")
    customers = store.cursor().execute("SELECT COUNT(*) FROM customers").fetchall()[0][0]
    contacts = store.cursor().execute("SELECT COUNT(*) FROM contacts").fetchall()[0][0]
    print(f"store: {customers:,} customers, {contacts:,} contacts")
    base = timed(lambda: simple_clv(store), repeat)
    print(f"baseline simple_clv: {base:.3f} s")

    def fit_counts_only() -> None:
        for grp in counts["grp"].unique().to_list():
            part = counts.filter(counts["grp"] == grp)
            fit_sbg(*(part[c].to_numpy() for c in ("entry", "time", "event", "customers")))

    cases: list[tuple[str, Callable[[], object]]] = [
        ("sBG fit, one published cohort (8 counts)", lambda: fit_survivors(HIGH_END)),
        ("sBG fits only, 3 segments (from counts)", fit_counts_only),
        (
            "sBG CLV per segment end to end (SQL, fits, 400 draws)",
            lambda: contractual_clv(store, dimension="segment"),
        ),
        ("lifetime counts SQL by segment", lambda: lifetime_counts(store, "segment")),
        ("Kaplan-Meier + log-rank by segment", lambda: survival_by(store, "segment")),
        ("Kaplan-Meier + log-rank by last channel", lambda: survival_by(store, "channel")),
        ("Kaplan-Meier + log-rank by region (21 groups)", lambda: survival_by(store, "region")),
        ("drivers CSAT, 200 bootstrap replicates", lambda: key_drivers(store, "csat")),
        ("drivers churn (100k sample), 200 replicates", lambda: key_drivers(store, "churn")),
        ("drivers CSAT, no bootstrap", lambda: key_drivers(store, "csat", boots=0)),
    ]
    for label, fn in cases:
        t = timed(fn, repeat)
        print(f"{label:<58} {t:8.3f} s  {t / base:8.1f} × baseline")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=None, help="an existing store (default: generate)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.db is not None:
        with open_store(args.db, read_only=True) as store:
            run(store, args.repeat)
        return
    from sample_data.generator import generate

    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "cx.duckdb") as store:
        t0 = time.perf_counter()
        generate(store)
        print(f"generated the default sample in {time.perf_counter() - t0:.1f} s")
        run(store, args.repeat)


if __name__ == "__main__":
    main()
