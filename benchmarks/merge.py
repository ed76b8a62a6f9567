"""Cost of merge_stage (history, older-row check, change counts) against the plain upsert it
replaced, on typed contacts rows, paired in one process.

Run: .venv/bin/python benchmarks/merge.py [--rows N] [--repeat R]
Scenarios: a first load into an empty table, the same rows again (all unchanged), and a file
with 10 % changed and 10 % new rows. The baseline is the old `_upsert` of
metrics/ingest/load.py (UPDATE ... FROM + anti-join INSERT on a registered Arrow table, no
history), copied here so the comparison survives its removal.

Measured 2026-11-30 on the shared 2-core box (load 7-18, so single runs vary by 2x).
300k rows, 3 pairs, median ratio merge_stage / baseline: first load 0.62, same file again
2.19 (0.36 s vs 0.21 s: the temp table __stage is a copy the Arrow scan did not need),
10 % changed + 10 % new 0.03 (1.4 s vs 51 s). The baseline's UPDATE ... FROM stage WHERE
key = key AND NOT (all columns equal) grows faster than linearly (10 % changed: 3.8 s at
100k rows, 25-51 s at 300k, 343 s at 1M); merge_stage updates from the picked rows only
(0.5 s, 1.4 s, 6 s). Undo of that 300k batch: 1.8 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.ingest.merge import merge_stage  # noqa: E402
from metrics.store import open_store  # noqa: E402


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _arrow(frame: pl.DataFrame):
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def baseline_upsert(cur, table: str, stage: pl.DataFrame) -> tuple[int, int, int]:
    """The pre-issue-9 upsert (load.py at 2aff10e): key-sorted only for inserting."""
    keys = ["contact_id"]
    compare = [c for c in stage.columns if c not in keys and c != "batch_id"]
    cols = ", ".join(_q(c) for c in stage.columns)
    tbl = _q(table)
    empty = not cur.execute(f"SELECT 1 FROM {tbl} LIMIT 1").fetchall()
    cur.register("__stage", _arrow(stage.sort(keys) if empty else stage))
    try:
        if empty:
            cur.execute(f"INSERT INTO {tbl} ({cols}) SELECT {cols} FROM __stage")
            return stage.height, 0, 0
        on = " AND ".join(f"s.{_q(k)} = t.{_q(k)}" for k in keys)
        same = " AND ".join(f"s.{_q(c)} IS NOT DISTINCT FROM t.{_q(c)}" for c in compare)
        first = f"t.{_q(keys[0])}"
        inserted, updated = cur.execute(
            f"SELECT count(*) FILTER (WHERE {first} IS NULL), "
            f"count(*) FILTER (WHERE {first} IS NOT NULL AND NOT ({same})) "
            f"FROM __stage s LEFT JOIN {tbl} t ON {on}"
        ).fetchall()[0]
        if updated:
            sets = ", ".join(f"{_q(c)} = s.{_q(c)}" for c in [*compare, "batch_id"])
            cur.execute(
                f"UPDATE {tbl} AS t SET {sets} FROM __stage AS s WHERE {on} AND NOT ({same})"
            )
        if inserted:
            cur.unregister("__stage")
            cur.register("__stage", _arrow(stage.sort(keys)))
            sel = ", ".join(f"s.{_q(c)}" for c in stage.columns)
            cur.execute(
                f"INSERT INTO {tbl} ({cols}) SELECT {sel} FROM __stage s "
                f"WHERE NOT EXISTS (SELECT 1 FROM {tbl} t WHERE {on})"
            )
    finally:
        cur.unregister("__stage")
    return int(inserted), int(updated), int(stage.height - inserted - updated)


def ours(cur, table: str, stage: pl.DataFrame) -> tuple[int, int, int]:
    """What load.py now does: the frame becomes TEMP TABLE __stage, merge_stage merges it."""
    framed = stage.with_columns(pl.int_range(1, stage.height + 1, dtype=pl.Int64).alias("__row"))
    cur.register("__src", _arrow(framed))
    cur.execute("CREATE OR REPLACE TEMP TABLE __stage AS SELECT * FROM __src")
    cur.unregister("__src")
    r = merge_stage(cur, table, "__stage", str(stage["batch_id"][0]))
    cur.execute("DROP TABLE __stage")
    return r.inserted, r.updated, r.unchanged


def contacts(rows: int, seed: int, start: int = 0, batch: str = "b1") -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    opened = np.datetime64("2025-01-01T00:00:00", "us") + rng.integers(0, 365 * 86400, rows).astype(
        "timedelta64[s]"
    )
    return pl.DataFrame(
        {
            "contact_id": pl.int_range(start, start + rows, eager=True).cast(pl.String),
            "customer_id": pl.Series(rng.integers(0, rows // 10 + 1, rows)).cast(pl.String),
            "channel": np.array(["phone", "chat", "email"])[rng.choice(3, rows)],
            "opened_at": opened,
            "wait_s": np.round(rng.exponential(90, rows), 1),
            "handle_s": np.round(rng.exponential(400, rows), 1),
            "resolved": rng.random(rows) < 0.8,
            "team": np.array(["north", "south", "east", "west"])[rng.choice(4, rows)],
            "batch_id": [batch] * rows,
        }
    ).sample(fraction=1.0, shuffle=True, seed=seed)  # files rarely come in key order


def _run(fn, db: Path, first: pl.DataFrame, second: pl.DataFrame | None) -> tuple[float, tuple]:
    """Load `first`, then time loading `second` (or time `first` when second is None)."""
    with open_store(db) as store:
        if second is not None:
            with store.write() as cur:
                fn(cur, "contacts", first)
        t0 = time.perf_counter()
        with store.write() as cur:
            counts = fn(cur, "contacts", second if second is not None else first)
        return time.perf_counter() - t0, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.rows
    base = contacts(n, 1)
    same = base.with_columns(pl.lit("b2").alias("batch_id"))
    tenth = n // 10
    changed = pl.concat(
        [
            base.head(tenth).with_columns(pl.lit("moved").alias("team")),
            base.slice(tenth, n - tenth),
            contacts(tenth, 2, start=n),
        ]
    ).with_columns(pl.lit("b2").alias("batch_id"))
    scenarios = {
        "first load (all new)": (base, None),
        "same file again (all unchanged)": (base, same),
        "10 % changed + 10 % new": (base, changed),
    }
    print(f"{n:,} typed contacts rows; {args.repeat} paired runs; medians")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (first, second) in scenarios.items():
            old_t, new_t, ratio = [], [], []
            for i in range(args.repeat):
                t_old, c_old = _run(
                    baseline_upsert, Path(tmp) / f"o{name[:4]}{i}.db", first, second
                )
                t_new, c_new = _run(ours, Path(tmp) / f"n{name[:4]}{i}.db", first, second)
                assert c_old == c_new, (c_old, c_new)
                old_t.append(t_old)
                new_t.append(t_new)
                ratio.append(t_new / t_old)
            med = statistics.median
            print(
                f"  {name:32s} baseline {med(old_t):6.2f} s  merge_stage {med(new_t):6.2f} s  "
                f"ratio {med(ratio):.2f} (runs {', '.join(f'{r:.2f}' for r in ratio)})  "
                f"counts {c_new}"
            )
        merged, undone = undo_cost(Path(tmp), base, changed)
        print(
            f"  undo of the 10 % changed + 10 % new batch: {undone:.2f} s "
            f"(its merge took {merged:.2f} s; ratio {undone / merged:.2f})"
        )


def undo_cost(tmp: Path, first: pl.DataFrame, second: pl.DataFrame) -> tuple[float, float]:
    """(seconds to merge `second` as a batch, seconds to undo that batch) on one store."""
    from metrics.ingest.batches import undo_batch

    with open_store(tmp / "undo.db") as store:
        for frame in (first, second):
            batch = str(frame["batch_id"][0])
            t0 = time.perf_counter()
            with store.write() as cur:
                cur.execute(
                    "INSERT INTO ingest_batches (batch_id, table_name, file_name, checksum, "
                    "started_at) VALUES (?, 'contacts', 'bench', '-', now())",
                    [batch],
                )
                ours(cur, "contacts", frame)
            merged = time.perf_counter() - t0
        t0 = time.perf_counter()
        undo_batch(store, batch)
        return merged, time.perf_counter() - t0


if __name__ == "__main__":
    main()
