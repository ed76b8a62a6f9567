"""Cost of Explore's new reads: the rows behind a cell, and a series with partial periods.

Each is timed against its baseline in the same process on the same store, alternating
rounds: drill_rows (up to 1000 rows and the cell's total) against the KPI query of that very
cell (query_kpis by channel), and kpi_series (query_kpis plus the data extent for `partial`)
against query_kpis of the same request. Medians of the rounds; ratios, not absolute times.

    .venv/bin/python benchmarks/links.py [--db data/cx.duckdb] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metrics.drill import DrillRequest, drill_rows  # noqa: E402
from metrics.kpi_query import KpiRequest, query_kpis  # noqa: E402
from metrics.periods import kpi_series  # noqa: E402
from metrics.store import open_store  # noqa: E402


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(ROOT / "data" / "cx.duckdb"))
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    store = open_store(Path(args.db), create=False)
    month = dict(date_from=date(2026, 9, 1), date_to=date(2026, 10, 1))
    pairs = {
        "drill csat chat (1000 rows + total) vs its cell": (
            lambda: drill_rows(store, DrillRequest("csat", cell=(("channel", "chat"),), **month)),
            lambda: query_kpis(store, KpiRequest(kpis=("csat",), by=("channel",), **month)),
        ),
        "drill frt_live_median phone vs its cell": (
            lambda: drill_rows(
                store, DrillRequest("frt_live_median", cell=(("channel", "phone"),), **month)
            ),
            lambda: query_kpis(
                store, KpiRequest(kpis=("frt_live_median",), by=("channel",), **month)
            ),
        ),
        "kpi_series nps quarter vs query_kpis": (
            lambda: kpi_series(store, KpiRequest(kpis=("nps",), grain="quarter")),
            lambda: query_kpis(store, KpiRequest(kpis=("nps",), grain="quarter")),
        ),
    }
    for name, (new, base) in pairs.items():
        new(), base()  # warm
        t_new, t_base = [], []
        for _ in range(args.rounds):
            t_new.append(_time(new))
            t_base.append(_time(base))
        a, b = statistics.median(t_new), statistics.median(t_base)
        print(f"{name}: {a * 1000:.1f} ms vs {b * 1000:.1f} ms, ratio {a / b:.2f}")
    total = drill_rows(store, DrillRequest("csat", cell=(("channel", "chat"),), **month)).total
    print(f"(csat chat September: {total} answers behind the cell)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
