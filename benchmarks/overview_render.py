"""Overview page render time through AppTest: cold (empty caches) vs warm (cached) runs.

    .venv/bin/python benchmarks/overview_render.py [--customers 20000] [--db PATH] [--runs 5]

Without --db a seeded sample store of --customers customers is generated in a temp dir.
The cold run pays for the queries; warm runs are what a manager sees on every click
that does not change the filters (the caches are keyed on the store's data version).
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
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--db", default=None, help="use this store instead of generating one")
    parser.add_argument("--runs", type=int, default=5, help="warm runs to time")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CX_DB"] = str(_store_path(args, Path(tmp)))
        import streamlit as st
        from streamlit.testing.v1 import AppTest

        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(PAGE), default_timeout=600)
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        if at.exception or at.error:
            print("the Overview failed:", at.exception or [e.value for e in at.error])
            return 1
        warm = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
        print(f"Overview render ({len(at.metric)} KPI cards, store {os.environ['CX_DB']})")
        print(f"  cold (empty caches): {cold * 1000:8.0f} ms")
        print(
            f"  warm (cached), median of {args.runs}: {statistics.median(warm) * 1000:8.0f} ms"
            f"  (min {min(warm) * 1000:.0f}, max {max(warm) * 1000:.0f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
