"""Experiment figures and metric definitions: built without Streamlit, data shown as given."""

from __future__ import annotations

import pytest

from dashboard.figures.experiments import (
    cumulative_figure,
    guardrail_figure,
    posterior_figure,
    segment_figure,
)
from experiments.metrics import METRICS, catalogue_direction, get_metric
from metrics.catalogue import CATALOGUE

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
    ribbon = next(t for t in fig.data if t.name == "95 % interval")
    assert list(prob.y) == [0.6, 0.9] and list(lift.y) == [0.01, 0.02]
    assert list(ribbon.y) == [0.04, 0.04, 0.0, -0.02]  # upper edge, then lower edge reversed


def test_posterior_figure_without_data_says_so() -> None:
    fig = posterior_figure({})
    assert fig.layout.annotations[-1].text == "not enough data for a posterior"
    fig = posterior_figure(
        {"x": [0, 1], "control": [1, 2], "variant": [2, 1], "lift_x": [-1, 1], "lift": [0.5, 0.5]},
        variant="callback",
    )
    assert [t.name for t in fig.data] == ["control", "callback", "lift"]


def test_guardrail_figure_marks_failed_guardrail_red_and_tolerance_line() -> None:
    g = {
        "metric": "csat",
        "tolerance": 0.02,
        "lower_is_better": False,
        "result": {
            "absolute_lift": {"mean": -0.06, "ci_low": -0.1, "ci_high": -0.02},
            "control": {"mean": 0.7},
        },
        "guardrail": {"passed": False, "relative": False},
    }
    fig = guardrail_figure([g])
    assert fig.data[0].marker.color == "#cf222e"
    assert fig.layout.shapes[0].x0 == pytest.approx(-0.02)


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
    assert list(fig.layout.yaxis.ticktext) == ["segment: consumer"]


def test_metrics_agree_with_catalogue_direction() -> None:
    shared = [m for m in METRICS if m in CATALOGUE]
    assert {"fcr", "csat", "nps", "ces", "aht", "repeat_contact_rate"} <= set(shared)
    for name in shared:
        assert catalogue_direction(name) == METRICS[name].direction, name


def test_get_metric_unknown_lists_valid_names() -> None:
    with pytest.raises(KeyError, match="unknown experiment metric 'joy'; expected one of: fcr"):
        get_metric("joy")
