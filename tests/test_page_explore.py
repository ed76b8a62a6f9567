"""AppTest of the Explore page: tables equal query_kpis, filters change them consistently."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import streamlit as st
from conftest import start_page
from streamlit.testing.v1 import AppTest

from dashboard.downloads import to_csv_bytes, to_xlsx_bytes
from metrics.kpi_query import KpiRequest, query_kpis

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "explore.py"
SEP = (date(2026, 9, 1), date(2026, 10, 1))  # last full month of the sample world
TOL = 1e-9


@pytest.fixture
def app(sample_store, monkeypatch) -> AppTest:
    at = start_page(PAGE, sample_store.path, monkeypatch, errors_ok=True)
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def _assert_table_equals(shown, expected: pl.DataFrame, keys: list[str]) -> None:
    """The page's table (pandas, from AppTest) has exactly the query's rows and numbers."""
    got = pl.from_pandas(shown)
    # pandas holds dates as datetimes at midnight; compare as dates.
    got = got.with_columns(pl.col(pl.Datetime).cast(pl.Date)).sort(keys)
    expected = expected.sort(keys)
    assert got.height == expected.height > 0
    for key in keys:
        assert got[key].cast(pl.String).to_list() == expected[key].cast(pl.String).to_list()
    assert got["n"].to_list() == expected["n"].to_list()
    for col in ("value", "ci_low", "ci_high"):
        for a, b in zip(got[col].to_list(), expected[col].to_list(), strict=True):
            if b is None:
                assert a is None or a != a  # pandas shows a missing value as NaN
            else:
                assert a == pytest.approx(b, abs=TOL)
    assert got["small_sample"].to_list() == expected["small_sample"].to_list()


def test_explore_breakdown_table_equals_query_kpis(app, sample_store):
    ref = query_kpis(
        sample_store,
        KpiRequest(kpis=("nps",), by=("channel",), date_from=SEP[0], date_to=SEP[1]),
    )
    _assert_table_equals(app.dataframe[1].value, ref, ["channel"])


def test_explore_trend_table_equals_query_kpis_weekly_12_months(app, sample_store):
    ref = query_kpis(
        sample_store,
        KpiRequest(kpis=("nps",), grain="week", date_from=date(2025, 10, 1), date_to=SEP[1]),
    )
    _assert_table_equals(app.dataframe[0].value, ref, ["period"])
    # In people's words: no internal KPI name or empty reason column, statuses as words,
    # probabilities as per cent.
    shown = app.dataframe[0].value
    assert "kpi" not in shown.columns and "reason" not in shown.columns
    words = {"meets", "near", "misses", "unclear", ""}
    assert set(shown["status"]) <= words and set(shown["status"]) & (words - {""})
    shown_text = pa.ipc.open_stream(app.dataframe[0].proto.arrow_data.styler.display_values)
    p_meets = shown_text.read_all()["p_meets"].to_pylist()
    assert all(p.endswith(" %") for p in p_meets if p), p_meets[:5]


def test_explore_segment_filter_changes_values_consistently(app, sample_store):
    before = pl.from_pandas(app.dataframe[1].value)
    app.multiselect(key="flt_segment").set_value(["business"]).run()
    _ok(app)
    after = pl.from_pandas(app.dataframe[1].value)
    ref = query_kpis(
        sample_store,
        KpiRequest(
            kpis=("nps",),
            by=("channel",),
            date_from=SEP[0],
            date_to=SEP[1],
            filters={"segment": ("business",)},
        ),
    )
    _assert_table_equals(app.dataframe[1].value, ref, ["channel"])
    assert after["n"].sum() < before["n"].sum()
    # Independent count in plain SQL: September NPS answers of business customers by channel,
    # September in Stockholm days (CEST, UTC+2) on the stored UTC instants.
    rows = (
        sample_store.cursor()
        .execute(
            """SELECT c.channel, count(*) FROM surveys s
           JOIN contacts c USING (contact_id) JOIN customers u ON u.customer_id = s.customer_id
           WHERE s.nps IS NOT NULL AND u.segment = 'business'
             AND s.answered_at >= TIMESTAMP '2026-08-31 22:00:00'
             AND s.answered_at < TIMESTAMP '2026-09-30 22:00:00'
           GROUP BY 1"""
        )
        .fetchall()
    )
    shown = dict(zip(after["channel"].to_list(), after["n"].to_list(), strict=True))
    assert shown == {ch: n for ch, n in rows}


def test_explore_change_kpi_grain_dimension_tables_follow(app, sample_store):
    app.selectbox(key="ex_kpi").select("fcr").run()
    app.selectbox(key="ex_grain").select("month").run()
    app.selectbox(key="ex_dim").select("issue_type").run()
    _ok(app)
    trend = query_kpis(
        sample_store,
        KpiRequest(kpis=("fcr",), grain="month", date_from=date(2025, 10, 1), date_to=SEP[1]),
    )
    _assert_table_equals(app.dataframe[0].value, trend, ["period"])
    assert pl.from_pandas(app.dataframe[0].value)["period"].dt.day().to_list() == [1] * 12
    by_issue = query_kpis(
        sample_store,
        KpiRequest(kpis=("fcr",), by=("issue_type",), date_from=SEP[0], date_to=SEP[1]),
    )
    _assert_table_equals(app.dataframe[1].value, by_issue, ["issue_type"])
    # FCR target 0.80: the trend chart draws the target line and band.
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    shapes = spec["layout"]["shapes"]
    assert {s["type"] for s in shapes} == {"rect", "line"}
    assert any(s["type"] == "line" and s["y0"] == pytest.approx(0.8) for s in shapes)
    ribbon = [t for t in spec["data"] if t.get("fill") == "tonexty"]
    assert ribbon and ribbon[0]["y"] == pytest.approx(trend.sort("period")["ci_low"].to_list())


def test_explore_heatmap_greys_small_cells_like_query(app, sample_store):
    cross = query_kpis(
        sample_store,
        KpiRequest(kpis=("nps",), by=("channel", "issue_type"), date_from=SEP[0], date_to=SEP[1]),
    )
    _assert_table_equals(app.dataframe[2].value, cross, ["channel", "issue_type"])
    spec = json.loads(app.get("plotly_chart")[2].proto.spec)
    solid, grey, key = spec["data"]
    assert key["name"] == "n below 30: too few to judge"  # grey is named in the legend
    small = cross.filter(
        pl.col("small_sample")
        & pl.col("channel").is_not_null()
        & pl.col("issue_type").is_not_null()
    )
    assert small.height > 0
    greyed = sum(v is not None for row in grey["z"] for v in row)
    assert greyed == small.height
    for r in small.iter_rows(named=True):
        i, j = grey["y"].index(r["channel"]), grey["x"].index(r["issue_type"])
        assert grey["z"][i][j] == 1.0 and solid["z"][i][j] is None


def test_explore_unfilterable_kpi_warns_and_ignores_filter(app, sample_store):
    app.multiselect(key="flt_channel").set_value(["phone"]).run()
    app.selectbox(key="ex_kpi").select("churn_rate").run()
    _ok(app)
    assert "cannot be filtered by channel" in app.warning[0].value
    ref = query_kpis(
        sample_store,
        KpiRequest(kpis=("churn_rate",), by=("segment",), date_from=SEP[0], date_to=SEP[1]),
    )
    _assert_table_equals(app.dataframe[1].value, ref, ["segment"])


def test_explore_every_table_has_csv_and_xlsx_download(app):
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels.count("Download CSV") == 3 and labels.count("Download XLSX") == 3


def test_downloads_csv_and_xlsx_round_trip_values():
    df = pl.DataFrame({"channel": ["phone", "chatt åäö"], "value": [0.25, None], "n": [40, 3]})
    csv = to_csv_bytes(df)
    assert csv.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    back = pl.read_csv(io.BytesIO(csv[3:]))
    assert back.to_dicts() == df.to_dicts()
    xlsx = pl.read_excel(io.BytesIO(to_xlsx_bytes(df)))
    assert xlsx["channel"].to_list() == ["phone", "chatt åäö"]
    assert xlsx["value"].to_list() == [0.25, None]
    assert xlsx["n"].to_list() == [40, 3]


def test_filters_set_on_overview_apply_on_explore_via_router(sample_store, monkeypatch):
    monkeypatch.setenv("CX_DB", str(sample_store.path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE.parents[1] / "app.py"), default_timeout=120)
    at.run()
    _ok(at)
    assert at.title[0].value == "Overview"
    at.multiselect(key="flt_channel").set_value(["chat"]).run()
    at.switch_page("views/explore.py").run()
    _ok(at)
    assert at.title[0].value == "Explore"
    assert at.multiselect(key="flt_channel").value == ["chat"]
    ref = query_kpis(
        sample_store,
        KpiRequest(
            kpis=("nps",),
            by=("channel",),
            date_from=SEP[0],
            date_to=SEP[1],
            filters={"channel": ("chat",)},
        ),
    )
    _assert_table_equals(at.dataframe[1].value, ref, ["channel"])
    assert pl.from_pandas(at.dataframe[1].value)["channel"].to_list() == ["chat"]


def test_explore_date_range_filter_equals_query_for_that_range(app, sample_store):
    app.date_input(key="flt_dates").set_value((date(2026, 8, 1), date(2026, 8, 31))).run()
    _ok(app)
    ref = query_kpis(
        sample_store,
        KpiRequest(
            kpis=("nps",), by=("channel",), date_from=date(2026, 8, 1), date_to=date(2026, 9, 1)
        ),
    )
    _assert_table_equals(app.dataframe[1].value, ref, ["channel"])
    assert "1 Aug 2026 – 31 Aug 2026" in app.caption[0].value


def test_dimension_options_are_distinct_store_values_sorted(sample_store):
    from metrics.dimensions import date_extent, distinct_values

    raw = sample_store.cursor().execute("SELECT team, opened_at FROM contacts").fetchall()
    assert distinct_values(sample_store, "team") == tuple(sorted({t for t, _ in raw if t}))
    opened = [o for _, o in raw]
    first, last = date_extent(sample_store)
    assert first <= min(opened).date() and last >= max(opened).date()
    # Business (Stockholm) days: the last answers, late on 30 September UTC, fall on 1 October.
    assert (first, last) == (date(2025, 10, 1), date(2026, 10, 1))
    with pytest.raises(ValueError, match="unknown dimension 'colour'; expected one of channel"):
        distinct_values(sample_store, "colour")


def _breakdown_caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if "bars" in c.value.lower())


def test_explore_caption_for_a_kpi_without_target_says_so_not_small_samples(app):
    # AHT has no target: its bars are the plain colour, and the caption says why they are not
    # coloured by status; grey is mentioned only when a bar really is a small sample.
    app.selectbox(key="ex_kpi").select("aht").run()
    _ok(app)
    caption = _breakdown_caption(app)
    assert "no target here" in caption
    bars = json.loads(app.get("plotly_chart")[1].proto.spec)["data"]
    small = any(app.dataframe[1].value["small_sample"])
    assert ("Grey bars" in caption) == small
    assert "#c9ced6" not in bars[0]["marker"]["color"] or small
    assert "no target" in [d.get("name") for d in bars[1:]]


def test_explore_caption_for_a_kpi_with_target_points_to_the_status_legend(app):
    # NPS (the default) has a target: the bars take status colours, named in the legend.
    caption = _breakdown_caption(app)
    assert "status against the target" in caption and "no target here" not in caption
    names = [d.get("name") for d in json.loads(app.get("plotly_chart")[1].proto.spec)["data"]]
    assert set(names[1:]) & {"meets target", "near target", "misses target", "unclear vs target"}
