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


def _p1(p: float) -> str:
    """A probability as the page shows it (hand-written rule): one decimal, never a rounded
    certainty ("> 99.9 %" for 0.9999, "< 0.1 %" for 0.0004)."""
    if p < 1 and round(p * 100, 1) >= 100:
        return "> 99.9 %"
    if p > 0 and round(p * 100, 1) == 0:
        return "< 0.1 %"
    return f"{p * 100:.1f} %"


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
    assert _metric(app, "P(better)") == _p1(expected.prob_variant_better)


def test_experiments_page_chatbot_shows_guardrail_stop(app, sample_store) -> None:
    app.selectbox[0].select("chatbot_handoff").run()
    assert not app.exception
    expected = analyze(sample_store, "chatbot_handoff")
    assert app.subheader[0].value == "Decision: stop"
    shown = [m.value for m in app.markdown]
    assert f"- {expected.decision.reasons[0]}" in shown
    assert _metric(app, "P(better)") == _p1(expected.prob_variant_better)
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


@pytest.mark.slow  # a fresh Python importing the app, or a long simulation (make test-slow)
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
    # The table leads with the pooled estimate (the stand-in pools every lift to 0 ± 0.01),
    # and marks an unpooled lift outside that interval as an extreme.
    table = next(d.value for d in app.dataframe if "pooled" in d.value.columns)
    assert list(table.columns[:2]) == ["segment", "pooled"]
    assert (table["pooled"] == "0.0 pp").all()  # a share's lift, in percentage points
    unpooled = table["unpooled"].map(lambda x: float(x.split()[0]) / 100)  # "+1.2 pp" -> 0.012
    clear = (unpooled.abs() - 0.01).abs() > 0.0005  # shown to 0.1 pp: skip the rounding edge
    extreme = ~unpooled.between(-0.01, 0.01)
    assert (table["unpooled_extreme"][clear] == extreme[clear]).all()


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
            "status": "running",
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
    assert _metric(at, "P(better)") == _p1(expected.prob_variant_better)
    assert expected.variant == "b" and len(expected.n_by_variant) == 3


def _caption_with(at: AppTest, text: str) -> str:
    return next(c.value for c in at.caption if text in c.value)


def test_experiments_page_header_shows_units_dates_and_days(app, sample_store) -> None:
    app.selectbox[0].select("callback_vs_queue").run()
    r = analyze(sample_store, "callback_vs_queue")
    e = r.experiment
    days = (e.end_date - e.start_date).days + 1  # the window has ended: its full length
    header = _caption_with(app, "units")
    assert f"{e.start_date} to {e.end_date}: ran {days} days" in header
    for arm, n in r.n_by_variant.items():
        assert f"{arm} {n:,}" in header


def test_experiments_page_lift_is_in_pp_with_the_metric_name(app, sample_store) -> None:
    app.selectbox[0].select("callback_vs_queue").run()
    r = analyze(sample_store, "callback_vs_queue")
    shown = _metric(app, "Lift in First contact resolution")
    # FCR is a share: its lift reads in percentage points, one decimal, computed here.
    assert shown == f"{r.primary.result.absolute_lift.mean * 100:+.1f} pp"
    table = app.dataframe[1].value
    assert all(v.endswith("pp") or "%" in v or v.endswith(" s") for v in table["lift"])
    assert not any("e-" in str(v) for col in table.columns for v in table[col])


def test_experiments_page_aht_lift_in_seconds_and_percent(app, sample_store) -> None:
    app.selectbox[0].select("chatbot_handoff").run()
    r = analyze(sample_store, "chatbot_handoff")
    lift = r.primary.result.absolute_lift.mean
    rel = r.primary.result.relative_lift.mean
    # Hand-written rule of metrics.units: under a minute in whole seconds, else in minutes.
    head = f"{lift:+.0f} s" if abs(lift) < 59.5 else f"{lift / 60:+.1f} min"
    expected = f"{head} ({rel * 100:+.1f} %)"
    assert _metric(app, "Lift in Average handle time") == expected


def test_experiments_page_one_guardrail_chart_per_guardrail_on_its_own_axis(app) -> None:
    app.selectbox[0].select("chatbot_handoff").run()
    specs = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    guard = next(
        s
        for s in specs
        if {a["text"] for a in s["layout"].get("annotations", [])}
        >= {"CSAT (top-2-box)", "First contact resolution"}
    )
    axes = [k for k in guard["layout"] if k.startswith("xaxis")]
    assert len(axes) == 2  # csat and fcr, each its own axis
    assert guard["layout"]["xaxis"]["title"]["text"] == "pp"


def test_experiments_page_decision_defaults_to_recommendation(app, sample_store) -> None:
    app.selectbox[0].select("chatbot_handoff").run()
    assert analyze(sample_store, "chatbot_handoff").decision.action == "stop"
    assert app.radio[0].value == "stop"
    app.selectbox[0].select("callback_vs_queue").run()
    assert app.radio[0].value == "ship"


def test_experiments_page_list_refreshes_after_decision(app) -> None:
    app.selectbox[0].select("proactive_outage_sms").run()
    before = app.dataframe[0].value
    assert before[before["id"] == "proactive_outage_sms"].iloc[0]["status"] == "running"
    app.radio[0].set_value("stop")
    next(t for t in app.text_input if t.label == "Decided by").input("Bo")
    next(b for b in app.button if b.label == "Record decision").click().run()
    assert not app.exception
    after = app.dataframe[0].value
    row = after[after["id"] == "proactive_outage_sms"].iloc[0]
    assert (row["status"], row["decision"], row["by"]) == ("decided", "stop", "Bo")
    assert [s.value for s in app.success] == ["Recorded: stop by Bo."]


def test_experiments_page_saved_draft_is_viewable_editable_and_launchable(
    sample_store, monkeypatch
) -> None:
    from experiments.registry import create_experiment

    # A saved draft (no assignments yet) used to be read out as the newest experiment and
    # replaced the whole page with "Cannot read out": it opens its plan instead.
    create_experiment(
        sample_store,
        {"name": "Shorter IVR menu", "primary_metric": "aht", "end_date": "2026-12-31"},
    )
    at = start_page(PAGE, sample_store.path, monkeypatch)
    assert at.selectbox[0].value == "shorter_ivr_menu"
    assert at.subheader[0].value == "Draft: Shorter IVR menu"
    next(t for t in at.text_input if t.label == "Name").input("Shorter IVR menu, 3 options")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception and not at.error
    assert get_experiment(sample_store, "shorter_ivr_menu").name == "Shorter IVR menu, 3 options"
    assert [s.value for s in at.success] == ["Saved shorter_ivr_menu."]
    next(b for b in at.button if b.label == "Start experiment").click().run()
    assert not at.exception and not at.error
    exp = get_experiment(sample_store, "shorter_ivr_menu")
    assert exp.status == "running" and exp.end_date.isoformat() == "2026-12-31"
    assert [s.value for s in at.success] == ["Started shorter_ivr_menu."]
    # Running without assignments yet: a sentence, not an error, and the others still open.
    assert any("No readout yet for shorter_ivr_menu" in i.value for i in at.info)
    at.selectbox[0].select("callback_vs_queue").run()
    assert not at.error and at.subheader[0].value == "Decision: ship"


def test_experiments_page_draft_with_bad_split_shows_the_reason(sample_store, monkeypatch):
    from experiments.registry import create_experiment

    create_experiment(sample_store, {"name": "Draft two", "primary_metric": "fcr"})
    at = start_page(PAGE, sample_store.path, monkeypatch)
    next(t for t in at.text_input if t.label == "Split").input("0.6, 0.6")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.exception
    assert "must add up to 1" in at.error[0].value
    assert get_experiment(sample_store, "draft_two").split == (0.5, 0.5)


def test_html_readout_shows_formatted_lifts_units_and_dates(sample_store) -> None:
    from dashboard.report_html import readout_html

    r = analyze(sample_store, "chatbot_handoff")
    html = readout_html(sample_store, "chatbot_handoff", r)
    csat = next(g for g in r.guardrails if g.metric == "csat").result.absolute_lift.mean
    assert f"<td>{csat * 100:+.1f} pp</td>" in html
    e = r.experiment
    assert f"{e.start_date} to {e.end_date}: ran" in html
    assert f"control {r.n_by_variant['control']:,}" in html
    assert "Lift in Average handle time: <b>" in html
    assert "e-" not in html.split("<table>")[1].split("</table>")[0]
    # The figures' month names in the readout's language (Plotly's locale in their config).
    assert '"locale": "sv"' not in html
    swedish = readout_html(sample_store, "chatbot_handoff", r, lang="sv")
    assert '"locale": "sv"' in swedish and '"okt"' in swedish


def test_experiments_page_list_names_metrics_and_dates(app, sample_store) -> None:
    table = app.dataframe[0].value
    row = table[table["id"] == "invoice_sms_reminder_broken_split"].iloc[0]
    e = get_experiment(sample_store, "invoice_sms_reminder_broken_split")
    # Stored under the old name churn_rate; shown by what it measures.
    assert row["primary"] == "Churn within 90 days of assignment"
    assert (row["start"], row["end"]) == (e.start_date.isoformat(), e.end_date.isoformat())


def test_experiments_page_draws_the_sequential_band_from_the_readout(
    sample_store, monkeypatch
) -> None:
    from experiments.readout import analyze

    at = start_page(PAGE, sample_store.path, monkeypatch)
    at.selectbox[0].select("callback_vs_queue").run()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = {t.get("name") for s in specs for t in s["data"]}
    assert "sequential 95 % interval" in names and "credible interval" not in names
    r = analyze(sample_store, "callback_vs_queue")
    band = next(t for s in specs for t in s["data"] if t.get("name") == "sequential 95 % interval")
    last = r.cumulative[-1]
    # Drawn from each point's sequential bounds, in percentage points for a share.
    assert band["y"][len(r.cumulative) - 1] == pytest.approx(last["seq_ci_high"] * 100)
    assert band["y"][len(r.cumulative)] == pytest.approx(last["seq_ci_low"] * 100)
    # Wider than the credible interval at the same look: it is valid at every look.
    assert last["seq_ci_high"] - last["seq_ci_low"] > last["ci_high"] - last["ci_low"]


def test_experiments_page_draft_guardrails_and_variants_are_editable(sample_store, monkeypatch):
    from experiments.registry import create_experiment

    create_experiment(sample_store, {"name": "IVR", "primary_metric": "aht"})
    at = start_page(PAGE, sample_store.path, monkeypatch)
    field = next(t for t in at.text_input if t.label == "Guardrails (metric: tolerance)")
    assert field.value == ""
    field.input("csat 0.02")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert (
        at.error[0].value == "Guardrail 'csat 0.02': expected metric: tolerance, such as csat: 0.02"
    )
    next(t for t in at.text_input if t.label == "Guardrails (metric: tolerance)").input(
        "csat: 0.02, fcr: 0.03"
    )
    next(t for t in at.text_input if t.label == "Variants (control first)").input(
        "control, three, four"
    )
    next(t for t in at.text_input if t.label == "Split").input("0.4, 0.3, 0.3")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.error, [e.value for e in at.error]
    exp = get_experiment(sample_store, "ivr")
    assert [(g.metric, g.tolerance) for g in exp.guardrails] == [("csat", 0.02), ("fcr", 0.03)]
    assert exp.variants == ("control", "three", "four") and exp.split == (0.4, 0.3, 0.3)
    field = next(t for t in at.text_input if t.label == "Guardrails (metric: tolerance)")
    assert field.value == "csat: 0.02, fcr: 0.03"


def test_experiments_page_cuped_caption_in_the_metrics_unit(app, sample_store) -> None:
    app.selectbox[0].select("proactive_outage_sms").run()
    r = analyze(sample_store, "proactive_outage_sms")
    cu = r.primary.cuped  # contacts per customer: a mean, so CUPED applies
    caption = _caption_with(app, "CUPED")
    assert f"removes {r.primary.cuped_variance_reduction * 100:.1f} % of the variance" in caption
    lift = cu.absolute_lift
    mean, lo, hi = (f"{v:+.2f} contacts" for v in (lift.mean, lift.ci_low, lift.ci_high))
    assert f"lift {mean} [{lo}, {hi}]" in caption
