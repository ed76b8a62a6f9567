"""Cost of the shared store access (short holds) against the old persistent connection.

    .venv/bin/python benchmarks/store_access.py [--customers 20000] [--db PATH] [--rounds 5]

In one process, on one seeded store, alternating the two so machine load hits both alike:

- open cost: DuckDB connect + close, read-only and read-write, and one shared-store read
  cycle (hold, one small query, release) against the same query on a held connection;
- the Overview page through AppTest, cold (empty caches) and warm (all cached), with the
  app's store opened the old way (one read-write connection for the process's life) and
  the new way (shared: the file held only while a page run reads).

Ratios are new / old; a warm ratio near 1 means cached pages do not touch the store.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGE = ROOT / "dashboard" / "views" / "overview.py"
# Longer than the store's reaper period, so a finished page run has let go of the file
# (as it would between two clicks) before the next one starts.
SETTLE_S = 0.4


def _store_path(args: argparse.Namespace, tmp: Path) -> Path:
    if args.db:
        return Path(args.db)
    from metrics.store import open_store
    from sample_data.generator import generate

    path = tmp / "cx.duckdb"
    t0 = time.perf_counter()
    with open_store(path) as store:
        counts = generate(store, customers=args.customers, months=12, seed=7, end=date(2026, 10, 1))
    print(
        f"generated {counts.get('contacts', 0):,} contacts for {args.customers:,} customers "
        f"in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 1e6:.1f} MB)"
    )
    return path


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def open_costs(path: Path, n: int) -> dict[str, float]:
    import duckdb

    from metrics.store import open_store

    query = "SELECT value FROM store_meta WHERE key = 'data_version'"
    out = {
        "connect+close read-only": _median_ms(
            lambda: duckdb.connect(str(path), read_only=True).close(), n
        ),
        "connect+close read-write": _median_ms(lambda: duckdb.connect(str(path)).close(), n),
    }
    shared = open_store(path, shared=True)

    def cycle() -> None:
        shared.cursor().execute(query).fetchall()
        shared.release()

    out["shared: hold, 1 query, release"] = _median_ms(cycle, n)
    out["shared: data version (side file)"] = _median_ms(shared.data_version, n)
    shared.close()
    with open_store(path) as held:
        out["persistent: 1 query"] = _median_ms(lambda: held.cursor().execute(query).fetchall(), n)
        out["persistent: data version (query)"] = _median_ms(held.data_version, n)
    return out


def render(mode: str, warm_runs: int) -> tuple[float, float]:
    """(cold ms, median warm ms) of the Overview with the app's store opened as `mode`."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    import dashboard.store_access as access
    from metrics.store import open_store

    if mode == "old":
        access.open_store = lambda path, **_kw: open_store(path)  # one read-write connection
    else:
        access.open_store = open_store
    st.cache_data.clear()
    st.cache_resource.clear()  # closes nothing: old-mode stores are closed below
    time.sleep(SETTLE_S)
    at = AppTest.from_file(str(PAGE), default_timeout=600)
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    if at.exception or at.error:
        raise SystemExit(f"the Overview failed: {at.exception or [e.value for e in at.error]}")
    warm = []
    for _ in range(warm_runs):
        time.sleep(SETTLE_S)
        t0 = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t0)
    if mode == "old":
        access.get_store().close()
    return cold * 1000, statistics.median(warm) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--db", default=None, help="use this store instead of generating one")
    parser.add_argument("--rounds", type=int, default=5, help="old/new alternations")
    parser.add_argument("--warm", type=int, default=3, help="warm runs per round")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = _store_path(args, Path(tmp))
        os.environ["CX_DB"] = str(path)
        print(f"open cost (median of 30, ms) on {path}")
        costs = open_costs(path, 30)
        for name, ms in costs.items():
            print(f"  {name:<36} {ms:8.2f}")
        results: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
        for i in range(args.rounds):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            for mode in order:
                results[mode].append(render(mode, args.warm))
        print(f"Overview render through AppTest, median of {args.rounds} rounds (ms)")
        print(f"  {'':<10} {'old (persistent)':>18} {'new (shared)':>14} {'new/old':>8}")
        for label, idx in (("cold", 0), ("warm", 1)):
            old = statistics.median(r[idx] for r in results["old"])
            new = statistics.median(r[idx] for r in results["new"])
            print(f"  {label:<10} {old:18.0f} {new:14.0f} {new / old:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
