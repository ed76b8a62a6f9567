"""Ingest does no Python work per row: the count of Python calls does not grow with the file."""

from __future__ import annotations

import itertools
import sys
import threading
import tracemalloc
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from metrics.ingest import ingest_file
from metrics.store import open_store


def _contacts_csv(rows: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1)
    opened = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86400 * 30, 50)]
    frame = pl.DataFrame(
        {
            "contact_id": pl.int_range(0, rows, eager=True).cast(pl.String),
            "channel": rng.choice(["Telefon", "chat", "E-post", "Fax"], rows),
            "opened_at": pl.Series([o.strftime("%Y-%m-%d %H:%M") for o in opened]).sample(
                rows, with_replacement=True, seed=seed
            ),
            "wait_s": np.round(rng.exponential(60, rows), 1),
            "resolved": rng.choice(["ja", "nej"], rows),
            "E-mail": rng.choice(["a@b.se", "c@d.se"], rows),
            "Note": rng.choice(["x", "y"], rows),
        }
    )
    return frame.write_csv().encode()


def _python_calls(store, body: bytes) -> tuple[int, int]:
    """Python-level calls made by one ingest, in this thread and the threads it starts."""
    counter = itertools.count()

    def count(frame, event, arg):  # noqa: ARG001 - signature fixed by sys.setprofile
        if event in ("call", "c_call"):
            next(counter)  # atomic under the GIL, unlike += on a shared int

    sys.setprofile(count)
    threading.setprofile(count)
    try:
        report = ingest_file(
            store, body, table="contacts", file_name="scale.csv", max_reject_share=1.0
        )
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return next(counter), report.rejected


def test_ingest_python_calls_do_not_grow_with_rows(tmp_path):
    small, large = _contacts_csv(2_000, seed=1), _contacts_csv(40_000, seed=2)
    with open_store(tmp_path / "a.duckdb") as a, open_store(tmp_path / "b.duckdb") as b:
        _python_calls(a, _contacts_csv(200, seed=3))  # warm imports and caches
        _python_calls(b, _contacts_csv(200, seed=3))
        calls_small, rejected_small = _python_calls(a, small)
        calls_large, rejected_large = _python_calls(b, large)
    # About a quarter of the rows are "Fax" and rejected in both files, so both take the
    # same code paths; 20x the rows may cost a few more calls (row-number lists of the
    # first reasons), never 20x as many.
    assert rejected_small > 300 and rejected_large > 6_000
    assert calls_large < calls_small * 1.2 + 200, (calls_small, calls_large)


def _python_heap_peak(store, body: bytes) -> int:
    """Peak bytes allocated by Python objects during one ingest (polars/DuckDB buffers excluded)."""
    tracemalloc.start()
    try:
        ingest_file(store, body, table="contacts", file_name="heap.csv", max_reject_share=1.0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_ingest_python_heap_does_not_grow_with_rows(tmp_path):
    small, large = _contacts_csv(2_000, seed=1), _contacts_csv(40_000, seed=2)
    with open_store(tmp_path / "a.duckdb") as a, open_store(tmp_path / "b.duckdb") as b:
        ingest_file(
            a,
            _contacts_csv(200, seed=3),
            table="contacts",
            file_name="warm.csv",
            max_reject_share=1.0,
        )
        ingest_file(
            b,
            _contacts_csv(200, seed=3),
            table="contacts",
            file_name="warm.csv",
            max_reject_share=1,
        )
        heap_small, heap_large = _python_heap_peak(a, small), _python_heap_peak(b, large)
    # 40,000 rows as Python strings alone would take several MB; the rows stay in Arrow
    # buffers, so the Python heap peak is the same few hundred KB for both files.
    assert len(large) > 1_500_000
    assert heap_large < heap_small + 256 * 1024, (heap_small, heap_large)
