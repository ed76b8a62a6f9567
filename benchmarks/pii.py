"""Personal data on 1M rows: keyed hashing (HMAC-SHA256 in DuckDB SQL) vs the old salted SHA-256.

Run: .venv/bin/python benchmarks/pii.py [--rows N] [--seed S] [--repeat R]
The baseline is the previous scheme run in the same process on the same frame: DuckDB
sha256(salt || lower(trim(v))). Also timed: Python's hmac over the unique values only (the
other way the issue allows), free-text masking and shape detection.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metrics.ingest.pii import (  # noqa: E402
    classify_values,
    hash_columns,
    hmac_sql,
    mask_text,
    normalise_for_hash,
)


def make_frame(rows: int, seed: int) -> pl.DataFrame:
    """Phones written three ways (~rows/3 people), e-mails (~rows/10 people), notes."""
    rng = np.random.default_rng(seed)
    person = rng.integers(0, rows // 3 + 1, rows)
    style = rng.integers(0, 3, rows)
    sub = pl.Series(person + 1_000_000).cast(pl.String)
    phone = pl.select(
        pl.when(pl.lit(style) == 0)
        .then(pl.lit("070-") + pl.lit(sub).str.slice(0, 3) + " " + pl.lit(sub).str.slice(3))
        .when(pl.lit(style) == 1)
        .then(pl.lit("+4670") + pl.lit(sub))
        .otherwise(pl.lit("0046 70 ") + pl.lit(sub))
    ).to_series()
    email = pl.lit("user") + pl.Series(rng.integers(0, rows // 10 + 1, rows)).cast(pl.String)
    notes = np.where(rng.random(rows) < 0.01, "ring 070-123 45 67", "kunden var nöjd")
    return pl.DataFrame(
        {"phone": phone, "email": pl.select(email + "@Example.se ").to_series(), "note": notes}
    )


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def old_salted(frame: pl.DataFrame, salt: str) -> pl.DataFrame:
    con = duckdb.connect()
    con.register("f", frame.select("phone", "email"))
    out = con.sql(
        "SELECT sha256($s || lower(trim(phone))) phone, sha256($s || lower(trim(email))) email "
        "FROM f",
        params={"s": salt},
    ).pl()
    con.close()
    return out


def python_unique_hmac(frame: pl.DataFrame, key: bytes) -> pl.DataFrame:
    cols = {}
    for col, kind in (("phone", "phone"), ("email", "email")):
        norm = normalise_for_hash(frame[col], kind)
        uniq = norm.unique()
        hashed = [hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in uniq.to_list()]
        cols[col] = norm.replace_strict(uniq, pl.Series(hashed), return_dtype=pl.String)
    return pl.DataFrame(cols)


def ingest_comparison(rows: int, seed: int, repeat: int) -> None:
    """ingest_file on the same contacts with and without PII columns, alternating rounds."""
    import os
    import tempfile

    from metrics.ingest import ingest_file
    from metrics.store import open_store

    pii = make_frame(rows, seed)
    base = pl.DataFrame(
        {
            "contact_id": pl.int_range(0, rows, eager=True).cast(pl.String),
            "channel": np.array(["phone", "email", "chat"])[np.arange(rows) % 3],
            "opened_at": "2026-03-05 10:00",
            "Anteckning": pii["note"],
        }
    )
    with_pii = base.with_columns(
        pii["phone"].alias("Telefon"),
        pii["email"].alias("E-post"),
        pl.lit("Anna Svensson").alias("Kundens namn"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CX_PII_KEY"] = "benchmark-key-0123456789"
        paths = {"plain": Path(tmp) / "plain.csv", "pii": Path(tmp) / "pii.csv"}
        base.write_csv(paths["plain"])
        with_pii.write_csv(paths["pii"])
        # The same file with the three columns declared not personal data: kept in clear in
        # extras. pii minus keep is the cost of protecting them; keep minus plain is the cost
        # of three more extras columns.
        keep = {"pii": {"keep": ["Telefon", "E-post", "Kundens namn"]}}
        variants = {"plain": (paths["plain"], None), "keep": (paths["pii"], keep)}
        variants["pii"] = (paths["pii"], None)
        runs: dict[str, list[float]] = {k: [] for k in variants}
        for i in range(repeat):
            for name, (path, mapping) in variants.items():
                with open_store(Path(tmp) / f"{name}{i}.duckdb") as store:
                    t = time.perf_counter()
                    ingest_file(store, path, table="contacts", mapping=mapping)
                    runs[name].append(time.perf_counter() - t)
    plain, kept, with_ = (statistics.median(runs[k]) for k in ("plain", "keep", "pii"))
    print(f"ingest_file, {rows:,} contacts, median of {repeat} alternating rounds")
    print(f"  without personal data: {plain:.2f} s ({rows / plain:,.0f} rows/s)")
    print(
        f"  + the three columns kept in clear ([pii] keep): {kept:.2f} s "
        f"({rows / kept:,.0f} rows/s, {kept / plain:.2f}x)"
    )
    print(
        f"  + Telefon, E-post (hashed), Kundens namn (dropped): {with_:.2f} s "
        f"({rows / with_:,.0f} rows/s, {with_ / plain:.2f}x; {with_ / kept:.2f}x the clear run)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--ingest-rows",
        type=int,
        default=0,
        help="also time ingest_file on a contacts CSV of this many rows with and without "
        "personal-data columns (phone, e-mail, name, a personnummer-free note)",
    )
    args = ap.parse_args()
    if args.ingest_rows:
        ingest_comparison(args.ingest_rows, args.seed, args.repeat)
        return
    frame = make_frame(args.rows, args.seed)
    key = b"0123456789abcdef" * 4
    kinds = {"phone": "phone", "email": "email"}
    a = hash_columns(frame, kinds, key)
    b = python_unique_hmac(frame, key)
    assert a.select("phone", "email").equals(b), "SQL HMAC and Python hmac disagree"
    assert (
        a["phone"].n_unique() == frame["phone"].str.replace_all(r"\D", "").str.slice(-7).n_unique()
    )
    # Alternating rounds (every variant once per round, medians at the end): a machine shared
    # with other jobs slows whole stretches of time, which would skew back-to-back blocks.
    variants: dict[str, Callable[[], object]] = {
        "base": lambda: old_salted(frame, "abcd" * 8),
        "new": lambda: hash_columns(frame, kinds, key),
        "every": lambda: [hmac_sql(normalise_for_hash(frame[c], k), key) for c, k in kinds.items()],
        "norm": lambda: [normalise_for_hash(frame[c], k) for c, k in kinds.items()],
        "py": lambda: python_unique_hmac(frame, key),
        "mask": lambda: mask_text(frame["note"]),
        "detect": lambda: [classify_values(frame[c]) for c in frame.columns],
    }
    runs: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeat):
        for name, fn in variants.items():
            runs[name].append(timed(fn, 1))
    med = {k: statistics.median(v) for k, v in runs.items()}
    base, new, every, norm = med["base"], med["new"], med["every"], med["norm"]
    py, mask, detect = med["py"], med["mask"], med["detect"]
    n = args.rows
    print(
        f"rows: {n:,}, 2 columns hashed (phone {a['phone'].n_unique():,} unique, e-mail "
        f"{a['email'].n_unique():,} unique), median of {args.repeat} alternating rounds"
    )
    print(f"old salted sha256 (baseline): {base:.3f} s")
    print(
        f"HMAC in DuckDB SQL, distinct values (hash_columns): {new:.3f} s  "
        f"({new / base:.2f}x baseline; normalising alone {norm:.3f} s)"
    )
    print(f"HMAC in DuckDB SQL, every row: {every:.3f} s  ({every / base:.2f}x baseline)")
    print(f"Python hmac on unique values: {py:.3f} s  ({py / base:.2f}x baseline)")
    print(f"mask_text on 1 note column:   {mask:.3f} s  ({mask / base:.2f}x baseline)")
    print(f"shape detection, 3 columns:   {detect * 1000:.1f} ms (first {1000} values each)")


if __name__ == "__main__":
    main()
