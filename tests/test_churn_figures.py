"""Figure builders of the Churn & CLV page, without Streamlit: the data lands in the traces."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dashboard.figures.churn import (
    churn_breakdown_figure,
    clv_interval_figure,
    retention_figure,
    satisfaction_figure,
    what_if_figure,
)
from dashboard.figures.kpi import GREY
from metrics.churn import SWITCHING_REFERENCE


def test_satisfaction_figure_pairs_data_with_seed_reference_and_greys_small_cells():
    df = pl.DataFrame(
        {
            "satisfaction_band": ["very dissatisfied", "very satisfied"],
            "value": [0.31, 0.05],
            "n": [12, 400],
            "ci_low": [0.1, 0.03],
            "ci_high": [0.6, 0.07],
            "small_sample": [True, False],
        }
    )
    fig = satisfaction_figure(df, SWITCHING_REFERENCE)
    data, ref, key = fig.data
    assert key.name == "n below 30: too few to judge" and key.marker.color == GREY
    assert fig.layout.xaxis.type == "category"
    assert list(data.x) == ["very dissatisfied", "very satisfied"]
    assert list(data.y) == [0.31, 0.05]
    assert list(ref.y) == [0.73, 0.04]
    assert data.marker.color[0] == GREY and data.marker.color[1] != GREY
    assert list(data.text) == ["n=12", "n=400"]
    assert "below the minimum sample of 30" in data.hovertext[0]
    assert list(data.error_y.array) == pytest.approx([0.29, 0.02])


def test_churn_breakdown_figure_undefined_rate_shows_dash():
    df = pl.DataFrame(
        {
            "dimension": ["tenure", "tenure"],
            "band": ["≤ 2 years", "> 2 years"],
            "n": [40, 3],
            "churned": [4, 0],
            "rate": [0.1, None],
            "rate_unit": ["per customer-month"] * 2,
            "small_sample": [False, True],
        }
    )
    fig = churn_breakdown_figure(df, "tenure")
    bar = fig.data[0]
    assert list(bar.x) == [0.1, None]
    assert bar.hovertext[1].startswith("> 2 years: — per customer-month (0 of n = 3)")
    assert bar.marker.color[1] == GREY


def test_retention_figure_one_line_per_cohort_latest_only():
    rows = [
        {
            "cohort": date(2025, m, 1),
            "months": k,
            "n": 50,
            "retention": 1 - 0.02 * k,
            "small_sample": False,
        }
        for m in range(1, 4)
        for k in range(3)
    ]
    fig = retention_figure(pl.DataFrame(rows), max_cohorts=2)
    assert [t.name for t in fig.data if t.showlegend is not False] == ["Feb 2025", "Mar 2025"]
    assert list(fig.data[0].y) == pytest.approx([1.0, 0.98, 0.96])


def test_retention_figure_small_cohort_is_grey_and_dotted_with_a_legend_key():
    df = pl.DataFrame(
        {
            "cohort": [date(2025, 1, 1)] * 3 + [date(2025, 2, 1)] * 3,
            "months": [0, 1, 2] * 2,
            "n": [40, 40, 40, 12, 12, 12],
            "retention": [1.0, 0.9, 0.85, 1.0, 0.75, 0.5],
            "small_sample": [False] * 3 + [True] * 3,
        }
    )
    big, big_points, dotted, solid, points, key = retention_figure(df).data
    assert list(big.y) == [1.0, 0.9, 0.85]
    assert list(solid.y) == [None, None, None]  # the n = 12 cohort is not a solid line
    assert dotted.line.dash == "dot" and list(dotted.y) == [1.0, 0.75, 0.5]
    assert list(points.marker.color) == [GREY] * 3
    assert "below the minimum sample of 30" in points.hovertext[2]
    assert key.name == "n below 30: too few to judge" and key.marker.color == GREY


def test_retention_figure_leaves_out_a_partly_observed_month():
    # retention_by_cohort's last month of a cohort holds only the customers who signed up
    # early enough in the month to be observed (n = 3 of 40): drawn, it jumped back to 100 %.
    df = pl.DataFrame(
        {
            "cohort": [date(2025, 1, 1)] * 4,
            "months": [0, 1, 2, 3],
            "n": [40, 40, 40, 3],
            "retention": [1.0, 0.9, 0.8, 1.0],
            "small_sample": [False, False, False, True],
        }
    )
    fig = retention_figure(df)
    for trace in fig.data:
        assert list(trace.x) == [0, 1, 2], trace.name
    assert list(fig.data[0].y) == [1.0, 0.9, 0.8]
    assert all(list(tr.x) != [None] for tr in fig.data)  # no grey left, so no grey key


def test_churn_breakdown_figure_reminder_bands_are_categories_with_2_plus():
    df = pl.DataFrame(
        {
            "dimension": ["reminders"] * 3,
            "band": ["0", "1", "2+"],
            "n": [900, 300, 12],
            "churned": [9, 6, 2],
            "rate": [0.01, 0.02, 2 / 12],
            "rate_unit": ["within 90 days"] * 3,
            "small_sample": [False, False, True],
        }
    )
    fig = churn_breakdown_figure(df, "reminders")
    axis = fig.layout.yaxis
    assert axis.type == "category" and list(axis.categoryarray) == ["0", "1", "2+"]
    assert list(fig.data[0].y) == ["0", "1", "2+"]
    assert fig.data[0].showlegend is False  # no "trace 0" beside the grey key
    assert fig.data[-1].name == "n below 30: too few to judge"


def test_churn_breakdown_figure_last_channel_in_words():
    df = pl.DataFrame(
        {
            "dimension": ["last contact channel"] * 2,
            "band": ["phone", "email"],
            "n": [500, 200],
            "churned": [50, 10],
            "rate": [0.1, 0.05],
            "rate_unit": ["churned in window"] * 2,
            "small_sample": [False, False],
        }
    )
    fig = churn_breakdown_figure(df, "last contact channel")
    assert list(fig.layout.yaxis.ticktext) == ["Phone", "E-mail"]
    assert len(fig.data) == 1  # one colour, nothing grey: no legend needed


def test_what_if_figure_bars_today_and_each_reduction():
    wi = pl.DataFrame(
        {
            "segment": ["consumer", "consumer"],
            "churn_reduction": [0.2, 0.3],
            "clv": [1000.0, 1000.0],
            "clv_after": [1250.0, 1000 / 0.7],
            "change_pct": [0.25, 0.3 / 0.7],
        }
    )
    fig = what_if_figure(wi)
    assert [t.name for t in fig.data] == ["today", "churn −20 %", "churn −30 %"]
    assert list(fig.data[1].y) == [1250.0] and list(fig.data[2].text) == ["+43 %"]


def test_clv_interval_figure_null_interval_is_tolerated():
    segs = [
        {"segment": "consumer", "n": 100, "value_mean": 50.0, "ci_low": 45.0, "ci_high": 56.0},
        {"segment": "partner", "n": 5, "value_mean": 20.0, "ci_low": None, "ci_high": None},
    ]
    fig = clv_interval_figure(segs, 12)
    bar = fig.data[0]
    assert list(bar.error_y.array) == [6.0, None]
    assert bar.marker.color[1] == GREY
    assert "12-month" in fig.layout.title.text
