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
    data, ref = fig.data
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


def test_retention_figure_small_sample_points_leave_the_solid_line():
    df = pl.DataFrame(
        {
            "cohort": [date(2025, 1, 1)] * 3,
            "months": [0, 1, 2],
            "n": [40, 40, 3],
            "retention": [1.0, 0.9, 0.0],
            "small_sample": [False, False, True],
        }
    )
    dotted, solid, points = retention_figure(df).data
    assert list(solid.y) == [1.0, 0.9, None]  # the n = 3 point is not on the solid line
    assert dotted.line.dash == "dot" and list(dotted.y) == [1.0, 0.9, 0.0]
    assert points.marker.color[2] == GREY
    assert "below the minimum sample of 30" in points.hovertext[2]


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
