"""The Churn & CLV page through Streamlit's AppTest: what a manager sees, value by value."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from metrics.background import wait_for
from metrics.churn import (
    SWITCHING_REFERENCE,
    add_months,
    churn_breakdowns,
    data_end,
    data_start,
)
from metrics.clv import simple_clv
from metrics.clv_models import cached_clv, clv_cache_key
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.store import open_store

PAGE = str(Path(__file__).parents[1] / "dashboard" / "views" / "churn.py")


@pytest.fixture(autouse=True)
def _fresh_caches():
    # store_access.cached keys on the data version, not the file: two tmp stores at the
    # same version would share cached results within one test process.
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield


@pytest.fixture
def page_db(sample_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, path)
    monkeypatch.setenv("CX_DB", str(path))
    return path


# Each table is recognised by a column only it has.
TABLE_COLUMN = {
    "satisfaction_table": "reference",
    "simple_clv": "arpu",
    "what_if": "clv_after",
    "prob_clv": "value_mean",
}


def _frame(at: AppTest, name: str):
    for df in at.dataframe:
        if TABLE_COLUMN[name] in df.value.columns:
            return df.value
    raise AssertionError(f"the page shows no {name} table")


def test_churn_page_sample_shows_catalogue_churn_and_simple_clv(page_db):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    with open_store(page_db) as s:
        end = data_end(s)
        start = max(add_months(end, -24), data_start(s).replace(day=1))
        trend = query_kpis(
            s, KpiRequest(kpis=("churn_rate",), grain="month", date_from=start, date_to=end)
        )
        sat = query_kpis(s, KpiRequest(kpis=("churn_by_satisfaction",), by=("satisfaction_band",)))
        simple = simple_clv(s)
        breakdowns = churn_breakdowns(s)
    last = trend.sort("period").row(-1, named=True)
    # The trend starts with the exports, not 24 months of empty history.
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][-1]["x"][0] >= str(start)
    assert at.metric[0].label == f"Churn rate, {last['period']:%B %Y}"
    assert at.metric[0].value == f"{last['value']:.2%}"
    shown = _frame(at, "satisfaction_table")
    assert shown["satisfaction_band"].tolist() == sat["satisfaction_band"].to_list()
    assert shown["n"].tolist() == sat["n"].to_list()
    assert shown["reference"].tolist() == [
        SWITCHING_REFERENCE[b] for b in sat["satisfaction_band"].to_list()
    ]
    shown_clv = _frame(at, "simple_clv")
    assert shown_clv["segment"].tolist() == simple["segment"].to_list()
    assert shown_clv["clv"].tolist() == pytest.approx(simple["clv"].to_list(), rel=1e-12)
    # The what-if table: -20 % churn is +25 %, -30 % is +42.9 % on every segment with a CLV.
    what_if = _frame(at, "what_if")
    assert sorted(set(what_if["change_pct"].round(4))) == [0.25, 0.4286]
    # Every breakdown tab shows its cells with n.
    assert len(at.tabs) == 4
    tenure = breakdowns.filter(breakdowns["dimension"] == "tenure")
    assert at.tabs[0].dataframe[0].value["n"].tolist() == tenure["n"].to_list()
    # The probabilistic section waits for the button: nothing fitted on page load.
    assert "Not fitted yet" in at.info[0].value
    with open_store(page_db) as s:
        assert cached_clv(s, "map")[1] is None


def test_churn_page_fit_button_runs_background_fit_and_shows_segments(page_db):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.button[0].click().run()
    assert not at.exception
    from dashboard.store_access import get_store

    status = wait_for(get_store(), clv_cache_key("map"), timeout_s=120)
    assert status is not None and status.status == "done", status
    at.run()
    shown = _frame(at, "prob_clv")
    segments = [*status.result["segments"], status.result["total"]]
    assert shown["segment"].tolist() == [r["segment"] for r in segments]
    assert shown["value_mean"].tolist() == pytest.approx([r["value_mean"] for r in segments])
    assert shown["n"].tolist() == [r["n"] for r in segments]


def test_churn_page_empty_store_says_what_to_load(tmp_path, monkeypatch):
    open_store(tmp_path / "empty.duckdb").close()  # the app no longer creates a missing store
    monkeypatch.setenv("CX_DB", str(tmp_path / "empty.duckdb"))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "no customers yet" in at.info[0].value


def test_churn_page_tiny_store_flags_small_samples(tmp_path, monkeypatch):
    path = tmp_path / "tiny.duckdb"
    with open_store(path) as s, s.write() as cur:
        cur.execute(
            "INSERT INTO customers (customer_id, signup_date, segment, churned_at, "
            "monthly_revenue) VALUES ('a', DATE '2024-01-01', 'consumer', NULL, 100), "
            "('b', DATE '2024-02-01', 'consumer', DATE '2025-03-01', 100)"
        )
    monkeypatch.setenv("CX_DB", str(path))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "n below 30 are greyed" in at.caption[0].value
    clv = _frame(at, "simple_clv")
    assert clv["small_sample"].tolist() == [True]


def test_churn_page_modules_do_not_import_pymc():
    code = (
        "import sys, json; import dashboard.figures.churn, metrics.churn, metrics.clv, "
        "metrics.clv_models, metrics.background; print(json.dumps('pymc' in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    assert json.loads(out.stdout) is False
