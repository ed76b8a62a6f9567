"""AppTest of the Overview page: the cards show what `cx kpis` / query_kpis compute."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
import streamlit as st
from conftest import start_page
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from dashboard.cli.main import main as cx
from dashboard.figures.kpi import format_delta, format_value
from dashboard.i18n import value_label
from dashboard.kpi_cards import card_label
from metrics.catalogue import CATALOGUE
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.periods import compare_periods

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "overview.py"
# The sample world ends 2026-10-01 (conftest SAMPLE_KW): the last full month is September,
# compared with the 30 days before it.
SEP = (date(2026, 9, 1), date(2026, 10, 1))
PREV = (date(2026, 8, 2), date(2026, 9, 1))
# Cards are titled by the KPI's short name where it has one (English, as the page runs).
BY_LABEL = {card_label(k.name): k for k in CATALOGUE.values()}


@pytest.fixture
def app(sample_store, monkeypatch) -> AppTest:
    at = start_page(PAGE, sample_store.path, monkeypatch)
    return at


def _cards(at: AppTest) -> dict[str, object]:
    return {BY_LABEL[m.label].name: m for m in at.metric}


def test_overview_default_period_is_last_full_month_stated(app):
    assert "Current period **1 Sep 2026 – 30 Sep 2026**" in app.caption[0].value
    assert "2 Aug – 31 Aug 2026" in app.caption[0].value


def test_overview_cards_equal_cx_kpis_json(app, sample_store, capsys):
    rc = cx(
        [
            "kpis",
            "--db",
            str(sample_store.path),
            "--from",
            "2026-09-01",
            "--to",
            "2026-10-01",
            "--format",
            "json",
        ]
    )
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    expected = {r["kpi"]: r for r in rows if not CATALOGUE[r["kpi"]].implicit_dim}
    cards = _cards(app)
    assert set(cards) == set(expected)  # one card per KPI, every KPI of `cx kpis`
    assert len(cards) == 19  # 16 + live/written first response and live queue wait split
    for name, card in cards.items():
        unit = CATALOGUE[name].unit
        assert card.value == format_value(expected[name]["value"], unit), name
    # The n and the target under each card are the CLI's too.
    badges = " ".join(m.value for m in app.markdown)
    for name, r in expected.items():
        assert f"n = {r['n']:,}" in badges, name
    nps = expected["nps"]
    assert f"target {format_value(nps['target'], 'nps')} · n = {nps['n']:,}" in badges


def test_overview_delta_is_change_against_previous_window(app, sample_store):
    now = query_kpis(sample_store, KpiRequest(date_from=SEP[0], date_to=SEP[1]))
    before = query_kpis(sample_store, KpiRequest(date_from=PREV[0], date_to=PREV[1]))
    prev = {r["kpi"]: r["value"] for r in before.iter_rows(named=True) if r.get("channel") is None}
    cards = _cards(app)
    for r in now.iter_rows(named=True):
        if r["kpi"] not in cards:
            continue
        unit = CATALOGUE[r["kpi"]].unit
        delta = format_delta(r["value"] - prev[r["kpi"]], unit, like=r["value"])
        assert cards[r["kpi"]].proto.delta == delta


def test_overview_noise_delta_is_grey_real_delta_is_coloured(app, sample_store):
    cmp = compare_periods(sample_store, (), SEP[0], SEP[1], {})
    prob = {r["kpi"]: r["prob_real"] for r in cmp.iter_rows(named=True)}
    cards = _cards(app)
    kinds = set()
    for name, card in cards.items():
        real = prob[name] is not None and prob[name] >= 0.9
        kinds.add(real)
        assert ("probably real" if real else "probably noise") in card.help, name
        assert (card.proto.color == MetricProto.MetricColor.GRAY) is (not real), name
    # A better-is-lower KPI that rose for real is shown red (inverse), not green.
    for name, card in cards.items():
        if "probably real" in card.help and card.proto.delta.startswith("+"):
            good = CATALOGUE[name].direction == "higher"
            colour = MetricProto.MetricColor.GREEN if good else MetricProto.MetricColor.RED
            assert card.proto.color == colour, name
    assert kinds == {True, False}, "the sample has both noise and real changes"


def test_overview_missing_target_list_ordered_by_distance(app, sample_store):
    table = app.table[0].value  # st.table: formatted text
    assert list(table.columns[:2]) == ["KPI", "channel"]
    off = [float(x.replace(",", "")) for x in table["off by (× near tolerance)"]]
    assert off == sorted(off, reverse=True) and off
    assert set(table["status"]) <= {"near", "misses"}
    # Every KPI missing its target overall appears with channel "all".
    now = query_kpis(sample_store, KpiRequest(date_from=SEP[0], date_to=SEP[1]))
    missing = {
        CATALOGUE[r["kpi"]].label
        for r in now.iter_rows(named=True)
        if r["status"] in ("near", "misses") and not CATALOGUE[r["kpi"]].implicit_dim
    }
    assert missing == set(table[table["channel"] == "all"]["KPI"])


def test_overview_channel_mix_bars_shares_equal_query(app, sample_store):
    mix = query_kpis(
        sample_store, KpiRequest(kpis=("channel_mix",), date_from=SEP[0], date_to=SEP[1])
    )
    chart = app.get("vega_lite_chart")[-1].proto  # Vega-Lite: the page loads no Plotly
    rows = pa.ipc.open_stream(chart.data.data).read_all().to_pylist()
    shown = {r["channel"]: r["share"] for r in rows}
    # The bars name each channel in people's words (English here): "phone" -> "Phone".
    labels = [value_label("channel", c) for c in mix["channel"].to_list()]
    expected = dict(zip(labels, mix["value"].to_list(), strict=True))
    assert shown.keys() == expected.keys()
    for ch, v in expected.items():
        assert shown[ch] == pytest.approx(v, abs=1e-12)
    assert sum(shown.values()) == pytest.approx(1.0, abs=1e-9)


def test_overview_card_sparklines_are_the_last_12_months_oldest_first(app, sample_store):
    # The cards' own st.metric sparklines (no Plotly per card): the monthly values from
    # the month 12 months before the period's end, oldest first, empty months left out.
    trend = query_kpis(
        sample_store, KpiRequest(grain="month", date_from=date(2025, 10, 1), date_to=SEP[1])
    )
    cards = _cards(app)
    assert len(cards) >= 10
    for kpi, card in cards.items():
        series = trend.filter(pl.col("kpi") == kpi).drop_nulls("value").sort("period")
        expected = series["value"].to_list() if series.height > 1 else []
        assert list(card.proto.chart_data) == pytest.approx(expected, rel=1e-12), kpi
        assert card.proto.chart_type == MetricProto.ChartType.LINE
    assert not app.get("plotly_chart")


def test_overview_channel_filter_cards_equal_filtered_query(app, sample_store):
    app.multiselect(key="flt_channel").set_value(["phone"]).run()
    assert not app.exception and not app.error
    ref = query_kpis(
        sample_store,
        KpiRequest(date_from=SEP[0], date_to=SEP[1], filters={"channel": ("phone",)}),
    )
    expected = {
        r["kpi"]: r for r in ref.iter_rows(named=True) if not CATALOGUE[r["kpi"]].implicit_dim
    }
    cards = _cards(app)
    # Churn is a customer KPI: it cannot be filtered by channel, so its card goes.
    assert "churn_rate" not in cards
    assert set(cards) == set(expected)
    for name, card in cards.items():
        assert card.value == format_value(expected[name]["value"], CATALOGUE[name].unit), name
    assert cards["fcr"].value != format_value(
        query_kpis(sample_store, KpiRequest(kpis=("fcr",), date_from=SEP[0], date_to=SEP[1]))[
            "value"
        ][0],
        "share",
    )


@pytest.mark.parametrize("page", ["overview.py", "explore.py"])
def test_pages_on_empty_store_say_load_data_without_error(store, monkeypatch, page):
    monkeypatch.setenv("CX_DB", str(store.path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE.parent / page), default_timeout=120)
    at.run()
    assert not at.exception and not at.error
    assert "Load an export on the Data page" in at.info[0].value
    assert not at.metric


def test_overview_small_sample_cards_not_judged_with_reason(app, sample_store):
    # The region with the fewest September NPS answers, counted in plain SQL.
    region, answers = (
        sample_store.cursor()
        .execute(
            """SELECT u.region, count(*) FROM surveys s JOIN customers u USING (customer_id)
           WHERE s.nps IS NOT NULL AND s.answered_at >= DATE '2026-09-01'
             AND s.answered_at < DATE '2026-10-01'
           GROUP BY 1 ORDER BY 2, 1 LIMIT 1"""
        )
        .fetchall()[0]
    )
    assert answers < CATALOGUE["nps"].min_n
    app.multiselect(key="flt_region").set_value([region]).run()
    assert not app.exception and not app.error
    cards = _cards(app)
    assert f"n = {answers:,}" in next(
        m.value for m in app.markdown if m.value.startswith(":gray-badge[no status] target +20.0")
    )
    ref = query_kpis(
        sample_store,
        KpiRequest(date_from=SEP[0], date_to=SEP[1], filters={"region": (region,)}),
    )
    small = [r["kpi"] for r in ref.iter_rows(named=True) if r["kpi"] in cards and r["n"] < 30]
    assert "nps" in small
    notes = [m for m in app.markdown if "not judged]]" in m.value]
    assert len(notes) == len(small)
    assert all("is below the minimum sample of 30" in m.help for m in notes)
