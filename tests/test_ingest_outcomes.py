"""Issue 10 item 4: a batch with more than 1 % of its rows rejected writes nothing (exit 3),
the reasons grouped by cause; --max-reject-share accepts more; --json error objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.cli.main import main
from metrics.ingest import RejectShareExceeded, ingest_file
from metrics.ingest.errors import IngestError, RejectGroup
from metrics.store import Store, open_store

HEADER = "contact_id,channel,opened_at,wait_s,resolved_at"


def _csv(
    path: Path,
    n: int,
    *,
    bad_channel: tuple[int, ...] = (),
    bad_wait: tuple[int, ...] = (),
    wait: str = "12",
) -> Path:
    """n contacts; data row i (1 = first under the header) is K<i>; the listed rows are bad."""
    rows = [HEADER]
    for i in range(1, n + 1):
        channel = "telepathy" if i in bad_channel else "phone"
        w = "abc" if i in bad_wait else wait
        rows.append(f"K{i},{channel},2026-03-0{1 + i % 9} 10:00,{w},")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _snapshot(store: Store) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every table in the store."""
    cur = store.cursor()
    tables = [
        r[0]
        for r in cur.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary"
        ).fetchall()
    ]
    out = {}
    for t in tables:
        n, digest = cur.execute(
            f"SELECT count(*), md5(COALESCE(string_agg(CAST(t AS VARCHAR), '|' ORDER BY "
            f"CAST(t AS VARCHAR)), '')) FROM \"{t}\" t"
        ).fetchall()[0]
        out[t] = (int(n), str(digest))
    return out


# -- the gate: hand-computed shares ------------------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "bad", "refused"),
    [
        (200, 2, False),  # 2 / 200 = 1.0 %: exactly the limit loads
        (200, 3, True),  # 3 / 200 = 1.5 %
        (1000, 10, False),  # 10 / 1000 = 1.0 %
        (1000, 11, True),  # 11 / 1000 = 1.1 %
        (100, 0, False),
    ],
)
def test_reject_gate_exactly_one_percent_loads_just_above_is_refused(
    store: Store, tmp_path: Path, rows: int, bad: int, refused: bool
) -> None:
    path = _csv(tmp_path / "c.csv", rows, bad_channel=tuple(range(2, 2 + bad)))
    if refused:
        with pytest.raises(RejectShareExceeded) as info:
            ingest_file(store, path, table="contacts")
        exc = info.value
        assert (exc.rows, exc.rejected, exc.limit) == (rows, bad, 0.01)
        assert exc.share == pytest.approx(bad / rows)
        assert store.cursor().execute("SELECT count(*) FROM ingest_batches").fetchall() == [(0,)]
        assert store.cursor().execute("SELECT count(*) FROM contacts").fetchall() == [(0,)]
    else:
        report = ingest_file(store, path, table="contacts")
        assert (report.rows_read, report.inserted, report.rejected) == (rows, rows - bad, bad)


def test_reject_groups_by_column_and_reason_with_counts_and_first_rows(
    store: Store, tmp_path: Path
) -> None:
    # wait_s bad in 6 rows (60 is bad in channel too), channel bad in 4: 9 rows of 300 (3 %).
    path = _csv(
        tmp_path / "g.csv",
        300,
        bad_channel=(7, 60, 100, 250),
        bad_wait=(5, 9, 40, 41, 200, 60),
    )
    with pytest.raises(RejectShareExceeded) as info:
        ingest_file(store, path, table="contacts")
    exc = info.value
    assert (exc.rows, exc.rejected) == (300, 9)
    assert exc.share == pytest.approx(0.03)
    assert [(g.column, g.count, g.examples) for g in exc.groups] == [
        ("wait_s", 6, (5, 9, 40)),
        ("channel", 4, (7, 60, 100)),
    ]
    assert exc.groups[0].reason.startswith("wait_s '…' is not a number of seconds")
    assert exc.groups[1].reason.startswith("channel '…' is not known")
    text = str(exc)
    assert text.startswith(
        "g.csv: 9 of 300 rows (3.0%) would be rejected, more than the accepted 1.0%; "
        "nothing was loaded"
    )
    assert "6 rows: wait_s '…' is not a number of seconds" in text
    assert "(e.g. rows 5, 9, 40)" in text and "(e.g. rows 7, 60, 100)" in text
    assert "--max-reject-share 0.03" in text
    assert (exc.file, exc.column) == ("g.csv", "wait_s, channel")


def test_max_reject_share_accepts_more_and_loads_the_good_rows(
    store: Store, tmp_path: Path
) -> None:
    path = _csv(tmp_path / "g.csv", 50, bad_channel=(1, 2, 3, 4, 5))  # 10 %
    with pytest.raises(RejectShareExceeded):
        ingest_file(store, path, table="contacts", max_reject_share=0.09)
    report = ingest_file(store, path, table="contacts", max_reject_share=0.1)
    assert (report.inserted, report.rejected) == (45, 5)
    # The share the refusal reports is enough to accept it (1 of 12 as a float).
    twelve = _csv(tmp_path / "twelve.csv", 12, bad_channel=(5,))
    with pytest.raises(RejectShareExceeded) as info:
        ingest_file(store, twelve, table="contacts")
    assert info.value.share == 1 / 12
    again = ingest_file(store, twelve, table="contacts", max_reject_share=info.value.share)
    assert (again.inserted + again.unchanged, again.rejected) == (11, 1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        ingest_file(store, path, table="contacts", max_reject_share=1.5)


def test_refused_batch_leaves_every_table_unchanged(store: Store, tmp_path: Path) -> None:
    ingest_file(store, _csv(tmp_path / "first.csv", 100), table="contacts")
    before = _snapshot(store)
    assert before["contacts"][0] == 100 and before["ingest_batches"][0] == 1
    # Would update all 100 stored rows (new wait) and insert 100 more, with 5 % rejected.
    second = _csv(tmp_path / "second.csv", 200, bad_wait=tuple(range(1, 11)), wait="99")
    with pytest.raises(RejectShareExceeded):
        ingest_file(store, second, table="contacts")
    assert _snapshot(store) == before


def test_cross_column_reason_shows_both_values(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "contact_id,channel,opened_at,resolved_at\n"
        "K1,phone,2024-03-02 09:00,2024-03-01 10:00\n"
        "K2,phone,2024-03-02 09:00,2024-03-02 10:00\n",
        encoding="utf-8",
    )
    report = ingest_file(store, path, table="contacts", max_reject_share=1.0)
    assert report.reasons[0]["reason"] == (
        "resolved_at '2024-03-01 10:00' is before opened_at '2024-03-02 09:00'; "
        "expected resolved_at ≥ opened_at"
    )


def test_ingest_error_fields_from_message_and_to_dict() -> None:
    exc = IngestError("f.csv: the file is empty; expected a header row", file="f.csv")
    assert exc.to_dict() == {
        "error": "f.csv: the file is empty; expected a header row",
        "file": "f.csv",
        "column": None,
        "expected": "a header row",
    }
    assert IngestError("x", row=4).to_dict()["row"] == 4
    g = RejectGroup("channel", "channel '…' is not known", 1, (3,))
    assert g.to_text() == "1 row: channel '…' is not known (e.g. row 3)"


# -- the command line ------------------------------------------------------------------------
def _db(tmp_path: Path) -> Path:
    db = tmp_path / "cx.duckdb"
    open_store(db).close()
    return db


def test_cli_too_many_rejected_exits_3_with_groups_and_writes_nothing(tmp_path, capsys) -> None:
    db = _db(tmp_path)
    path = _csv(tmp_path / "g.csv", 100, bad_wait=(3, 4))
    code = main(["ingest", str(path), "--table", "contacts", "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 3 and out == ""
    assert err.startswith("cx ingest: error: g.csv: 2 of 100 rows (2.0%) would be rejected")
    assert "2 rows: wait_s '…'" in err and "(e.g. rows 3, 4)" in err
    with open_store(db) as s:
        assert s.cursor().execute("SELECT count(*) FROM ingest_batches").fetchall() == [(0,)]
    code = main(["ingest", str(path), "--table", "contacts", "--db", str(db), "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert code == 3
    assert (obj["file"], obj["rows"], obj["rejected"], obj["limit"]) == ("g.csv", 100, 2, 0.01)
    assert obj["groups"] == [
        {"column": "wait_s", "reason": obj["groups"][0]["reason"], "count": 2, "examples": [3, 4]}
    ]
    assert obj["expected"] == "at most 1.0% of the rows rejected"
    code = main(
        ["ingest", str(path), "--table", "contacts", "--db", str(db), "--max-reject-share", "0.02"]
    )
    assert code == 0
    assert "98 inserted" in capsys.readouterr().out


@pytest.mark.parametrize("share", ["1.5", "-0.1", "abc"])
def test_cli_max_reject_share_is_validated(tmp_path, capsys, share) -> None:
    path = _csv(tmp_path / "g.csv", 10)
    with pytest.raises(SystemExit) as info:
        main(["ingest", str(path), "--table", "contacts", "--max-reject-share", share])
    assert info.value.code == 2
    assert "expected a share between 0 and 1" in capsys.readouterr().err


def test_cli_json_whole_file_failure_is_an_object_on_stdout_exit_2(tmp_path, capsys) -> None:
    db = _db(tmp_path)
    path = tmp_path / "nochannel.csv"
    path.write_text("contact_id,opened_at\nK1,2026-03-01 10:00\n", encoding="utf-8")
    code = main(["ingest", str(path), "--table", "contacts", "--db", str(db), "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and err == ""
    obj = json.loads(out)
    assert set(obj) == {"error", "file", "column", "expected"}
    assert obj["file"] == "nochannel.csv" and obj["column"] == "channel"
    assert obj["error"].startswith("nochannel.csv: missing required column")
    assert obj["expected"].startswith("a header contacts knows for channel")


def test_missing_column_says_what_to_write_in_the_mapping(tmp_path, capsys) -> None:
    """The file column that looks like the missing one (by value shape: channel words) is
    named in a [columns] line; with no candidate the line has a placeholder to fill in."""
    db = _db(tmp_path)
    path = tmp_path / "medium.csv"
    path.write_text(
        "contact_id,opened_at,Medium\nK1,2026-03-01 10:00,phone\nK2,2026-03-01 11:00,email\n",
        encoding="utf-8",
    )
    assert main(["ingest", str(path), "--table", "contacts", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert '[columns] "Medium" = "channel".' in err
    assert err.count("\n") == 1  # one line
    path.write_text("contact_id,opened_at\nK1,2026-03-01 10:00\n", encoding="utf-8")
    assert main(["ingest", str(path), "--table", "contacts", "--db", str(db)]) == 2
    assert '[columns] "<file column>" = "channel".' in capsys.readouterr().err
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\n"Medium" = "channel"\n', encoding="utf-8")
    path.write_text("contact_id,opened_at,Medium\nK1,2026-03-01 10:00,phone\n", encoding="utf-8")
    args = ["ingest", str(path), "--table", "contacts", "--db", str(db), "--mapping"]
    assert main([*args, str(mapping)]) == 0


def test_field_limit_error_carries_file_column_and_row(store: Store, tmp_path: Path) -> None:
    from dataclasses import replace

    from metrics.ingest.readers import DEFAULT_LIMITS

    path = _csv(tmp_path / "long.csv", 5)
    text = path.read_text(encoding="utf-8").replace("K3,phone", "K3," + "p" * 40)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IngestError) as info:
        ingest_file(
            store, path, table="contacts", limits=replace(DEFAULT_LIMITS, max_field_bytes=20)
        )
    assert info.value.to_dict() | {"error": ""} == {
        "error": "",
        "file": "long.csv",
        "column": "channel",
        "expected": "shorter values (a quote left open makes the rest of the file one value)",
        "row": 3,
    }


def test_cli_json_empty_file_is_an_object_without_column(tmp_path, capsys) -> None:
    db = _db(tmp_path)
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    code = main(["ingest", str(path), "--table", "contacts", "--db", str(db), "--json"])
    obj = json.loads(capsys.readouterr().out)
    assert code == 2
    assert obj["file"] == "empty.csv" and obj["column"] is None
    assert obj["expected"] == "a header row with column names and at least one data row"


def test_rows_the_merge_refuses_count_too_and_roll_back_the_merge(
    store: Store, tmp_path: Path
) -> None:
    ingest_file(store, _csv(tmp_path / "first.csv", 100), table="contacts")
    before = _snapshot(store)
    # Insert-only: the 100 stored keys with a new wait are refused by the merge (after it ran),
    # 2 new keys load: 100 of 102 refused.
    again = _csv(tmp_path / "again.csv", 102, wait="99")
    with pytest.raises(RejectShareExceeded) as info:
        ingest_file(store, again, table="contacts", insert_only=True)
    exc = info.value
    assert (exc.rows, exc.rejected) == (102, 100)
    assert [(g.column, g.count, g.examples) for g in exc.groups] == [("wait_s", 100, (1, 2, 3))]
    assert _snapshot(store) == before
    report = ingest_file(store, again, table="contacts", insert_only=True, max_reject_share=1.0)
    assert (report.inserted, report.rejected) == (2, 100)
