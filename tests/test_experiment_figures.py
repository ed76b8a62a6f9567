"""Experiment figures and metric definitions: built without Streamlit, data shown as given."""

from __future__ import annotations

import pytest

from dashboard.figures.experiments import (
    cumulative_figure,
    guardrail_figure,
    posterior_figure,
    segment_figure,
)
from experiments.metric_defs import get_metric

SERIES = [
    {
        "day": "2026-03-01",
        "prob_variant_better": 0.6,
        "lift": 0.01,
        "ci_low": -0.02,
        "ci_high": 0.04,
    },
    {"day": "2026-03-02", "prob_variant_better": 0.9, "lift": 0.02, "ci_low": 0.0, "ci_high": 0.04},
]


def test_cumulative_figure_plots_the_series_values() -> None:
    fig = cumulative_figure(SERIES)
    prob = next(t for t in fig.data if t.name == "P(better)")
    lift = next(t for t in fig.data if t.name == "lift")
    ribbon = next(t for t in fig.data if t.name == "credible interval")
    assert list(prob.y) == [0.6, 0.9] and list(lift.y) == [0.01, 0.02]
    assert list(ribbon.y) == [0.04, 0.04, 0.0, -0.02]  # upper edge, then lower edge reversed


def test_cumulative_figure_sequential_band_is_labelled_and_drawn_from_ci() -> None:
    series = [dict(p, interval="sequential", rule="O'Brien-Fleming boundary") for p in SERIES]
    fig = cumulative_figure(series, unit="share")
    ribbon = next(t for t in fig.data if t.name == "sequential 95 % interval")
    lift = next(t for t in fig.data if t.name == "lift")
    # A share's lift is drawn in percentage points: 0.04 -> 4 pp.
    assert list(ribbon.y) == pytest.approx([4.0, 4.0, 0.0, -2.0])
    assert list(lift.y) == pytest.approx([1.0, 2.0])
    assert fig.layout.yaxis2.title.text == "pp"
    assert list(lift.customdata[0]) == ["O'Brien-Fleming boundary"]
    assert "lift and sequential 95 % interval" in [a.text for a in fig.layout.annotations]


def test_posterior_figure_without_data_says_so() -> None:
    fig = posterior_figure({})
    assert fig.layout.annotations[-1].text == "not enough data for a posterior"
    fig = posterior_figure(
        {"x": [0, 1], "control": [1, 2], "variant": [2, 1], "lift_x": [-1, 1], "lift": [0.5, 0.5]},
        variant="callback",
    )
    assert [t.name for t in fig.data] == ["control", "callback", "lift"]


def _guard(metric: str, label: str, mean: float, lo: float, hi: float, tol: float, **kw):
    return {
        "metric": metric,
        "label": label,
        "tolerance": tol,
        "lower_is_better": kw.get("lower", False),
        "result": {
            "absolute_lift": {"mean": mean, "ci_low": lo, "ci_high": hi},
            "control": {"mean": kw.get("control", 0.7)},
        },
        "guardrail": {"passed": kw.get("passed", True), "relative": kw.get("relative", False)},
    }


def test_guardrail_figure_marks_failed_guardrail_red_and_tolerance_line() -> None:
    fig = guardrail_figure([_guard("csat", "CSAT (top-2-box)", -0.06, -0.1, -0.02, 0.02,
                                   passed=False)])  # fmt: skip
    assert fig.data[0].marker.color == "#cf222e"
    assert fig.data[0].x[0] == pytest.approx(-6.0)  # a share in percentage points
    tolerance = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert len(tolerance) == 1 and tolerance[0].x0 == pytest.approx(-2.0)
    assert fig.layout.xaxis.title.text == "pp"


def test_guardrail_figure_one_subplot_per_guardrail_in_its_own_unit() -> None:
    guards = [
        _guard("csat", "CSAT (top-2-box)", -0.01, -0.03, 0.01, 0.02),
        _guard("aht", "Average handle time", 12.0, 2.0, 22.0, 30.0, lower=True, control=446.0),
        _guard("ces", "Customer Effort Score", 0.1, 0.0, 0.2, 0.05, lower=True, relative=True,
               control=3.0, passed=False),
    ]  # fmt: skip
    fig = guardrail_figure(guards)
    assert [a.text for a in fig.layout.annotations] == [g["label"] for g in guards]
    assert [fig.layout[f"xaxis{i}" if i > 1 else "xaxis"].title.text for i in (1, 2, 3)] == [
        "pp",
        "s",
        "score",
    ]
    drawn = [t for t in fig.data if list(t.x) != [None]]
    xs = [t.x[0] for t in drawn]
    assert xs == pytest.approx([-1.0, 12.0, 0.1])
    edges = sorted(s.x0 for s in fig.layout.shapes if s.line.dash == "dash")
    # csat: -2 pp; aht: +30 s (lower is better); ces: 5 % of control 3.0 = +0.15.
    assert edges == pytest.approx([-2.0, 0.15, 30.0])
    assert [t.marker.color for t in drawn] == ["#1a7f37", "#1a7f37", "#cf222e"]
    # The legend names both colours and the dashed line.
    keys = [t.name for t in fig.data if list(t.x) == [None]]
    assert keys == ["holds", "not shown safe", "too much harm (the tolerance)"]


def test_segment_figure_shows_pooled_next_to_unpooled() -> None:
    rows = [
        {
            "dimension": "segment",
            "level": "consumer",
            "lift": 0.1,
            "ci_low": 0.0,
            "ci_high": 0.2,
            "pooled_mean": 0.08,
            "pooled_ci_low": 0.02,
            "pooled_ci_high": 0.14,
            "n_control": 10,
            "n_variant": 12,
        }
    ]
    fig = segment_figure(rows)
    assert [t.name for t in fig.data] == ["unpooled", "partially pooled"]
    assert fig.data[1].x[0] == 0.08
    assert list(fig.layout.yaxis.ticktext) == ["Segment: consumer"]  # the dimension's label


def test_get_metric_unknown_lists_valid_names() -> None:
    with pytest.raises(KeyError, match="unknown experiment metric 'joy'; expected one of: fcr"):
        get_metric("joy")


def test_posterior_figure_share_in_percent_and_pp_keeps_unit_area() -> None:
    import numpy as np

    x = np.linspace(0.0, 0.2, 201)
    dens = np.exp(-0.5 * ((x - 0.1) / 0.02) ** 2) / (0.02 * np.sqrt(2 * np.pi))
    lift_x = np.linspace(-0.05, 0.05, 201)
    lift = np.exp(-0.5 * (lift_x / 0.01) ** 2) / (0.01 * np.sqrt(2 * np.pi))
    post = {"x": x, "control": dens, "variant": dens, "lift_x": lift_x, "lift": lift}
    fig = posterior_figure(post, metric="FCR", unit="share")
    control, _, lift_trace = fig.data
    assert control.x[-1] == pytest.approx(20.0) and lift_trace.x[0] == pytest.approx(-5.0)
    # Densities rescale with their axis: each still integrates to 1 (trapezoid rule).
    assert np.trapezoid(control.y, control.x) == pytest.approx(1.0, abs=1e-3)
    assert np.trapezoid(lift_trace.y, lift_trace.x) == pytest.approx(1.0, abs=1e-3)
    assert (fig.layout.xaxis.title.text, fig.layout.xaxis2.title.text) == ("%", "pp")


def test_segment_figure_draws_a_shares_lift_in_percentage_points() -> None:
    row = {"dimension": "channel", "level": "phone", "lift": 0.012, "ci_low": 0.002}
    row |= {"ci_high": 0.022, "n_control": 10, "n_variant": 12}
    fig = segment_figure([row], "share")
    assert fig.data[0].x[0] == pytest.approx(1.2)  # 0.012 -> 1.2 pp
    assert fig.data[0].error_x.array[0] == pytest.approx(1.0)
    assert fig.layout.xaxis.title.text.endswith("(pp)")
    assert list(fig.layout.yaxis.ticktext) == ["Channel: Phone"]
