"""Experiment registry: validation, lifecycle draft -> running -> decided, refusals, search."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from experiments.plan_validation import (
    ExperimentNotFound,
    PlanError,
    RegistryError,
    load_plan_toml,
    validate_plan,
)
from experiments.registry import (
    add_learnings,
    create_experiment,
    get_experiment,
    list_experiments,
    record_decision,
    save_plan,
    search_experiments,
    start_experiment,
    update_experiment,
)

PLAN = {
    "name": "Callback instead of queue",
    "hypothesis": "A callback raises first contact resolution",
    "primary_metric": "fcr",
    "guardrails": [{"metric": "csat", "tolerance": 0.02}, {"metric": "aht", "tolerance": 30}],
    "variants": ["control", "callback"],
    "split": [0.5, 0.5],
    "mde": 0.03,
    "start_date": "2026-03-01",
    "end_date": "2026-04-30",
}


def test_validate_plan_many_problems_reports_all_at_once() -> None:
    bad = {
        "name": "",
        "primary_metric": "happiness",
        "guardrails": [{"metric": "csat", "tolerance": -1}, {"metric": "nope", "tolerance": 0.1}],
        "variants": ["a", "b"],
        "split": [0.7, 0.7],
        "mde": 0,
        "start_date": "2026-05-01",
        "end_date": "2026-04-01",
        "colour": "red",
    }
    with pytest.raises(PlanError) as info:
        validate_plan(bad)
    problems = info.value.problems
    assert len(problems) == 8
    text = str(info.value)
    for fragment in (
        "unknown key(s) colour",
        "name is required",
        "primary_metric 'happiness' is not a unit-level metric",
        "guardrail 1 (csat): tolerance -1 must be a positive number",
        "guardrail 2: metric 'nope' is not a unit-level metric",
        "split [0.7, 0.7] must add up to 1",
        "mde 0 must be a positive change",
        "end_date 2026-04-01 is before start_date 2026-05-01",
    ):
        assert fragment in text


def test_validate_plan_guardrail_equal_to_primary_is_refused() -> None:
    with pytest.raises(PlanError, match="guardrail 1: fcr is already the primary metric"):
        validate_plan({**PLAN, "guardrails": [{"metric": "fcr", "tolerance": 0.01}]})


def test_create_experiment_stores_plan_as_draft(store) -> None:
    exp = create_experiment(store, PLAN)
    assert exp.experiment_id == "callback_instead_of_queue"
    assert exp.status == "draft"
    got = get_experiment(store, exp.experiment_id)
    assert got.guardrails[1].metric == "aht" and got.guardrails[1].tolerance == 30.0
    assert got.variants == ("control", "callback") and got.split == (0.5, 0.5)
    assert got.start_date == date(2026, 3, 1)
    assert [e.experiment_id for e in list_experiments(store)] == [exp.experiment_id]


def test_create_experiment_duplicate_id_is_refused(store) -> None:
    create_experiment(store, PLAN)
    with pytest.raises(RegistryError, match="already exists"):
        create_experiment(store, PLAN)


def test_lifecycle_draft_running_decided(store) -> None:
    exp = create_experiment(store, PLAN)
    # A draft may change anything.
    exp = update_experiment(store, exp.experiment_id, {"primary_metric": "csat", "guardrails": []})
    assert exp.primary_metric == "csat"
    exp = start_experiment(store, exp.experiment_id)
    assert exp.status == "running"
    exp = record_decision(store, exp.experiment_id, "keep_running", "Ann")
    assert exp.status == "running" and exp.decision == "keep_running"
    at = datetime(2026, 5, 2, 9, 30)
    exp = record_decision(
        store,
        exp.experiment_id,
        "ship",
        "Ann",
        learnings="callbacks work",
        reasons=["P(better) 99 %"],
        at=at,
    )
    assert (exp.status, exp.decision, exp.decided_by, exp.decided_at) == (
        "decided",
        "ship",
        "Ann",
        at,
    )
    assert exp.decision_reasons == ("P(better) 99 %",)
    assert exp.learnings == "callbacks work"


def test_update_running_primary_metric_is_refused_with_reason(store) -> None:
    exp = start_experiment(store, create_experiment(store, PLAN).experiment_id)
    with pytest.raises(RegistryError) as info:
        update_experiment(store, exp.experiment_id, {"primary_metric": "csat"})
    assert str(info.value).startswith(
        "experiment 'callback_instead_of_queue' is running: changing its primary metric would "
        "invalidate the analysis"
    )
    with pytest.raises(RegistryError, match="changing its guardrails would invalidate"):
        update_experiment(
            store, exp.experiment_id, {"guardrails": [{"metric": "csat", "tolerance": 0.05}]}
        )
    # Unchanged frozen fields and free fields are fine while running.
    ok = update_experiment(
        store, exp.experiment_id, {"hypothesis": "better wording", "guardrails": PLAN["guardrails"]}
    )
    assert ok.hypothesis == "better wording"
    assert get_experiment(store, exp.experiment_id).primary_metric == "fcr"


def test_update_decided_experiment_is_refused(store) -> None:
    exp = start_experiment(store, create_experiment(store, PLAN).experiment_id)
    record_decision(store, exp.experiment_id, "stop", "Bo")
    with pytest.raises(RegistryError, match="is decided \\(stop\\); its plan is kept"):
        update_experiment(store, exp.experiment_id, {"name": "renamed"})
    with pytest.raises(RegistryError, match="already decided"):
        record_decision(store, exp.experiment_id, "ship", "Bo")
    assert add_learnings(store, exp.experiment_id, "queue is fine").learnings == "queue is fine"


def test_record_decision_bad_input_lists_problems(store) -> None:
    exp = create_experiment(store, PLAN)
    with pytest.raises(
        RegistryError, match="decision 'maybe' must be one of ship, stop, keep_running; who decided"
    ):
        record_decision(store, exp.experiment_id, "maybe", " ")
    with pytest.raises(RegistryError, match="is a draft; start it before deciding"):
        record_decision(store, exp.experiment_id, "ship", "Ann")


def test_get_experiment_unknown_id_names_it(store) -> None:
    with pytest.raises(ExperimentNotFound, match="no experiment with id 'x'"):
        get_experiment(store, "x")


def test_search_experiments_matches_every_word_in_learnings_and_name(store) -> None:
    a = start_experiment(store, create_experiment(store, PLAN).experiment_id)
    record_decision(store, a.experiment_id, "ship", "Ann", learnings="Customers LOVE callbacks")
    create_experiment(
        store,
        {
            **PLAN,
            "name": "SMS before invoice",
            "primary_metric": "churn_rate",
            "hypothesis": "fewer reminder fees",
        },
    )
    assert [e.experiment_id for e in search_experiments(store, "love callbacks")] == [
        a.experiment_id
    ]
    assert [e.experiment_id for e in search_experiments(store, "invoice fees")] == [
        "sms_before_invoice"
    ]
    assert search_experiments(store, "callbacks invoice") == []
    # Text is bound, not formatted into SQL.
    assert search_experiments(store, "'; DROP TABLE experiments; --") == []
    assert len(list_experiments(store)) == 2


def test_load_plan_toml_example_file_validates() -> None:
    plan = load_plan_toml(Path("sample_data/plans/agent_assist.toml"))
    exp = validate_plan(plan)
    assert (exp.experiment_id, exp.primary_metric, len(exp.guardrails)) == (
        "agent_assist",
        "aht",
        3,
    )


def test_load_plan_toml_broken_file_names_file(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('name = "x\n', encoding="utf-8")
    with pytest.raises(RegistryError, match=f"{path}: not a valid TOML plan"):
        load_plan_toml(path)
    with pytest.raises(RegistryError, match="plan file not found"):
        load_plan_toml(tmp_path / "missing.toml")


def test_registry_writes_bump_data_version(store) -> None:
    before = store.data_version()
    create_experiment(store, PLAN)
    assert store.data_version() == before + 1


def test_save_plan_lists_caller_and_plan_problems_and_writes_nothing(store) -> None:
    bad = {**PLAN, "name": "", "split": [0.6, 0.6]}
    with pytest.raises(PlanError) as info:
        save_plan(store, bad, problems=["the window is 400 days"])
    assert info.value.problems[0] == "the window is 400 days"
    assert "name is required" in info.value.problems
    assert any("must add up to 1" in p for p in info.value.problems)
    assert list_experiments(store) == []
    with pytest.raises(PlanError):
        save_plan(store, PLAN, problems=["the window is 400 days"])
    assert list_experiments(store) == []


def test_save_plan_start_runs_from_the_plans_start_date(store) -> None:
    exp = save_plan(store, {**PLAN, "start_date": "2026-04-04"}, start=True)
    assert (exp.status, exp.start_date.isoformat()) == ("running", "2026-04-04")
