"""AppTest of the Experiments page: the decision and P(better) shown equal `analyze()`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from conftest import start_page
from streamlit.testing.v1 import AppTest

from experiments.readout import analyze
from experiments.registry import get_experiment

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "dashboard" / "views" / "experiment_list.py"


@pytest.fixture
def app(sample_store, monkeypatch) -> AppTest:
    at = start_page(PAGE, sample_store.path, monkeypatch)
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_experiments_page_lists_all_and_reads_out_the_first(app, sample_store) -> None:
    table = app.dataframe[0].value
    assert sorted(table["id"]) == sorted(
        [
            "callback_vs_queue",
            "chatbot_handoff",
            "proactive_outage_sms",
            "invoice_sms_reminder_broken_split",
        ]
    )
    chosen = app.selectbox[0].value
    expected = analyze(sample_store, chosen)
    assert app.subheader[0].value == f"Decision: {expected.decision.action}"
    assert _metric(app, "P(better)") == f"{expected.prob_variant_better:.1%}"


def test_experiments_page_chatbot_shows_guardrail_stop(app, sample_store) -> None:
    app.selectbox[0].select("chatbot_handoff").run()
    assert not app.exception
    expected = analyze(sample_store, "chatbot_handoff")
    assert app.subheader[0].value == "Decision: stop"
    shown = [m.value for m in app.markdown]
    assert f"- {expected.decision.reasons[0]}" in shown
    assert _metric(app, "P(better)") == f"{expected.prob_variant_better:.1%}"
    guard = app.dataframe[1].value
    csat = guard[guard["metric"] == "CSAT (top-2-box)"].iloc[0]
    assert csat["guardrail"] == "not shown safe"
    assert len(app.get("plotly_chart")) >= 3


def test_experiments_page_search_filters_list(app) -> None:
    app.text_input[0].input("invoice").run()
    assert list(app.dataframe[0].value["id"]) == ["invoice_sms_reminder_broken_split"]
    assert app.subheader[0].value == "Decision: stop"


def test_experiments_page_decide_form_records_decision(app, sample_store) -> None:
    app.selectbox[0].select("callback_vs_queue").run()
    app.radio[0].set_value("ship")
    next(t for t in app.text_input if t.label == "Decided by").input("Ann")
    next(t for t in app.text_area if t.label == "Learnings").input(
        "Callbacks lift FCR by about 8 points"
    )
    next(b for b in app.button if b.label == "Record decision").click().run()
    exp = get_experiment(sample_store, "callback_vs_queue")
    assert (exp.status, exp.decision, exp.decided_by) == ("decided", "ship", "Ann")
    assert exp.learnings == "Callbacks lift FCR by about 8 points"
    assert any("Recorded: ship by Ann." in s.value for s in app.success)


def test_experiments_page_does_not_import_pymc_on_load(sample_db, tmp_path) -> None:
    # A fresh interpreter opens the app through its router (as `make run` does) and switches
    # to the Experiments page; PyMC must still not be imported.
    code = (
        "import os, sys, shutil, json;"
        f"shutil.copy({str(sample_db)!r}, {str(tmp_path / 'p.duckdb')!r});"
        f"os.environ['CX_DB'] = {str(tmp_path / 'p.duckdb')!r};"
        "from streamlit.testing.v1 import AppTest;"
        f"at = AppTest.from_file({str(ROOT / 'dashboard' / 'app.py')!r}, default_timeout=120);"
        "at.run(); at.switch_page('views/experiment_list.py'); at.run();"
        "print(json.dumps({'pymc': 'pymc' in sys.modules, 'errors': len(at.exception),"
        " 'decision': at.subheader[0].value}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == 0 and result["decision"].startswith("Decision: ")
    assert result["pymc"] is False


def test_experiments_page_fit_button_runs_segment_model_in_background(app, monkeypatch) -> None:
    from experiments import segments
    from metrics.background import wait_for

    def fake_fit(groups, **kw):  # fixed-parameter stand-in for the MCMC (tested elsewhere)
        kw["progress"](1.0)
        return {
            d: {
                "mu": {"mean": 0.0},
                "tau": {"mean": 0.0},
                "theta": [{"mean": 0.0, "ci_low": -0.01, "ci_high": 0.01} for _ in y],
            }
            for d, (y, _se) in groups.items()
        }

    monkeypatch.setattr(segments, "fit_hierarchical", fake_fit)
    charts_before = len(app.get("plotly_chart"))
    next(b for b in app.button if b.label == "Fit segment model").click().run()
    from dashboard.store_access import get_store  # the page's own store (CX_DB)

    store, chosen = get_store(), app.selectbox[0].value
    metric = get_experiment(store, chosen).primary_metric
    assert wait_for(store, segments.cache_key(chosen, metric), timeout_s=60).status == "done"
    app.run()
    assert not app.exception
    assert "Partially pooled estimates (PyMC) next to the unpooled ones per segment." in [
        c.value for c in app.caption
    ]
    assert len(app.get("plotly_chart")) == charts_before + 1
    assert any(b.label == "Refit segment model" for b in app.button)


def test_experiments_page_three_arms_reads_out_the_chosen_variant(sample_store, monkeypatch):
    from experiments.registry import create_experiment

    with sample_store.write() as cur:
        cur.execute(
            "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
            "SELECT 'three', unit_id, ['control', 'a', 'b'][1 + CAST(hash(unit_id) % 3 AS BIGINT)],"
            " assigned_at FROM assignments WHERE experiment_id = 'callback_vs_queue'"
        )
    create_experiment(
        sample_store,
        {
            "experiment_id": "three",
            "name": "Three arms",
            "primary_metric": "fcr",
            "variants": ["control", "a", "b"],
            "split": [0.34, 0.33, 0.33],
            "start_date": "2026-01-01",
            "end_date": "2026-09-30",
        },
    )
    monkeypatch.setenv("CX_DB", str(sample_store.path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.run()
    at.selectbox[0].select("three").run()
    at.selectbox[1].select("b").run()
    assert not at.exception and not at.error
    expected = analyze(sample_store, "three", variant="b")
    assert _metric(at, "P(better)") == f"{expected.prob_variant_better:.1%}"
    assert expected.variant == "b" and len(expected.n_by_variant) == 3
