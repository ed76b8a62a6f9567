"""AppTest of the Plan page: sizes shown equal plan_experiment(); saving creates a draft."""

from __future__ import annotations

import math
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
    assert _metric(app, "Assurance") == f"{expected.assurance:.0%}"


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
    assert "Saved free_first_reminder (running)." in [s.value for s in app.success]


def test_plan_page_missing_name_and_bad_split_show_errors(app, sample_store) -> None:
    app.text_input[2].input("0.6, 0.6").run()
    next(b for b in app.button if b.label == "Save as draft").click().run()
    errors = " ".join(e.value for e in app.error)
    assert "name is required" in errors and "must add up to 1" in errors
    assert len(list_experiments(sample_store)) == 4  # nothing saved
