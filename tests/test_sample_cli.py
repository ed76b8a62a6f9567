"""`cx sample`: writes the sample world, prints the row counts, and protects a non-empty store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.cli.main import main
from metrics.store import open_store

ARGS = ["sample", "--customers", "300", "--months", "3", "--seed", "3", "--end", "2026-10-01"]


def _counts(db: Path) -> dict[str, int]:
    with open_store(db) as s:
        cur = s.cursor()
        return {
            t: cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("customers", "contacts", "surveys", "invoices", "experiments", "assignments")
        }


def test_cx_sample_json_counts_match_store(tmp_path: Path, capsys) -> None:
    db = tmp_path / "cx.duckdb"
    assert main([*ARGS, "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == _counts(db)
    assert out["rows"]["customers"] == 300 and out["rows"]["experiments"] == 4


def test_cx_sample_text_lists_every_table(tmp_path: Path, capsys) -> None:
    db = tmp_path / "cx.duckdb"
    assert main([*ARGS, "--db", str(db)]) == 0
    text = capsys.readouterr().out
    counts = _counts(db)
    for table, n in counts.items():
        assert f"{table}" in text and f"{n:,}" in text


def test_cx_sample_non_empty_store_refused_without_replace(tmp_path: Path, capsys) -> None:
    db = tmp_path / "cx.duckdb"
    assert main([*ARGS, "--db", str(db)]) == 0
    before = _counts(db)
    capsys.readouterr()
    assert main(["sample", "--customers", "500", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "already holds data" in err and "--replace" in err and "Traceback" not in err
    assert _counts(db) == before  # nothing written
    assert main(["sample", "--customers", "500", "--months", "3", "--db", str(db),
                 "--replace", "--json"]) == 0  # fmt: skip
    after = _counts(db)
    assert after["customers"] == 500
    assert json.loads(capsys.readouterr().out)["rows"] == after


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--customers", "0"], "customers must be between 1"),
        (["--months", "0"], "months must be between 1"),
    ],
)
def test_cx_sample_bad_numbers_clear_error(tmp_path: Path, capsys, extra, message) -> None:
    assert main(["sample", "--db", str(tmp_path / "cx.duckdb"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_cx_sample_bad_end_date_rejected_by_parser(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sample", "--db", str(tmp_path / "cx.duckdb"), "--end", "2026-13-01"])
    assert exc.value.code == 2
    assert "expected a date YYYY-MM-DD, got '2026-13-01'" in capsys.readouterr().err
