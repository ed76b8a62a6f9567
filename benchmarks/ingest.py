"""Ingest throughput and peak memory: a seeded contacts CSV through ingest_file.

Run: .venv/bin/python benchmarks/ingest.py [--rows N] [--seed S] [--repeat R]
         [--rss-rows N | --rss-file PATH] [--before REF] [--rss-repeat R]

Two parts:
1. In-process throughput against a pandas baseline (what a careful analyst would write by
   hand: pandas read_csv, the same checks as vectorised pandas operations, then an INSERT
   into the same DuckDB schema), in paired runs.
2. Peak RSS and rows/s, before and after streaming, in the same run: each ingest runs in
   its own subprocess (peak RSS = the child's VmHWM from /proc/self/status; not ru_maxrss,
   which on Linux includes the parent's resident size when it forked),
   "after" with this tree's metrics/, "before" with metrics/ of git REF (default: the
   commit before streaming, 2aff10e) unpacked by `git archive` into a temporary directory.
   Runs alternate before/after so the shared machine's load hits both alike.

Measured 2026-12-01 (2 cores shared with other work; --only-rss --rss-rows 8600000
--rss-repeat 2, 1.03 GB file, 8,591,451 rows inserted):
  before (2aff10e, read whole): peak RSS 7.20 GiB, 27.9 s, 308k rows/s, CPU 31.7 s
  after (this tree):            peak RSS 1.07 GiB, 48.2 s, 178k rows/s, CPU 63.2 s
  after/before: RSS x0.15, throughput x0.58, CPU x1.99. Where the time goes (one run,
  CPU): reading, validating and staging the chunks 27 s; the first-load INSERT 38 s, of
  which the FCR repeat gaps' window (stored since issue 12, once per ingest instead of per
  query) ~15 s and the key index under the 512 MB cap ~20 s. A 1 GB cap does not make it
  faster (same wall, peak 1.49 GiB); 32 MB chunks save 12 % CPU for a 1.54 GiB peak.
  Until this date the "after" peak printed here was ~4.1 GiB: ru_maxrss, which counted
  the parent's resident size at fork (it had just generated the file in memory).

Measured 2026-12-02 after the first load's repeat gaps moved to a narrow window attached by
POSITIONAL JOIN (merge.py _derive; machine load 5-14, other benchmarks and a test suite
running, so walls are noisy; CPU is the steadier figure), --rss-repeat 1, 1.03 GB file:
  before: peak RSS 7.17 GiB, 134.0 s, 64k rows/s, CPU 37.9 s (starved by the test suite:
          not a fair wall)
  after:  peak RSS 1.02 GiB, 57.9 s, 148k rows/s, CPU 58.0 s
  after/before: RSS x0.14, CPU x1.53 (was x1.99); the printed throughput x2.31 is not to be
  trusted. 2M-row head, --rss-repeat 2: before 1.84 GiB, 9.5 s, CPU 6.7 s; after 0.81 GiB,
  14.9 s, CPU 12.8 s; throughput x0.63 (was x0.50). Where the time goes now (8.6M, CPU):
  staging ~27 s (validation is the slower of the two threads); the first-load insert ~31 s,
  of which the narrow gap window ~7.5 s (6.3 s without the 512 MB cap: it spills) and the
  key index with its key-order sort the rest. Insert without ORDER BY: -9 s CPU for this
  file's near-key order, but +14 s commit for shuffled keys, so kept.

Measured 2026-12-01 (later) after the per-chunk validation work (date formats sampled once
per file, then reordered by each chunk's hits; the Luhn check as one flat sum) and 16 MB
text chunks; quiet machine (load ~2) unless said:
  2M-row head, --rss-repeat 2: before (2aff10e) 1.87 GiB, 4.2 s, 474k rows/s, CPU 6.8 s;
  after 1.04 GiB, 7.3 s, 275k rows/s, CPU 11.5 s; after/before throughput x0.58, CPU x1.68.
  Same head against the tree before this work (--before 60f8f7a --rss-repeat 3): peak
  0.84 -> 1.02 GiB, 8.4 -> 7.3 s, throughput x1.15, CPU 13.1 -> 11.6 s (x0.88).
  1.03 GB file, --rss-repeat 1 (load ~3 falling to 2): before 7.18 GiB, 18.0 s, 477k rows/s,
  CPU 28.0 s; after 1.24 GiB, 35.0 s, 246k rows/s, CPU 53.0 s (58.0 s before this work);
  after/before: RSS x0.17, throughput x0.52, CPU x1.89. Where the time goes now (2M, CPU):
  validation alone 2.8 -> 1.6 s (single-threaded; about what 2aff10e's whole-file
  validation took), staging 5.4 -> 4.0 s, the first-load merge ~6 s (gap window ~1.3 s,
  the ORDER BY insert into the key index the rest): the merge, not the validation, is what
  keeps the throughput under 2aff10e's.

Measured 2026-12-01 (third round) after the ingest tables lost their PRIMARY KEYs (schema
V10; a first load inserts unsorted), the first load's repeat gaps were joined by stage rowid
for only the rows that have one (13 % here) with the window ordered by time alone, and the
merge ran under a 768 MB cap; quiet machine (load ~2), --rss-repeat 3, alternating:
  1.03 GB file: before 7.18 GiB, 21.6 s, 398k rows/s, CPU 33.4 s; after 1.27 GiB, 21.3 s,
  404k rows/s, CPU 38.1 s; after/before: RSS x0.18, throughput x1.01, CPU x1.14.
  Steps on the same file, one run each (wall): 29.1 s without the key index and its sort
  (was ~36); 22.1 s with the merge cap at 768 MB (1 GB: 21.4 s but 1.45 GiB, over the 1.5 GB
  asked); 21.6 s keeping only rows with a gap; 20.5 s with the window on time alone. Where
  the time goes now (8.6M, wall): staging 10.4 s (the validation thread is the slower one:
  the main thread waits 3.8 s for it), the gap window 2.5 s, the insert joined to it 6.6 s,
  the rest ~1 s. Without any gap work the same file loads in 16.4 s: the repeat gaps that
  issue 12 moved from every query into ingest cost ~4 s of it.
  2M-row head (--rss-repeat 3): before 1.85 GiB, 4.3 s, CPU 7.1 s; after 0.95 GiB, 4.4 s,
  CPU 8.2 s: throughput x0.98 (x0.85 with the key index gone but the gaps not yet narrowed).
Then reading and validating in two threads instead of one (load._ahead, three steps side by
side; the staging had waited 4.1 s for the one thread, which read for 5.3 s and validated for
5.2 s): two pairs under load ~2.8, before 21.9 s, after 20.4 s (x1.07), peak 1.31 GiB (the
peak is now while staging: one chunk more in flight). 12 MB chunks: 22.4 s, 1.20 GiB.
Tried, no gain: the window inside the insert (23.4 s against 22.3), the gaps written into
the stage by UPDATE then a plain insert (same), the insert then an UPDATE of the table by
rowid (commit +2 s), no batch_id in the stage (same).

Measured 2026-12-02, final (main at ea5811e; a fresh machine, quiet: load 0.0 before the run,
~2 from the benchmark itself), --only-rss --rss-rows 8600000 --rss-repeat 3, alternating:
  1.03 GB file, 8,600,000 rows: before (2aff10e) 7.20 GiB, 30.8 s, 279k rows/s, CPU 48.3 s
  (runs 30.8 / 31.7 / 29.8 s); after 1.31 GiB, 25.9 s, 333k rows/s, CPU 47.8 s (runs 27.1 /
  25.5 / 25.9 s); after/before: RSS x0.18 (1.37 bytes of peak RSS per file byte, was 7.53),
  throughput x1.19, CPU x0.99. Every "after" run beat every "before" run. This machine is
  slower than the one above (before 30.8 s there 21.6 s); the ratio is the figure to compare.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BEFORE_STREAMING = "2aff10e"  # last commit that read a file whole

from metrics.ingest import ingest_file  # noqa: E402
from metrics.ingest.vocab import BOOL_VALUES, CHANNEL_VALUES, ISSUE_VALUES  # noqa: E402
from metrics.schema import CHANNELS, ISSUE_TYPES  # noqa: E402
from metrics.store import Store, open_store  # noqa: E402

T = TypeVar("T")


def make_contacts_csv(path: Path, rows: int, seed: int) -> None:
    """A contacts export with every column, ~0.1 % bad values, written without Python rows."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00", "ms")
    opened = start + rng.integers(0, 365 * 86400, rows).astype("timedelta64[ms]") * 1000
    resolution = rng.exponential(6 * 3600, rows).astype("int64").astype("timedelta64[ms]") * 1000
    resolved = rng.random(rows) < 0.8
    channel = np.array(CHANNELS)[rng.choice(len(CHANNELS), rows)]
    bad = rng.random(rows) < 0.001
    channel = np.where(bad, "Fax", channel)

    def flag(p: float) -> np.ndarray:
        return np.where(rng.random(rows) < p, "true", "false")

    frame = pl.DataFrame(
        {
            "contact_id": pl.int_range(0, rows, eager=True).cast(pl.String),
            "customer_id": pl.Series(rng.integers(0, rows // 10 + 1, rows)).cast(pl.String),
            "channel": channel,
            "issue_type": np.array(ISSUE_TYPES)[rng.choice(len(ISSUE_TYPES), rows)],
            "opened_at": pl.Series(opened).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "wait_s": np.round(rng.exponential(90, rows), 1),
            "first_response_s": np.round(rng.exponential(60, rows), 1),
            "handle_s": np.round(rng.exponential(400, rows), 1),
            "abandoned": flag(0.05),
            "bot_handled": flag(0.2),
            "escalated": flag(0.1),
            "resolved": np.where(resolved, "true", "false"),
            "resolved_at": pl.Series(opened + resolution).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "first_contact_resolved": flag(0.7),
            "agent_id": pl.Series(rng.integers(0, 400, rows)).cast(pl.String),
            "team": np.array(["north", "south", "east", "west"])[rng.choice(4, rows)],
        }
    )
    frame = frame.with_columns(
        pl.when(pl.Series(resolved)).then(pl.col("resolved_at")).alias("resolved_at")
    )
    frame.write_csv(path)


def pandas_baseline(path: Path, store: Store) -> int:
    """pandas read_csv + the same validations (vectorised pandas) + INSERT into DuckDB.

    Written the way a careful analyst would: column-wise operations, reasons built only for
    the failing rows, ids trimmed like ingest_file trims them.
    """
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("contact_id", "customer_id", "agent_id", "team"):
        df[col] = df[col].str.strip()
    checks: list[tuple[pd.Series, str]] = []
    for col in ("contact_id", "channel", "opened_at"):
        checks.append((df[col] == "", f"{col} is empty"))
    channel = df["channel"].str.lower().str.replace(r"[_\-]", " ", regex=True).map(CHANNEL_VALUES)
    checks.append(((df["channel"] != "") & channel.isna(), "channel not known"))
    issue = df["issue_type"].str.lower().str.replace(r"[_\-]", " ", regex=True).map(ISSUE_VALUES)
    checks.append(((df["issue_type"] != "") & issue.isna(), "issue_type not known"))
    times = {}
    for col in ("opened_at", "resolved_at"):
        t = pd.to_datetime(df[col], format="%Y-%m-%d %H:%M:%S", errors="coerce")
        checks.append(((df[col] != "") & t.isna(), f"{col} not a time"))
        times[col] = t
    nums = {}
    for col in ("wait_s", "first_response_s", "handle_s"):
        x = pd.to_numeric(df[col].replace("", None), errors="coerce")
        checks.append(((df[col] != "") & (x.isna() | (x < 0)), f"{col} not seconds"))
        nums[col] = x
    bools = {}
    for col in ("abandoned", "bot_handled", "escalated", "resolved", "first_contact_resolved"):
        b = df[col].str.lower().map(BOOL_VALUES)
        checks.append(((df[col] != "") & b.isna(), f"{col} not yes/no"))
        bools[col] = b
    checks.append((times["resolved_at"] < times["opened_at"], "resolved_at before opened_at"))
    bad = pd.Series(False, index=df.index)
    for mask, _ in checks:
        bad |= mask
    duplicate = ~bad & df["contact_id"].where(~bad).duplicated() & df["contact_id"].ne("")
    bad |= duplicate
    reasons = pd.Series("", index=df.index[bad])
    for mask, text in [*checks, (duplicate, "duplicate contact_id")]:
        hit = mask[bad]
        reasons[hit] += text + "; "
    ok = ~bad
    out = pd.DataFrame(
        {
            "contact_id": df["contact_id"],
            "customer_id": df["customer_id"].replace("", None),
            "channel": channel,
            "issue_type": issue,
            **times,
            **nums,
            **bools,
            "agent_id": df["agent_id"].replace("", None),
            "team": df["team"].replace("", None),
        }
    )[ok]
    with store.write() as cur:
        cur.register("__pd", out)
        cols = ", ".join(out.columns)
        cur.execute(f"INSERT INTO contacts ({cols}) SELECT {cols} FROM __pd")
        cur.unregister("__pd")
    return int(ok.sum())


def _timed(fn: Callable[..., T], *args: object, **kwargs: object) -> tuple[T, float, float]:
    """(result, wall seconds, CPU seconds of this process, all threads)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


# One ingest in a fresh process: wall time, rows and the process's peak RSS.
CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from metrics.ingest import ingest_file
from metrics.store import open_store
db = Path(sys.argv[3])
db.unlink(missing_ok=True)
with open_store(db) as store:
    t0 = time.perf_counter()
    report = ingest_file(store, Path(sys.argv[2]), table="contacts")
    wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM: this program's own peak. ru_maxrss is not: Linux carries the parent's resident
# size at fork into the child's ru_maxrss across exec, and the parent has just generated
# the file in memory (4 GiB for 8.6M rows), which would read as the ingest's peak.
try:
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(x.split()[1]) for x in status if x.startswith("VmHWM:")) * 1024
except (OSError, StopIteration):
    peak = usage.ru_maxrss * 1024
print(json.dumps({"wall": wall, "rows": report.rows_read, "inserted": report.inserted,
                  "peak": peak, "cpu": usage.ru_utime + usage.ru_stime}))
"""


def _code_of(ref: str, into: Path) -> Path:
    """metrics/ of git `ref`, unpacked under `into`."""
    archive = into / "before.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "metrics"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "before", filter="data")
    return into / "before"


def _child(code: Path, csv: Path, db: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(code), str(csv), str(db)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else out.returncode}
    result = json.loads(out.stdout)
    db.unlink(missing_ok=True)
    return result


def _run(result: dict) -> str:
    return f"{result['peak'] / 2**30:.2f} GiB / {result['wall']:.1f} s / CPU {result['cpu']:.1f} s"


def rss_before_after(csv: Path, ref: str, repeat: int, tmp: Path) -> None:
    """Peak RSS and rows/s of the code at `ref` and of this tree, alternating, same file."""
    before_code = _code_of(ref, tmp)
    size = csv.stat().st_size
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(repeat):
        for side, code in (("before", before_code), ("after", ROOT)):
            runs[side].append(_child(code, csv, tmp / f"{side}.duckdb"))
    print(f"peak RSS, {csv.name} ({size / 1e9:.2f} GB), one subprocess per ingest:")
    medians = {}
    for side, results in runs.items():
        ok = [r for r in results if "error" not in r]
        if not ok:
            print(f"  {side} ({ref if side == 'before' else 'this tree'}): failed: {results}")
            continue
        peak = statistics.median(r["peak"] for r in ok)
        wall = statistics.median(r["wall"] for r in ok)
        cpu = statistics.median(r["cpu"] for r in ok)
        rows = ok[0]["rows"]
        medians[side] = (peak, wall, rows, cpu)
        print(
            f"  {side:6} ({ref if side == 'before' else 'this tree'}): peak RSS "
            f"{peak / 2**30:.2f} GiB, {wall:.1f} s, {rows / wall:,.0f} rows/s, "
            f"CPU {cpu:.1f} s (whole process, imports included) "
            f"(runs: {', '.join(_run(r) for r in ok)})"
        )
    if len(medians) == 2:
        (pb, wb, rows, cb), (pa, wa, _, ca) = medians["before"], medians["after"]
        print(
            f"  after/before: peak RSS x{pa / pb:.2f}, throughput x{wb / wa:.2f}, "
            f"CPU x{ca / cb:.2f} "
            f"({rows:,} rows); bytes of peak RSS per file byte: before {pb / size:.2f}, "
            f"after {pa / size:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20260305)
    parser.add_argument("--repeat", type=int, default=3, help="paired runs; medians count")
    parser.add_argument("--rss-rows", type=int, default=1_000_000, help="rows of the RSS file")
    parser.add_argument("--rss-file", type=Path, help="an existing contacts CSV for the RSS part")
    parser.add_argument("--rss-repeat", type=int, default=1, help="before/after pairs")
    parser.add_argument("--before", default=BEFORE_STREAMING, help="git ref of the 'before'")
    parser.add_argument("--only-rss", action="store_true", help="skip the pandas comparison")
    args = parser.parse_args()
    if args.only_rss or args.rss_file:
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = args.rss_file
            if csv_path is None:
                csv_path = Path(tmp) / "contacts.csv"
                make_contacts_csv(csv_path, args.rss_rows, args.seed)
            rss_before_after(csv_path, args.before, args.rss_repeat, Path(tmp))
        if args.only_rss:
            return
    n = args.rows
    med = statistics.median
    import pandas  # noqa: F401 - imported before timing, as ingest_file's libraries are

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "contacts.csv"
        t0 = time.perf_counter()
        make_contacts_csv(csv_path, n, args.seed)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {n:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        # Warm-up: first-call imports and caches are not what is measured (pandas likewise).
        with csv_path.open("rb") as fh:
            head = b"".join(itertools.islice(fh, 100))
        with open_store(Path(tmp) / "warm.duckdb") as store:
            ingest_file(store, head, table="contacts", file_name="warm.csv")
        load_before = os.getloadavg()[0]
        ours, ours_cpu, rerun, floor, base, base_cpu, ratio = [], [], [], [], [], [], []
        for i in range(args.repeat):
            # Each repeat runs both sides back to back, so the machine's load (shared, two
            # cores) hits a pair alike; the median of the per-pair ratios is the speed-up.
            db = Path(tmp) / f"ours{i}.duckdb"
            with open_store(db) as store:
                report, wall, cpu = _timed(ingest_file, store, csv_path, table="contacts")
                ours.append(wall)
                ours_cpu.append(cpu)
                again, wall, _ = _timed(ingest_file, store, csv_path, table="contacts")
                rerun.append(wall)
                typed = store.cursor().sql("SELECT * EXCLUDE (extras, batch_id) FROM contacts")
                typed = typed.pl()
            # The floor both paths share: inserting already-typed rows into the keyed table.
            with open_store(Path(tmp) / f"floor{i}.duckdb") as store:
                t0 = time.perf_counter()
                with store.write() as cur:
                    cur.register("__typed", typed)
                    cur.execute("INSERT INTO contacts BY NAME SELECT * FROM __typed")
                floor.append(time.perf_counter() - t0)  # insert + commit
            del typed
            # Like ingest_file, the baseline gets a store already open (schema created).
            with open_store(Path(tmp) / f"pandas{i}.duckdb") as store:
                loaded, wall, cpu = _timed(pandas_baseline, csv_path, store)
            base.append(wall)
            base_cpu.append(cpu)
            ratio.append(base[-1] / ours[-1])
            assert loaded == report.inserted and again.unchanged == report.inserted
            for name in (f"ours{i}", f"floor{i}", f"pandas{i}"):
                (Path(tmp) / f"{name}.duckdb").unlink(missing_ok=True)
        print(
            f"ingest_file: {med(ours):.2f} s, {n / med(ours):,.0f} rows/s, CPU {med(ours_cpu):.2f} s "
            f"(inserted {report.inserted:,}, rejected {report.rejected:,}; runs {_runs(ours)} s)"
        )
        print(
            f"re-ingest, all unchanged: {med(rerun):.2f} s, {n / med(rerun):,.0f} rows/s "
            f"(runs {_runs(rerun)} s)"
        )
        print(
            f"floor, INSERT + COMMIT of typed rows into the keyed table: {med(floor):.2f} s "
            f"(runs {_runs(floor)} s)"
        )
        print(
            f"pandas baseline: {med(base):.2f} s, {n / med(base):,.0f} rows/s, "
            f"CPU {med(base_cpu):.2f} s (runs {_runs(base)} s)"
        )
        print(
            f"speed-up (median of paired runs): {med(ratio):.1f}x (pairs "
            f"{', '.join(f'{r:.1f}' for r in ratio)}); {datetime.now():%Y-%m-%d %H:%M}, "
            f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
