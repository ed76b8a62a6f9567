"""Quick calculator page: what the user sees equals the engine's numbers and verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

# Import the package before the page runs: AppTest puts dashboard/views on sys.path, where the
# Experiments page (experiments.py) would otherwise shadow the `experiments` package.
from experiments.stats import (
    BinaryStats,
    CategoryCounts,
    MeanStats,
    analyze_binary,
    analyze_mean,
    analyze_nps,
    verdict,
)

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "views" / "calculator.py")


@pytest.fixture
def at() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=30).run()


def _metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def _pct(p: float) -> str:
    """A probability as the page writes it in English, one decimal and a spaced per cent."""
    assert 0.001 < p < 0.999  # away from the "> 99.9 %" / "< 0.1 %" bounds
    return f"{p * 100:.1f} %"


def test_calculator_binary_counts_show_engine_prob_and_verdict(at):
    at.number_input(key="bin_control_n").set_value(2000)
    at.number_input(key="bin_control_x").set_value(200)
    at.number_input(key="bin_variant_n").set_value(2000)
    at.number_input(key="bin_variant_x").set_value(250).run()
    assert not at.exception
    r = analyze_binary(BinaryStats(2000, 200), BinaryStats(2000, 250))
    assert _metric(at, "Chance the variant is better") == _pct(r.prob_variant_better)
    assert at.info[0].value == verdict(r)
    assert "very likely better" in at.info[0].value
    assert _metric(at, "Difference") == f"{r.absolute_lift.mean * 100:+.2f} pp"
    # Two figures: arm densities and the lift density, whose x grid spans the interval.
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    lift = json.loads(charts[1].proto.spec)["data"][0]
    assert min(lift["x"]) < r.absolute_lift.ci_low < r.absolute_lift.ci_high < max(lift["x"])


def test_calculator_lower_is_better_flips_probability(at):
    at.checkbox(key="lower").check().run()
    r = analyze_binary(BinaryStats(1000, 100), BinaryStats(1000, 120), lower_is_better=True)
    assert _metric(at, "Chance the variant is better") == _pct(r.prob_variant_better)
    assert at.info[0].value == verdict(r)


def test_calculator_nps_counts_show_engine_prob(at):
    at.radio(key="family").set_value("NPS").run()
    for key, v in {
        "nps_control_p": 100,
        "nps_control_pa": 50,
        "nps_control_d": 50,
        "nps_variant_p": 90,
        "nps_variant_pa": 50,
        "nps_variant_d": 60,
    }.items():
        at.number_input(key=key).set_value(v)
    at.run()
    r = analyze_nps(CategoryCounts(100, 50, 50), CategoryCounts(90, 50, 60))
    assert _metric(at, "Chance the variant is better") == _pct(r.prob_variant_better)
    assert at.info[0].value == verdict(r)


def test_calculator_mean_from_mean_and_sd(at):
    at.radio(key="family").set_value("Average (e.g. handle time)").run()
    at.checkbox(key="lower").check().run()
    n, m1, s1, m2, s2 = 150, 300.0, 120.0, 285.0, 110.0
    at.number_input(key="mean_control_n").set_value(n)
    at.number_input(key="mean_variant_n").set_value(n)
    at.number_input(key="mean_variant_sd").set_value(s2).run()
    c = MeanStats(n, n * m1, (n - 1) * s1**2 + n * m1**2)
    v = MeanStats(n, n * m2, (n - 1) * s2**2 + n * m2**2)
    r = analyze_mean(c, v, lower_is_better=True)
    assert _metric(at, "Chance the variant is better") == _pct(r.prob_variant_better)
    assert at.info[0].value == verdict(r)


def test_calculator_impossible_counts_show_error_not_traceback(at):
    at.number_input(key="bin_control_x").set_value(5000).run()
    assert not at.exception
    assert at.error[0].value == (
        "Please check the numbers: Control: successes (5,000) cannot exceed units (1,000)."
    )
    assert not at.metric and not at.get("plotly_chart")
    # The typed number stays as typed: nothing is substituted for it.
    assert at.number_input(key="bin_control_x").value == 5000


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("bin_variant_n", -5, "Variant: units (n) cannot be negative (got -5)"),
        ("bin_control_x", -1, "Control: successes cannot be negative (got -1)"),
        ("nps_control_d", -3, "Control: detractors cannot be negative (got -3)"),
        ("mean_variant_sd", -2.5, "Variant: the standard deviation cannot be negative (got -2.5)"),
    ],
)
def test_calculator_negative_numbers_are_rejected_not_clamped(at, key, value, message):
    family = {"bin": 0, "mean": 1, "nps": 2}[key.split("_")[0]]
    at.radio(key="family").set_value(
        ["Conversion rate (yes/no)", "Average (e.g. handle time)", "NPS"][family]
    ).run()
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    assert message in at.error[0].value
    assert not at.metric
    assert at.number_input(key=key).value == value


def test_calculator_reports_both_arms_problems_at_once(at):
    at.number_input(key="bin_control_x").set_value(2000)
    at.number_input(key="bin_variant_n").set_value(-1).run()
    error = at.error[0].value
    assert "Control: successes (2,000) cannot exceed units (1,000)" in error
    assert "Variant: units (n) cannot be negative (got -1)" in error


def test_calculator_empty_arms_show_message(at):
    at.number_input(key="bin_control_n").set_value(0)
    at.number_input(key="bin_control_x").set_value(0).run()
    assert not at.exception
    assert "control has no observations" in at.warning[0].value


def test_posterior_curves_integrate_to_one_and_figures_hold_them():
    import numpy as np

    from dashboard.figures.posterior import arms_figure, lift_figure
    from experiments.stats.curves import posterior_curves

    c, v = BinaryStats(400, 40), BinaryStats(400, 55)
    curves = posterior_curves(c, v)
    x, lx = np.array(curves.x), np.array(curves.lift_x)
    # Densities over the central 99.98 % (arms) and ±4.5 sd (lift) integrate to ≈ 1.
    assert np.trapezoid(curves.control, x) == pytest.approx(1.0, abs=2e-3)
    assert np.trapezoid(curves.variant, x) == pytest.approx(1.0, abs=2e-3)
    assert np.trapezoid(curves.lift, lx) == pytest.approx(1.0, abs=2e-3)
    r = analyze_binary(c, v)
    fig = lift_figure(curves, r)
    assert [t.name for t in fig.data] == ["lift", "95 % interval"]
    shaded = np.array(fig.data[1].x)
    assert r.absolute_lift.ci_low <= shaded.min() and shaded.max() <= r.absolute_lift.ci_high
    assert [t.name for t in arms_figure(curves).data] == ["control", "variant"]


def test_posterior_curves_none_without_a_posterior():
    from experiments.stats.curves import posterior_curves

    assert posterior_curves(MeanStats(1, 1.0, 1.0), MeanStats(5, 5.0, 6.0)) is None


def test_calculator_mean_with_too_few_units_shows_na_and_reason(at):
    at.radio(key="family").set_value("Average (e.g. handle time)").run()
    at.number_input(key="mean_control_n").set_value(2).run()
    assert not at.exception
    assert _metric(at, "Chance the variant is better") == "n/a"
    assert "at least 3 observations" in at.warning[0].value
    assert at.info[0].value.startswith("No answer yet")
