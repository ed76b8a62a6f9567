"""`cx clv fit` and `cx clv show`: JSON equal to the library's results, readable errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dashboard.cli.main import main
from metrics.clv import simple_clv
from metrics.store import open_store


@pytest.fixture
def db(sample_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, path)
    return path


def test_cx_clv_show_json_before_fit_has_simple_and_no_probabilistic(db, capsys):
    assert main(["clv", "show", "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    with open_store(db) as s:
        want = simple_clv(s)
    assert [r["segment"] for r in out["simple"]] == want["segment"].to_list()
    assert [r["clv"] for r in out["simple"]] == pytest.approx(want["clv"].to_list())
    assert {r["churn_reduction"] for r in out["what_if"]} == {0.2, 0.3}
    assert out["probabilistic"] is None


def test_cx_clv_fit_then_show_returns_cached_fit(db, capsys):
    assert main(["clv", "fit", "--db", str(db), "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["method"] == "map" and fit["n_customers"] > 2000
    assert set(fit["bgnbd"]) == {"r", "alpha", "a", "b"}
    seg_n = sum(r["n"] for r in fit["segments"])
    assert seg_n == fit["total"]["n"]
    assert main(["clv", "show", "--db", str(db), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["probabilistic"]
    assert shown["current"] is True
    assert shown["segments"] == fit["segments"]


def test_cx_clv_show_text_lists_segments_and_what_if(db, capsys):
    assert main(["clv", "show", "--db", str(db)]) == 0
    out = capsys.readouterr()
    with open_store(db) as s:
        want = simple_clv(s)
    for rec in want.iter_rows(named=True):
        line = next(ln for ln in out.out.splitlines() if ln.strip().startswith(rec["segment"]))
        assert f"{rec['clv']:,.0f}" in line
        assert f"{rec['clv'] / 0.8:,.0f}" in line and f"{rec['clv'] / 0.7:,.0f}" in line
    assert "not fitted yet" in out.err


def test_cx_clv_fit_empty_store_is_one_line_error(tmp_path, capsys):
    open_store(tmp_path / "empty.duckdb").close()
    code = main(["clv", "fit", "--db", str(tmp_path / "empty.duckdb")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "cx clv: error: the CLV fit failed: ClvModelError: the invoices table has 0 customers "
        "with invoices; probabilistic CLV needs at least 10"
    ]
