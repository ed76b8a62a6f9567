"""Readout wording: lifts and values in each metric's unit, dates and days, decision default."""

from __future__ import annotations

from datetime import date

import pytest

from experiments.plan_validation import Experiment
from experiments.readout_view import (
    default_decision,
    format_interval,
    format_lift,
    format_p,
    format_prob,
    format_relative,
    format_value,
    interval_name,
    metric_unit,
    timeline,
    units_text,
)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.0812, "share", "+8.1 pp"),
        (-0.00456, "share", "-0.5 pp"),
        (-4.05e-20, "share", "0.0 pp"),  # floating-point noise around an exact zero
        (-0.0004, "share", "0.0 pp"),  # rounds to zero at the shown precision: no sign
        (-74.4, "seconds", "-1.2 min"),
        (-44.4, "seconds", "-44 s"),
        (900.0, "seconds", "+15.0 min"),
        (1.25, "hours", "+1.2 h"),
        (3.04, "nps", "+3.0 points"),
        (-0.123, "score", "-0.12"),
        (0.5, "contacts", "+0.50 contacts"),
        (float("nan"), "share", "—"),
        (None, "share", "—"),
    ],
)
def test_format_lift_in_the_metrics_unit(value, unit, expected) -> None:
    assert format_lift(value, unit) == expected


def test_lifts_values_intervals_and_probabilities_in_swedish() -> None:
    assert format_lift(0.0812, "share", "sv") == "+8,1 p.e."
    assert format_lift(-74.4, "seconds", "sv") == "-1,2 min"
    assert format_value(0.6821, "share", "sv") == "68,2 %"
    assert format_interval(-0.012, 0.034, "share", "sv") == "-1,2 till +3,4 p.e."
    # Both ends in one scale: -30 s reads as -0.5 min beside +6.3 min.
    assert format_interval(-30.0, 380.0, "seconds", "en") == "-0.5 to +6.3 min"
    assert format_prob(0.9432, "sv") == "94,3 %"
    assert format_prob(0.99996) == "> 99.9 %"


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.6821, "share", "68.2 %"),
        (446.2, "seconds", "7.4 min"),
        (44.6, "seconds", "45 s"),
        (12.34, "nps", "+12.3"),
        (-3.0, "nps", "-3.0"),
        (66.44, "index", "66.4"),
        (3.456, "score", "3.46"),
        (1e-300, "share", "0.0 %"),
    ],
)
def test_format_value_in_the_metrics_unit(value, unit, expected) -> None:
    assert format_value(value, unit) == expected


def test_relative_and_p_values() -> None:
    assert format_relative(-0.166) == "-16.6 %"
    assert format_relative(-0.166, "sv") == "-16,6 %"
    assert format_relative(2e-18) == "0.0 %"
    assert format_p(5.92e-9) == "< 0.001" and format_p(float("nan")) == "—"
    assert format_p(0.01234) == "0.0123" and format_p(0.5, "sv") == "0,500"


def test_metric_units_come_from_the_metric_and_old_names_resolve() -> None:
    assert metric_unit("fcr") == "share" and metric_unit("aht") == "seconds"
    assert metric_unit("churn_rate") == "share"  # the old name of churn_90d
    assert metric_unit("joy") == ""


def _exp(start: str | None, end: str | None) -> Experiment:
    return Experiment(
        "e",
        "E",
        "fcr",
        start_date=date.fromisoformat(start) if start else None,
        end_date=date.fromisoformat(end) if end else None,
    )


def test_timeline_days_running_counts_both_ends_and_stops_at_the_end_date() -> None:
    today = date(2026, 6, 10)
    ended = timeline(_exp("2026-03-01", "2026-03-31"), today)
    assert (ended.days, ended.text) == (31, "2026-03-01 to 2026-03-31: ran 31 days")
    running = timeline(_exp("2026-06-01", "2026-07-01"), today)
    assert running.days == 10
    assert running.text == "started 2026-06-01, running 10 days, planned end 2026-07-01"
    assert timeline(_exp("2026-06-01", None), today).text.endswith("no end date")
    assert timeline(_exp(None, "2026-07-01"), today).text == "not started; planned end 2026-07-01"
    assert timeline(_exp("2026-07-01", None), today).days == 0


def test_default_decision_maps_the_recommendation_to_a_registry_decision() -> None:
    assert default_decision("ship") == "ship"
    assert default_decision("stop") == "stop"
    assert default_decision("keep running") == "keep_running"
    assert default_decision(None) == "keep_running"


def test_units_text_and_interval_name() -> None:
    assert units_text({"control": 1503, "callback": 1497}) == "control 1,503 · callback 1,497 units"
    assert units_text({"control": 1503}, "sv") == "control 1\u00a0503 enheter"
    assert interval_name([{"interval": "sequential"}]) == "sequential 95 % interval"
    assert interval_name([{}]) == "credible interval"
