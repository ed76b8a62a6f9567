"""AppTests of the URL state: a link opens the same view, widgets write the URL, bad values warn.

Also the rows behind a cell on Explore (their count is the cell's n) and quarter grains.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from metrics.kpi_query import KpiRequest, query_kpis
from metrics.periods import kpi_series

ROOT = Path(__file__).resolve().parents[1] / "dashboard"
EXPLORE = ROOT / "views" / "explore.py"
EXPERIMENTS = ROOT / "views" / "experiment_list.py"
OVERVIEW = ROOT / "views" / "overview.py"
SEP = (date(2026, 9, 1), date(2026, 10, 1))


def _open(page: Path, db: Path, monkeypatch, **params) -> AppTest:
    """The page as a link with `params` opens it (a fresh session: a new tab or a refresh)."""
    monkeypatch.setenv("CX_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(page), default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _frame(element) -> pl.DataFrame:
    return pl.from_pandas(element.value).with_columns(pl.col(pl.Datetime).cast(pl.Date))


def _drilled(at: AppTest) -> pl.DataFrame:
    """The table of rows behind a cell (the one with a measure column per row)."""
    (table,) = [d for d in at.dataframe if {"kpi_counts", "kpi_value"} & set(d.value.columns)]
    return _frame(table)


def test_link_opens_explore_with_kpi_grain_breakdown_filter_and_dates(sample_store, monkeypatch):
    at = _open(
        EXPLORE,
        sample_store.path,
        monkeypatch,
        kpi="fcr",
        grain="month",
        by="issue_type",
        channel=["chat", "phone"],
        **{"from": "2026-08-01", "to": "2026-08-31"},
    )
    assert at.selectbox(key="ex_kpi").value == "fcr"
    assert at.selectbox(key="ex_grain").value == "month"
    assert at.selectbox(key="ex_dim").value == "issue_type"
    assert at.multiselect(key="flt_channel").value == ["chat", "phone"]
    assert at.date_input(key="flt_dates").value == (date(2026, 8, 1), date(2026, 8, 31))
    ref = query_kpis(
        sample_store,
        KpiRequest(
            kpis=("fcr",),
            by=("issue_type",),
            date_from=date(2026, 8, 1),
            date_to=date(2026, 9, 1),
            filters={"channel": ("chat", "phone")},
        ),
    )
    shown = _frame(at.dataframe[1]).sort("issue_type")
    assert shown["n"].to_list() == ref.sort("issue_type")["n"].to_list()
    assert shown["value"].to_list() == pytest.approx(ref.sort("issue_type")["value"].to_list())
    # The URL is left as the link gave it (nothing rewritten, nothing added but defaults).
    assert at.query_params["kpi"] == "fcr" and at.query_params["channel"] == ["chat", "phone"]


def test_changing_widgets_writes_the_url(sample_store, monkeypatch):
    at = _open(EXPLORE, sample_store.path, monkeypatch)
    # The default view: the period is explicit (a copied link keeps it), defaults are not.
    assert at.query_params == {"from": "2026-09-01", "to": "2026-09-30"}
    at.selectbox(key="ex_kpi").select("csat").run()
    at.selectbox(key="ex_grain").select("quarter").run()
    at.multiselect(key="flt_segment").set_value(["business"]).run()
    assert not at.exception and not at.error
    assert at.query_params["kpi"] == "csat"
    assert at.query_params["grain"] == "quarter"
    assert at.query_params["segment"] == "business"
    at.multiselect(key="flt_segment").set_value([]).run()
    assert "segment" not in at.query_params
    # A rerun with the URL as it now stands keeps the widgets (no re-adoption of old values).
    at.run()
    assert (
        at.selectbox(key="ex_kpi").value == "csat" and at.multiselect(key="flt_segment").value == []
    )


def test_bad_link_values_are_ignored_with_one_line_warnings(sample_store, monkeypatch):
    at = _open(
        EXPLORE,
        sample_store.path,
        monkeypatch,
        kpi="colour",
        grain="fortnight",
        channel=["chat", "pigeon"],
        **{"from": "2019-01-01", "to": "yesterday"},
    )
    warnings = [w.value for w in at.warning]
    assert any("kpi = “colour” was ignored: expected one of nps" in w for w in warnings)
    assert any("grain = “fortnight” was ignored" in w for w in warnings)
    assert any("channel = “pigeon” was ignored: not in the data" in w for w in warnings)
    assert any("from/to = “2019-01-01, yesterday” was ignored" in w for w in warnings)
    # The defaults stand, the valid part of the link is kept, and the URL is corrected.
    assert at.selectbox(key="ex_kpi").value == "nps" and at.multiselect(
        key="flt_channel"
    ).value == ["chat"]
    assert "kpi" not in at.query_params and at.query_params["from"] == "2026-09-01"


def test_date_link_past_the_data_is_cut_to_it(sample_store, monkeypatch):
    at = _open(
        EXPLORE, sample_store.path, monkeypatch, **{"from": "2026-08-01", "to": "2027-03-31"}
    )
    assert at.date_input(key="flt_dates").value == (date(2026, 8, 1), date(2026, 10, 1))
    assert not at.warning and at.query_params["to"] == "2026-10-01"


def test_named_period_link_stays_named_and_resolves_against_the_data(sample_store, monkeypatch):
    # The sample's last business day is 1 October 2026: last_quarter is July-September.
    at = _open(EXPLORE, sample_store.path, monkeypatch, period="last_quarter")
    assert at.date_input(key="flt_dates").value == (date(2026, 7, 1), date(2026, 9, 30))
    assert at.query_params.get("period") == "last_quarter" and "from" not in at.query_params
    at.date_input(key="flt_dates").set_value((date(2026, 8, 1), date(2026, 8, 31))).run()
    assert "period" not in at.query_params and at.query_params["to"] == "2026-08-31"


def test_quarter_grain_series_equals_query_with_partial_flags(sample_store, monkeypatch):
    at = _open(EXPLORE, sample_store.path, monkeypatch, grain="quarter", kpi="csat")
    shown = _frame(at.dataframe[0])
    ref = kpi_series(
        sample_store,
        KpiRequest(kpis=("csat",), grain="quarter", date_from=date(2025, 10, 1), date_to=SEP[1]),
    )
    assert shown["period"].to_list() == [
        date(2025, 10, 1),
        date(2026, 1, 1),
        date(2026, 4, 1),
        date(2026, 7, 1),
    ]
    assert shown["n"].to_list() == ref["n"].to_list()
    # The data runs 1 Oct 2025 - 1 Oct 2026 and the trend to 30 Sep: every quarter whole.
    assert shown["partial"].to_list() == [False] * 4
    # Monthly from a mid-month start: the first month is partial and drawn so.
    at.selectbox(key="ex_grain").select("month").run()
    at.selectbox(key="ex_window").select("period").run()
    at.date_input(key="flt_dates").set_value((date(2026, 8, 15), date(2026, 9, 30))).run()
    assert _frame(at.dataframe[0])["partial"].to_list() == [True, False]
    names = [tr.get("name") for tr in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert "partial period" in names


def test_drill_down_rows_count_is_the_cell_n_and_downloadable(sample_store, monkeypatch):
    at = _open(EXPLORE, sample_store.path, monkeypatch, kpi="csat")
    breakdown = _frame(at.dataframe[1])
    chat = breakdown.filter(pl.col("channel") == "chat").row(0, named=True)
    index = breakdown["channel"].to_list().index("chat") + 1
    at.selectbox(key="ex_drill_value").select(index).run()
    assert not at.exception and not at.error
    rows = _drilled(at)
    assert rows.height == chat["n"]
    assert rows["kpi_counts"].mean() == pytest.approx(chat["value"], abs=1e-12)
    assert f"{chat['n']:,} of {chat['n']:,} rows behind CSAT" in " ".join(
        c.value for c in at.caption
    )
    assert {"comment", "extras", "agent_id"}.isdisjoint(rows.columns)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels.count("Download CSV") == 4  # trend, breakdown, rows, channel × issue


def test_link_to_an_experiment_opens_its_readout(sample_store, monkeypatch):
    at = _open(EXPERIMENTS, sample_store.path, monkeypatch, experiment="chatbot_handoff")
    assert at.selectbox(key="exp_chosen").value == "chatbot_handoff"
    assert at.subheader[0].value.startswith("Decision:")
    at.selectbox(key="exp_chosen").select("callback_vs_queue").run()
    assert at.query_params["experiment"] == "callback_vs_queue"
    bad = _open(EXPERIMENTS, sample_store.path, monkeypatch, experiment="nope")
    assert any("experiment = “nope” was ignored" in w.value for w in bad.warning)


def test_overview_comparison_links_month_and_year(sample_store, monkeypatch):
    at = _open(OVERVIEW, sample_store.path, monkeypatch, compare="month")
    assert "compared with 1 Aug – 31 Aug 2026" in at.caption[0].value
    at.selectbox(key="flt_compare").select("year").run()
    assert at.query_params["compare"] == "year"
    # The sample starts in October 2025: September 2025 has no data, so no change is shown.
    assert "compared with 1 Sep – 30 Sep 2025" in at.caption[0].value
    assert all(m.delta in (None, "") for m in at.metric)
    at.selectbox(key="flt_compare").select("previous").run()
    assert "compare" not in at.query_params
    assert "compared with 2 Aug – 31 Aug 2026" in at.caption[0].value


def test_router_switching_pages_keeps_filters_and_drops_explore_params(sample_store, monkeypatch):
    at = _open(ROOT / "app.py", sample_store.path, monkeypatch)
    at.switch_page("views/explore.py").run()
    at.selectbox(key="ex_kpi").select("fcr").run()
    at.multiselect(key="flt_channel").set_value(["chat"]).run()
    assert at.query_params["kpi"] == "fcr" and at.query_params["channel"] == "chat"
    at.switch_page("views/overview.py").run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Overview"
    assert "kpi" not in at.query_params and at.query_params["channel"] == "chat"
    assert at.multiselect(key="flt_channel").value == ["chat"]


def test_picking_a_channel_issue_row_shows_the_rows_behind_that_cell(sample_store, monkeypatch):
    at = _open(EXPLORE, sample_store.path, monkeypatch, kpi="escalation_rate")
    cross = _frame(at.dataframe[2])
    index = next(
        i
        for i, r in enumerate(cross.iter_rows(named=True))
        if r["channel"] == "phone" and r["issue_type"] == "billing"
    )
    at.session_state["cross_table"] = {"selection": {"rows": [index], "columns": []}}
    at.run()
    assert not at.exception and not at.error
    rows = _drilled(at)
    cell = cross.row(index, named=True)
    assert rows.height == cell["n"]
    assert set(zip(rows["channel"], rows["issue_type"], strict=True)) == {("phone", "billing")}
    assert rows["kpi_counts"].mean() == pytest.approx(cell["value"], abs=1e-12)


def test_swedish_link_warns_in_swedish(sample_store, monkeypatch):
    at = _open(EXPLORE, sample_store.path, monkeypatch, lang="sv", kpi="färg", period="igår")
    warnings = " ".join(w.value for w in at.warning)
    assert "Länkens kpi = ”färg” användes inte: förväntade ett av nps" in warnings
    assert "Länkens period = ”igår” användes inte" in warnings
    assert at.title[0].value == "Utforska"
