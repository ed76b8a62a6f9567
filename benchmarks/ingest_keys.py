"""Cost of settling keys on the stage ([dedupe], [aggregate], [ids]) and of reading a
whitespace-aligned file, as ratios against a plain ingest of the same rows in one process.

Run: nice .venv/bin/python benchmarks/ingest_keys.py [--rows N] [--repeat R]
Baselines: a contacts file with unique keys loaded as is (for [dedupe] and [ids]: the same
rows with one version per key / with ids in the file), an invoices file with one row per
invoice (for [aggregate] over four lines per invoice), and the same CSV for the aligned text.
Each ingest goes into a fresh store; medians of R runs.

Measured 2026-12-01 on the shared 2-core box (load 12-17, single runs vary by 2x), 200k
rows, 3 pairs, median ratio candidate / baseline:
- [dedupe] latest, 4 versions a key vs unique keys: 0.59 (1.78 s vs 3.01 s; the merge then
  inserts a quarter of the rows);
- [aggregate] sum, 4 lines an invoice vs 1: 0.80; [aggregate] over unique invoices vs no
  [aggregate]: 1.02 (the repeat check only);
- [ids] generated vs ids in the file: 1.46 (4.36 s vs 2.85 s: SHA-256 over every row);
- aligned text vs the same CSV: 2.63 with two regex passes over each block, 1.02 (0.82-1.31)
  after the line-by-line bytes.split rewrite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.ingest import ingest_file  # noqa: E402
from metrics.store import open_store  # noqa: E402


def _contacts(n: int, versions: int) -> bytes:
    """n rows: n / versions tickets with `versions` rows each (updated_at grows)."""
    lines = ["id,created_at,updated_at,status,via_channel"]
    for i in range(n):
        key, v = divmod(i, versions)
        lines.append(
            f"T{key},2026-03-01T00:00:00Z,2026-03-{v % 28 + 1:02d}T10:00:00Z,"
            f"{'solved' if v % 2 else 'open'},web"
        )
    return ("\n".join(lines) + "\n").encode()


def _invoices(n: int, lines_per: int) -> bytes:
    rows = ["InvoiceNo,Quantity,UnitPrice,InvoiceDate,CustomerID"]
    rows += [
        f"{i // lines_per},{i % 5 + 1},2.5,2010-12-01,C{i // lines_per % 997}" for i in range(n)
    ]
    return ("\n".join(rows) + "\n").encode()


def _timed(body: bytes, name: str, **kwargs: object) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "cx.duckdb")
        start = time.perf_counter()
        ingest_file(store, body, file_name=name, **kwargs)  # type: ignore[arg-type]
        took = time.perf_counter() - start
        store.close()
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    args = ap.parse_args()
    n = args.rows
    inv_map = {
        "columns": {
            "InvoiceNo": "invoice_id",
            "CustomerID": "customer_id",
            "InvoiceDate": "issued_at",
        },
        "multiply": {"amount": ["Quantity", "UnitPrice"]},
    }
    aligned_csv = _contacts(n, 1)
    aligned = aligned_csv.replace(b",", b"   ")
    api = {"table": "contacts", "preset": "zendesk_api"}
    cases = {
        # name: (baseline (body, kwargs), candidate (body, kwargs)); the same number of rows
        "dedupe latest, 4 versions a key vs unique keys": (
            (_contacts(n, 1), api),
            (_contacts(n, 4), api),
        ),
        "aggregate sum, 4 lines an invoice vs 1": (
            (
                _invoices(n, 1),
                {"table": "invoices", "mapping": {**inv_map, "aggregate": {"amount": "sum"}}},
            ),
            (
                _invoices(n, 4),
                {"table": "invoices", "mapping": {**inv_map, "aggregate": {"amount": "sum"}}},
            ),
        ),
        "aggregate sum vs no [aggregate], unique invoices": (
            (_invoices(n, 1), {"table": "invoices", "mapping": inv_map}),
            (
                _invoices(n, 1),
                {"table": "invoices", "mapping": {**inv_map, "aggregate": {"amount": "sum"}}},
            ),
        ),
        "ids generated vs ids in the file": (
            (_contacts(n, 1), api),
            (_contacts(n, 1), {**api, "mapping": {"ids": {"contact_id": "row"}}}),
        ),
        "aligned text vs the same CSV": (
            (aligned_csv, api),
            (aligned, api),
        ),
    }
    for name, ((base, bk), (cand, ck)) in cases.items():
        if args.only not in name:
            continue
        ratios, bt, ct = [], [], []
        for _ in range(args.repeat):
            b = _timed(base, "base.csv", **bk)
            c = _timed(cand, "cand.csv", **ck)
            bt.append(b)
            ct.append(c)
            ratios.append(c / b)
        print(
            f"{name}: {statistics.median(ct):.2f} s vs {statistics.median(bt):.2f} s, "
            f"median ratio {statistics.median(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
