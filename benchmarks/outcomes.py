"""Cost of issue 10 items 4-5: the no-data check on every KPI query, and the supplied-columns
scan and reject bookkeeping in every ingest.

Each is timed against its baseline in the same process, alternating rounds, medians:
- query_kpis(all KPIs) with the no-data check against the same call with the check replaced
  by "every input supplied" (metrics.kpi_query.no_data_reasons patched to return {});
- ingest_file of a seeded contacts CSV (0.5 % bad rows, under the 1 % gate) against the same
  ingest with supplied_in / record_supplied patched to no-ops and the reject groups skipped.
Ratios, not absolute times.

    .venv/bin/python benchmarks/outcomes.py [--db data/cx.duckdb] [--rows 300000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import metrics.ingest.load as load  # noqa: E402
import metrics.kpi_query as kq  # noqa: E402
from metrics.store import open_store  # noqa: E402


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("contact_id,customer_id,channel,opened_at,wait_s,handle_s,resolved,escalated\n")
        for i in range(rows):
            channel = "telepathy" if i % 200 == 7 else "phone"  # 0.5 % rejected
            f.write(
                f"K{i},C{i % 50_000},{channel},2026-03-{1 + i % 28:02d} 10:{i % 60:02d},"
                f"{i % 300},{i % 900},yes,no\n"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=str(ROOT / "data" / "cx.duckdb"))
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    real_check = kq.no_data_reasons
    with open_store(Path(args.db), create=False) as store:
        request = kq.KpiRequest()
        kq.query_kpis(store, request)  # warm
        with_check, without = [], []
        for r in range(args.rounds):
            # Alternate which goes first (ABBA): the first query of a round runs colder.
            for on in (True, False) if r % 2 == 0 else (False, True):
                kq.no_data_reasons = real_check if on else (lambda *_a, **_k: {})
                (with_check if on else without).append(_time(lambda: kq.query_kpis(store, request)))
        kq.no_data_reasons = real_check
    a, b = statistics.median(with_check), statistics.median(without)
    print(f"query_kpis, all KPIs: with no-data check {a * 1000:.0f} ms, without {b * 1000:.0f} ms")
    print(f"  ratio {a / b:.3f}")

    real = (load.supplied_in, load.record_supplied, load._add_groups)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "contacts.csv"
        _csv(csv, args.rows)
        times: dict[bool, list[float]] = {True: [], False: []}
        for r in range(args.rounds):
            for on in (True, False) if r % 2 == 0 else (False, True):
                if on:
                    load.supplied_in, load.record_supplied, load._add_groups = real
                else:
                    load.supplied_in = lambda *_a, **_k: []
                    load.record_supplied = lambda *_a, **_k: None
                    load._add_groups = lambda *_a, **_k: None
                db = Path(tmp) / f"s{r}{on}.duckdb"
                with open_store(db) as store:
                    times[on].append(
                        _time(lambda s=store: load.ingest_file(s, csv, table="contacts"))
                    )
        load.supplied_in, load.record_supplied, load._add_groups = real
    a, b = statistics.median(times[True]), statistics.median(times[False])
    print(f"ingest {args.rows:,} rows (0.5 % rejected): {a:.2f} s, without the additions {b:.2f} s")
    print(f"  ratio {a / b:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
