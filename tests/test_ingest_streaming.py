"""Streaming ingest: a file read in many small chunks loads exactly as in one, all or nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import metrics.ingest.load as load_module
import metrics.ingest.readers as readers
from metrics.ingest import IngestError, ingest_file
from metrics.schema import INGEST_TABLES
from metrics.store import Store, open_store

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = ROOT / "sample_data" / "exports"
SMALL = 2048  # bytes per chunk: ~50 rows of these files, so every file spans many chunks


def snapshot(store: Store) -> tuple:
    cur = store.cursor()
    tables = [*INGEST_TABLES, "ingest_batches", "rejected_rows"]
    counts = tuple(cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables)
    return counts, store.data_version()


def _contacts(n: int) -> tuple[bytes, dict[str, object]]:
    """A contacts export with the awkward parts, and what the test knows about it.

    Quoted newlines and delimiters (a chunk must never cut inside them), blank lines (they
    count in row numbers), bad channels, a duplicate next to its first row and one far
    from it (another chunk), decimals.
    """
    lines = ["contact_id,channel,opened_at,wait_s,team,Note"]
    expected_bad = {}
    row = 0
    for i in range(n):
        if i % 97 == 50:
            lines.append("")  # a blank line: counted, not loaded
            row += 1
        row += 1
        key = f"K{i}"
        channel = "phone" if i % 3 else "chat"
        if i % 41 == 7:
            channel = "Fax"
            expected_bad[row] = "channel"
        if i == n - 10:
            key = "K5"  # duplicate of a row many chunks earlier
            expected_bad[row] = "contact_id"
        note = f'"line one\nline two, with comma {i}"' if i % 5 == 0 else f"n{i}"
        team = '"north, west"' if i % 7 == 0 else "south"
        lines.append(f"{key},{channel},2026-03-05 14:{i % 60:02d},{i % 17}.5,{team},{note}")
    return ("\n".join(lines) + "\n").encode(), {"bad": expected_bad}


def _load(tmp_path: Path, name: str, body: bytes, **kwargs):
    store = open_store(tmp_path / f"{name}.duckdb")
    report = ingest_file(
        store, body, table="contacts", file_name="c.csv", **kwargs, max_reject_share=1.0
    )
    cur = store.cursor()
    rows = cur.execute("SELECT * EXCLUDE (batch_id) FROM contacts ORDER BY contact_id").fetchall()
    rejected = cur.execute(
        "SELECT row_number, column_name, reason FROM rejected_rows ORDER BY row_number"
    ).fetchall()
    store.close()
    return report, rows, rejected


def test_many_chunks_load_exactly_what_one_chunk_loads(tmp_path, monkeypatch):
    body, known = _contacts(1_500)
    one, rows_one, rejected_one = _load(tmp_path, "one", body)
    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    many, rows_many, rejected_many = _load(tmp_path, "many", body)
    assert len(body) > 30 * SMALL
    assert rows_many == rows_one
    assert rejected_many == rejected_one
    counts = ("rows_read", "inserted", "updated", "unchanged", "rejected", "reason_counts")
    assert [getattr(many, c) for c in counts] == [getattr(one, c) for c in counts]
    # Independent of the code: the rows the generator made bad, by data row number.
    assert {r[0]: r[1] for r in rejected_many} == known["bad"]
    far = next(r for r in rejected_many if r[1] == "contact_id")
    assert far[2] == (
        "duplicate contact_id 'K5': row 6 with the same key is loaded; expected each key once "
        "per file"
    )
    # Quoted newlines and delimiters survived the cuts.
    team, extras = next((r[15], r[16]) for r in rows_many if r[0] == "K0")
    assert team == "north, west" and "line one\\nline two, with comma 0" in extras


def test_decimal_comma_holds_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    lines = ["contact_id;channel;opened_at;wait_s"]
    lines += [f"K{i};phone;2026-03-05 14:02;{i},5" for i in range(400)]
    lines.append("K400;phone;2026-03-05 14:02;1.250,5")  # '.' as thousands separator
    report, rows, _ = _load(tmp_path, "comma", "\n".join(lines).encode())
    assert (report.decimal, report.inserted) == (",", 401)
    waits = {r[0]: r[5] for r in rows}
    assert waits["K399"] == 399.5 and waits["K400"] == 1250.5


def test_time_formats_changing_from_chunk_to_chunk_load_as_in_one(tmp_path, monkeypatch):
    """Later chunks try the formats in the order earlier chunks ranked them (Plan.date_formats):
    a format first seen many chunks in, or one the earlier chunks used no more, still parses."""
    shapes = [
        lambda m: f"2026-03-05 14:{m:02d}:00",
        lambda m: f"03/05/2026 2:{m:02d} PM",
        lambda m: f"2026-03-05T14:{m:02d}:00Z",
        lambda m: f"2026-03-05 15:{m:02d}:00+01:00",
        lambda m: str(1772719200 + 60 * m),  # Unix seconds: 2026-03-05 14:00 UTC
    ]
    lines = ["contact_id,channel,opened_at"]
    for i in range(1_000):
        shape = shapes[i // 200] if i % 7 else shapes[i % 5]  # runs, with strays in between
        lines.append(f"K{i},phone,{shape(i % 60)}")
    body = "\n".join(lines).encode()
    one, rows_one, _ = _load(tmp_path, "one", body)
    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    many, rows_many, _ = _load(tmp_path, "many", body)
    assert len(body) > 10 * SMALL
    assert (many.inserted, many.rejected) == (one.inserted, one.rejected) == (1_000, 0)
    assert rows_many == rows_one
    assert {str(r[4]) for r in rows_many} == {f"2026-03-05 14:{m:02d}:00" for m in range(60)}


def test_decimal_point_after_a_decimal_comma_in_a_later_chunk_writes_nothing(store, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    lines = ["contact_id;channel;opened_at;wait_s"]
    lines += [f"K{i};phone;2026-03-05 14:02;{i},5" for i in range(300)]
    lines.append("K300;phone;2026-03-05 14:02;12.5")  # would load as 125 in ',' mode
    before = snapshot(store)
    with pytest.raises(IngestError) as err:
        ingest_file(store, "\n".join(lines).encode(), table="contacts", file_name="mix.csv")
    assert str(err.value) == (
        "mix.csv: row 301: wait_s '12.5' has a decimal point, but the first rows of the file "
        'use a decimal comma; expected one convention throughout (set decimal = "," or "." '
        "in a mapping file)"
    )
    assert snapshot(store) == before


def test_ragged_row_in_a_late_chunk_rolls_everything_back(store, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    body, _ = _contacts(1_000)
    body += b"K9999,phone,2026-03-05 14:02,1,south,note,extra\n"
    before = snapshot(store)
    with pytest.raises(IngestError) as err:
        ingest_file(store, body, table="contacts", file_name="late.csv")
    assert str(err.value) == (
        "late.csv: a row has more fields than the header's 6 columns (delimiter ','); "
        "expected every row to have as many fields as the header (quote values that contain "
        "the delimiter)"
    )
    assert snapshot(store) == before


def test_exception_in_the_third_chunk_rolls_everything_back(store, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    original = load_module.validate
    calls = []

    def third_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed in chunk 3 (injected)")
        return original(*args, **kwargs)

    monkeypatch.setattr(load_module, "validate", third_fails)
    body, _ = _contacts(1_000)
    before = snapshot(store)
    with pytest.raises(RuntimeError, match="chunk 3"):
        ingest_file(store, body, table="contacts", file_name="boom.csv")
    assert snapshot(store) == before
    tables = store.cursor().execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert ("__stage",) not in tables


def test_legacy_byte_in_a_late_chunk_starts_over_as_cp1252(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    rows = "".join(f"A{i},phone,2026-03-05 14:02,north\n" for i in range(600))
    body = (
        "contact_id,channel,opened_at,team\nBAD,Fax,2026-03-05 14:02,x\n"
        + rows
        + "Z1,Telefon,2026-03-05 14:02,Göteborg\n"
    ).encode("cp1252")
    store = open_store(tmp_path / "late.duckdb")
    report = ingest_file(store, body, table="contacts", file_name="late.csv")
    assert (report.encoding, report.inserted, report.rejected) == ("cp1252", 601, 1)
    cur = store.cursor()
    assert cur.execute("SELECT team FROM contacts WHERE contact_id = 'Z1'").fetchall() == [
        ("Göteborg",)
    ]
    # The first pass's rejected row was discarded with it: stored once.
    assert cur.execute("SELECT count(*) FROM rejected_rows").fetchall() == [(1,)]
    store.close()


@pytest.mark.parametrize(
    ("file", "table"), [("customers.xlsx", "customers"), ("invoices.parquet", "invoices")]
)
def test_xlsx_and_parquet_in_small_chunks_load_as_in_one(tmp_path, monkeypatch, file, table):
    def load(name: str):
        with open_store(tmp_path / f"{name}.duckdb") as store:
            report = ingest_file(store, EXPORTS / file, table=table, max_reject_share=1.0)
            rows = (
                store.cursor()
                .execute(f"SELECT * EXCLUDE (batch_id, extras) FROM {table} ORDER BY ALL")
                .fetchall()
            )
        return (report.rows_read, report.inserted, report.rejected), rows

    one = load("one")
    monkeypatch.setattr(readers, "CHUNK_ROWS", 3)
    assert load("many") == one and one[0][0] > 6


MEMORY_CHILD = textwrap.dedent(
    """
    import resource, sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    import polars as pl
    import metrics.ingest.readers as readers
    from metrics.ingest import ingest_file
    from metrics.store import open_store
    readers.CHUNK_BYTES = 256 << 10
    n = int(sys.argv[2])
    frame = pl.DataFrame({
        "contact_id": pl.int_range(0, n, eager=True).cast(pl.String),
        "channel": ["phone", "chat", "email", "Fax"] * (n // 4),
        "opened_at": ["2026-03-05 14:02:00"] * n,
        "wait_s": pl.int_range(0, n, eager=True).cast(pl.String) + ".5",
        "team": ["north", "south"] * (n // 2),
        "Note": ["a note that takes some room in the file"] * n,
    })
    path = Path(sys.argv[3]) / f"c{n}.csv"
    frame.write_csv(path)
    del frame
    with open_store(Path(sys.argv[3]) / f"s{n}.duckdb") as store:
        ingest_file(store, path.read_bytes()[:20_000], table="contacts", file_name="warm.csv", max_reject_share=1.0)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report = ingest_file(store, path, table="contacts", max_reject_share=1.0)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(report.rows_read, report.rejected, grown)
    """
)


def test_peak_memory_does_not_grow_with_the_file(tmp_path):
    """Peak RSS of a 400k-row ingest (26 MB) over its process after a warm-up ingest.

    Read whole, as before streaming, this file took ~400 MB more than the warm-up (about
    1 KB a row); in 256 KB chunks only the stage and key index grow with the rows.
    """

    def grown(n: int) -> int:
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(ROOT), str(n), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        rows, rejected, kb = map(int, out.stdout.split())
        assert (rows, rejected) == (n, n // 4)
        return kb

    kb = grown(400_000)
    print(f"peak RSS grew {kb // 1024} MB over the warm process")
    # The code before streaming: +312 MB on this file. Streaming: ~150 MB on a quiet machine
    # and up to ~220 MB on a loaded one (the allocators' arenas of the validation thread and
    # DuckDB's keep more when the threads overlap longer), so the line sits between.
    assert kb < 250 * 1024


def test_large_file_memory_cap_is_put_back_after_the_ingest(store, monkeypatch):
    monkeypatch.setattr(load_module, "LARGE_FILE_BYTES", 0)  # every file counts as large
    seen = []
    original = load_module.merge_stage

    def spy(cur, *args, **kwargs):
        seen.append(cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return original(cur, *args, **kwargs)

    monkeypatch.setattr(load_module, "merge_stage", spy)
    refresh = load_module.refresh_for_stage

    def refresh_spy(cur, *args, **kwargs):
        seen.append(cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
        return refresh(cur, *args, **kwargs)

    monkeypatch.setattr(load_module, "refresh_for_stage", refresh_spy)
    stage = load_module._stage_chunks

    def stage_spy(cur, *args, **kwargs):
        seen.append(("stage", cur.execute(query).fetchall()[0][0]))
        return stage(cur, *args, **kwargs)

    monkeypatch.setattr(load_module, "_stage_chunks", stage_spy)
    query = "SELECT current_setting('memory_limit')"
    before = store.cursor().execute(query).fetchall()
    for i in range(3):  # a rounded value put back each time would creep down
        body = f"contact_id,channel,opened_at\nA{i},phone,2026-03-05 14:02\n".encode()
        ingest_file(store, body, table="contacts", file_name="a.csv")
    # 512 MB while the chunks are staged, 768 MB once they are gone: three merges and two
    # gap refreshes (the first load's gaps come with its insert).
    stage, merge = ("stage", "488.2 MiB"), "732.4 MiB"
    assert seen == [stage, merge, stage, merge, merge, stage, merge, merge]
    assert store.cursor().execute(query).fetchall() == before


def test_repeat_gaps_of_an_ingest_in_hash_passes_equal_one_pass(tmp_path, monkeypatch):
    # Many customers, ties and re-loads: the gaps a large file gets in customer-hash passes
    # (repeats.PARTITION_ROWS forced down to 7 rows a pass) equal those of one pass, and the
    # first load's gaps (computed in its insert) equal a full rebuild.
    import random

    import metrics.repeats as repeats

    rng = random.Random(5)
    head = "contact_id,customer_id,issue_type,channel,opened_at\n"

    def body(ids: range) -> bytes:
        rows = [
            f"k{i},c{rng.randrange(60)},{rng.choice(['billing', 'order'])},phone,"
            f"2026-03-{1 + rng.randrange(9):02d} {rng.randrange(3) + 8:02d}:00"
            for i in ids
        ]
        return (head + "\n".join(rows) + "\n").encode()

    files = [body(range(400)), body(range(300, 700))]  # the second moves 100 contacts
    gaps = []
    for per_pass in (10**9, 7, 0):
        monkeypatch.setattr(repeats, "PARTITION_ROWS", per_pass)
        store = open_store(tmp_path / f"p{per_pass}.duckdb")
        for i, data in enumerate(files):
            ingest_file(store, data, table="contacts", file_name=f"f{i}.csv")
        if per_pass == 0:  # and a rebuild of every gap in one pass changes none of them
            monkeypatch.setattr(repeats, "PARTITION_ROWS", 10**9)
            with store.write() as cur:
                cur.execute("UPDATE contacts SET next_gap_s = NULL, prev_gap_s = NULL")
                repeats.refresh_repeats(cur)
        gaps.append(
            store.cursor()
            .execute("SELECT contact_id, next_gap_s, prev_gap_s FROM contacts ORDER BY 1")
            .fetchall()
        )
        store.close()
    assert gaps[0] == gaps[1] == gaps[2]
    assert sum(1 for _, n, p in gaps[0] if n is not None or p is not None) > 500


def test_first_load_gaps_equal_a_rebuild_across_chunks_duplicates_and_rejects(
    tmp_path, monkeypatch
):
    # The first load joins its gaps by the stage rowid (merge._derive): with many chunks, rows
    # the validator rejects, a duplicate the stage drops, same-instant ties and contacts
    # without a customer or issue type, every gap equals a rebuild's from the stored rows.
    import random

    from metrics.repeats import refresh_repeats

    monkeypatch.setattr(readers, "CHUNK_BYTES", SMALL)
    monkeypatch.setattr(load_module, "LARGE_FILE_BYTES", 0)  # the cap and its settings too
    rng = random.Random(12)
    rows = []
    for i in range(900):
        customer = rng.choice(["", *(f"c{n}" for n in range(40))])
        issue = rng.choice(["", "billing", "order"])
        channel = "fax" if i % 97 == 5 else "phone"  # rejected
        rows.append(
            f"k{i},{customer},{issue},{channel},"
            f"2026-03-{1 + rng.randrange(5):02d} {rng.randrange(4) + 8:02d}:00"
        )
    rows.insert(800, rows[3])  # the same key again, chunks later: dropped from the stage
    data = ("contact_id,customer_id,issue_type,channel,opened_at\n" + "\n".join(rows)).encode()
    store = open_store(tmp_path / "gaps.duckdb")
    report = ingest_file(store, data, table="contacts", file_name="c.csv", max_reject_share=0.1)
    assert report.rejected == 11 and report.inserted == 890  # 10 faxes and the duplicate
    query = "SELECT contact_id, next_gap_s, prev_gap_s FROM contacts ORDER BY 1"
    loaded = store.cursor().execute(query).fetchall()
    with store.write() as cur:
        cur.execute("UPDATE contacts SET next_gap_s = NULL, prev_gap_s = NULL")
        refresh_repeats(cur)
    assert loaded == store.cursor().execute(query).fetchall()
    assert sum(1 for _, n, p in loaded if n == 0.0 and p == 0.0) > 20  # ties were there
    store.close()
