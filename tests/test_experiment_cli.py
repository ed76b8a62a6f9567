"""`cx experiment`: create, list, analyze, decide, search, report, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.cli.main import main as cx
from experiments.readout import analyze
from metrics.store import open_store

PLAN = Path(__file__).resolve().parents[1] / "sample_data" / "plans" / "agent_assist.toml"


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_cli_create_list_and_refuse_duplicate(store, capsys) -> None:
    db = str(store.path)
    store.close()
    assert cx(["experiment", "create", "--file", str(PLAN), "--db", db, "--json"]) == 0
    created = _json(capsys)
    assert (created["experiment_id"], created["status"]) == ("agent_assist", "draft")
    assert cx(["experiment", "list", "--db", db, "--json"]) == 0
    assert [e["experiment_id"] for e in _json(capsys)] == ["agent_assist"]
    assert cx(["experiment", "create", "--file", str(PLAN), "--db", db]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_create_invalid_plan_lists_problems(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nprimary_metric = "joy"\nsplit = [0.9, 0.9]\n', encoding="utf-8")
    open_store(tmp_path / "cx.duckdb").close()
    rc = cx(["experiment", "create", "--file", str(bad), "--db", str(tmp_path / "cx.duckdb")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"cx experiment: error: {bad}: invalid experiment plan: ")
    assert "primary_metric 'joy'" in err and "must add up to 1" in err


def test_cli_analyze_json_equals_analyze(sample_store, capsys) -> None:
    expected = analyze(sample_store, "callback_vs_queue")
    db = str(sample_store.path)
    sample_store.close()
    assert cx(["experiment", "analyze", "callback_vs_queue", "--db", db, "--json"]) == 0
    got = _json(capsys)
    assert got["decision"]["action"] == expected.decision.action == "ship"
    assert got["primary"]["result"]["prob_variant_better"] == expected.prob_variant_better
    assert got["srm"]["p_value"] == expected.srm.p_value
    assert [g["metric"] for g in got["guardrails"]] == ["csat", "aht"]
    assert len(got["cumulative"]) == len(expected.cumulative)


def test_cli_decide_then_search_finds_learnings(sample_store, capsys) -> None:
    db = str(sample_store.path)
    sample_store.close()
    rc = cx(
        [
            "experiment",
            "decide",
            "chatbot_handoff",
            "--decision",
            "stop",
            "--by",
            "Bo",
            "--learnings",
            "Handoff summaries cut AHT but customers felt rushed",
            "--db",
            db,
            "--json",
        ]
    )
    assert rc == 0
    decided = _json(capsys)
    assert (decided["status"], decided["decision"], decided["decided_by"]) == (
        "decided",
        "stop",
        "Bo",
    )
    assert decided["decision_reasons"][0].startswith("Guardrail csat")
    assert cx(["experiment", "search", "customers rushed", "--db", db, "--json"]) == 0
    assert [e["experiment_id"] for e in _json(capsys)] == ["chatbot_handoff"]
    assert (
        cx(
            [
                "experiment",
                "decide",
                "chatbot_handoff",
                "--decision",
                "ship",
                "--by",
                "Bo",
                "--db",
                db,
            ]
        )
        == 2
    )
    assert "already decided" in capsys.readouterr().err


def test_cli_analyze_unknown_id_is_one_line_error(store, capsys) -> None:
    db = str(store.path)
    store.close()
    assert cx(["experiment", "analyze", "nope", "--db", db]) == 2
    assert capsys.readouterr().err == "cx experiment: error: no experiment with id 'nope'\n"


def test_cli_report_writes_self_contained_html(sample_store, tmp_path, capsys) -> None:
    db = str(sample_store.path)
    sample_store.close()
    out = tmp_path / "r.html"
    assert cx(["experiment", "report", "chatbot_handoff", "--db", db, "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert html.count("plotly.js v") == 1  # the library embedded once, for three figures
    assert "<script src=" not in html  # nothing fetched from the network
    assert "Decision: stop" in html
    assert html.count("Plotly.newPlot") == 3


def test_cli_segments_json_equals_segment_comparisons(sample_store, capsys) -> None:
    from experiments.readout import segment_comparisons

    expected = [e.to_dict() for e in segment_comparisons(sample_store, "callback_vs_queue")]
    db = str(sample_store.path)
    sample_store.close()
    assert cx(["experiment", "segments", "callback_vs_queue", "--db", db, "--json"]) == 0
    got = _json(capsys)
    assert [(r["dimension"], r["level"], r["n_control"]) for r in got] == [
        (r["dimension"], r["level"], r["n_control"]) for r in expected
    ]
    assert got[0]["lift"] == pytest.approx(expected[0]["lift"], abs=1e-12)
