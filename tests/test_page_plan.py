"""AppTest of the Plan page: sizes shown equal plan_experiment(); saving creates a draft."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import start_page
from streamlit.testing.v1 import AppTest

from experiments.plan import plan_experiment
from experiments.registry import get_experiment, list_experiments

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "plan.py"


@pytest.fixture
def app(sample_store, monkeypatch) -> AppTest:
    at = start_page(PAGE, sample_store.path, monkeypatch)
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_plan_page_default_fcr_sizes_equal_plan_experiment(app, sample_store) -> None:
    # Default: FCR, MDE 5 % of the baseline, 50/50.
    expected = plan_experiment(sample_store, "fcr", 0.05, mde_relative=True, split=(0.5, 0.5))
    assert _metric(app, "Sample size per arm") == f"{expected.n_per_arm:,}"
    assert _metric(app, "Total units") == f"{expected.n_total:,}"
    assert _metric(app, "Expected duration") == f"{math.ceil(expected.expected_days)} days"
    assert _metric(app, "Assurance") == f"{expected.assurance * 100:.0f} %"  # 0 < p < 0.995


def test_plan_page_relative_mde_on_aht(app, sample_store) -> None:
    app.selectbox[1].select("aht").run()
    app.number_input[0].set_value(0.1).run()
    assert not app.error, [e.value for e in app.error]
    expected = plan_experiment(sample_store, "aht", 0.1, mde_relative=True, split=(0.5, 0.5))
    assert _metric(app, "Sample size per arm") == f"{expected.n_per_arm:,}"


def test_plan_page_start_creates_running_experiment(app, sample_store) -> None:
    app.text_input[0].input("Free first reminder").run()
    next(b for b in app.button if b.label == "Start").click().run()
    assert not app.error, [e.value for e in app.error]
    exp = get_experiment(sample_store, "free_first_reminder")
    assert (exp.status, exp.primary_metric, [g.metric for g in exp.guardrails]) == (
        "running",
        "fcr",
        ["csat"],
    )
    expected = plan_experiment(sample_store, "fcr", 0.05, mde_relative=True)
    assert exp.planned_n == expected.n_total
    assert exp.mde == pytest.approx(expected.mde, rel=1e-12)  # stored in the metric's units
    assert exp.start_date == date.today() and exp.end_date == date.today() + timedelta(days=42)
    assert f"Saved free_first_reminder (running), {exp.start_date} to {exp.end_date}." in [
        s.value for s in app.success
    ]


def test_plan_page_missing_name_and_bad_split_show_errors(app, sample_store) -> None:
    app.text_input[2].input("0.6, 0.6").run()
    # Flagged at once, and no size is computed from a split that is not a split.
    assert "adds up to 1.2" in app.error[0].value and not app.metric
    next(b for b in app.button if b.label == "Save as draft").click().run()
    errors = " ".join(e.value for e in app.error)
    assert "Not saved" in errors and "name is required" in errors
    assert len(list_experiments(sample_store)) == 4  # nothing saved


def test_plan_page_split_for_the_wrong_number_of_variants_is_flagged(app) -> None:
    app.text_input[2].input("0.3, 0.3, 0.4").run()
    assert "3 shares for 2 variants" in app.error[0].value


def test_plan_page_window_over_a_year_is_refused(app, sample_store) -> None:
    app.text_input[0].input("Forever test")
    app.date_input[1].set_value(date.today() + timedelta(days=400)).run()
    assert "401 days; more than 365 days" in app.error[0].value
    next(b for b in app.button if b.label == "Start").click().run()
    assert any("Not saved" in e.value and "the window" in e.value for e in app.error)
    assert len(list_experiments(sample_store)) == 4


def test_plan_page_end_date_short_of_the_duration_says_what_it_reaches(app, sample_store):
    est = plan_experiment(sample_store, "fcr", 0.05, mde_relative=True, split=(0.5, 0.5))
    window = 43  # the default window: today and the 42 days after it
    assert est.expected_days > window  # the default plan needs longer than its window
    reach = int(est.eligible_per_day * window * 0.5)
    warning = app.warning[0].value
    assert f"is {window} days, but {est.n_total:,} units need about" in warning
    assert f"about {reach:,} per arm, not {est.n_per_arm:,}" in warning
    app.date_input[1].set_value(date.today() + timedelta(days=math.ceil(est.expected_days))).run()
    assert not app.warning


def test_plan_page_tiny_mde_flags_a_duration_over_a_year(app) -> None:
    app.number_input[0].set_value(0.005).run()
    assert any("more than a year" in w.value for w in app.warning)


def test_plan_page_baseline_and_mde_read_in_the_metrics_unit(app, sample_store) -> None:
    est = plan_experiment(sample_store, "fcr", 0.05, mde_relative=True, split=(0.5, 0.5))
    caption = next(c.value for c in app.caption if c.value.startswith("Baseline"))
    assert caption == (
        f"Baseline First contact resolution: {est.baseline * 100:.1f} % "
        f"(MDE {est.mde * 100:.1f} pp = {est.mde_relative * 100:.1f} % of baseline)."
    )
