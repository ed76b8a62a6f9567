"""The experiment registry: plans stored in the `experiments` table, their lifecycle and memory.

Lifecycle: draft -> running -> decided. A draft may be edited freely; a running
experiment's primary metric, guardrails, variants and split are frozen (changing them
would invalidate the analysis); a decided experiment keeps its decision, who, when and
the learnings, and is found again through `search_experiments`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import date, datetime
from typing import Any

from experiments.metric_defs import canonical_name
from experiments.plan_validation import (
    DECISIONS,
    EDITABLE,
    FROZEN_WHEN_RUNNING,
    Experiment,
    ExperimentNotFound,
    Guardrail,
    PlanError,
    RegistryError,
    validate_plan,
)
from metrics.audit import record
from metrics.auth import Actor, require
from metrics.store import Store

# -- store access --------------------------------------------------------------------------
# The stored columns: the id, the plan's editable fields (one list, in plan_validation), then
# the lifecycle and bookkeeping columns.
_COLUMNS = (
    "experiment_id",
    *EDITABLE,
    "status",
    "decision",
    "decision_reasons",
    "decided_by",
    "decided_at",
    "learnings",
    "plan",
    "created_at",
    "updated_at",
)


def _loads(value: Any, default: Any) -> Any:
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def _from_row(row: tuple) -> Experiment:
    r = dict(zip(_COLUMNS, row, strict=True))
    guards = tuple(
        Guardrail(str(g.get("metric")), float(g.get("tolerance") or 0), bool(g.get("relative")))
        for g in _loads(r["guardrails"], [])
    )
    variants = tuple(_loads(r["variants"], ["control", "variant"]))
    split = tuple(float(s) for s in _loads(r["split"], [1 / len(variants)] * len(variants)))
    return Experiment(
        experiment_id=r["experiment_id"],
        name=r["name"],
        hypothesis=r["hypothesis"] or "",
        unit=r["unit"],
        primary_metric=r["primary_metric"],
        guardrails=guards,
        variants=variants,
        split=split,
        mde=r["mde"],
        planned_n=int(r["planned_n"]) if r["planned_n"] is not None else None,
        start_date=r["start_date"],
        end_date=r["end_date"],
        status=r["status"],
        decision=r["decision"],
        decision_reasons=tuple(_loads(r["decision_reasons"], [])),
        decided_by=r["decided_by"],
        decided_at=r["decided_at"],
        learnings=r["learnings"],
        plan=_loads(r["plan"], {}),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _params(e: Experiment) -> list[Any]:
    return [
        e.experiment_id,
        e.name,
        e.hypothesis,
        e.unit,
        e.primary_metric,
        json.dumps([asdict(g) for g in e.guardrails]),
        json.dumps(list(e.variants)),
        json.dumps(list(e.split)),
        e.mde,
        e.planned_n,
        e.start_date,
        e.end_date,
        e.status,
        json.dumps(e.plan, default=str),
    ]


def create_experiment(
    store: Store,
    plan: Mapping[str, Any],
    *,
    source: str | None = None,
    actor: Actor | None = None,
) -> Experiment:
    """Validate `plan` and store it (status draft unless the plan says running).

    Needs "experiment.plan" (and "experiment.launch" for a plan that says running).
    """
    who = require(actor, "experiment.plan")
    exp = validate_plan(plan, source=source)
    if exp.status == "running":
        require(who, "experiment.launch")
    if exp.status == "decided":
        raise PlanError(["a new experiment cannot start as decided"], source)
    with store.write() as cur:
        exists = cur.execute(
            "SELECT count(*) FROM experiments WHERE experiment_id = ?", [exp.experiment_id]
        ).fetchall()[0][0]
        if exists:
            raise RegistryError(
                f"an experiment with id {exp.experiment_id!r} already exists; choose another "
                "experiment_id or name"
            )
        cur.execute(
            "INSERT INTO experiments (experiment_id, name, hypothesis, unit, primary_metric, "
            "guardrails, variants, split, mde, planned_n, start_date, end_date, status, plan) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _params(exp),
        )
        record(
            cur,
            who,
            "experiment.create",
            f"experiment:{exp.experiment_id}",
            {"status": exp.status, "plan": exp.plan, "source": source},
        )
    return get_experiment(store, exp.experiment_id)


def save_plan(
    store: Store,
    plan: Mapping[str, Any],
    *,
    start: bool = False,
    problems: list[str] | tuple[str, ...] = (),
    actor: Actor | None = None,
) -> Experiment:
    """Store a plan as a draft (or start it at its start date); nothing is written when
    `problems` (found by the caller, e.g. experiments.plan.check_plan) or the plan's own
    validation find anything, and PlanError then lists all of them."""
    who = require(actor, "experiment.launch" if start else "experiment.plan")
    found = list(problems)
    try:
        validate_plan(plan)
    except PlanError as exc:
        found += [p for p in exc.problems if p not in found]
    if found:
        raise PlanError(found)
    exp = create_experiment(store, plan, actor=who)
    if start:
        exp = start_experiment(store, exp.experiment_id, exp.start_date, actor=who)
    return exp


def get_experiment(store: Store, experiment_id: str) -> Experiment:
    rows = (
        store.cursor()
        .execute(
            f"SELECT {', '.join(_COLUMNS)} FROM experiments WHERE experiment_id = ?",
            [experiment_id],
        )
        .fetchall()
    )
    if not rows:
        raise ExperimentNotFound(f"no experiment with id {experiment_id!r}")
    return _from_row(rows[0])


def list_experiments(store: Store, status: str | None = None) -> list[Experiment]:
    """All experiments, newest first (optionally only one status)."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM experiments"
    params: list[Any] = []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    sql += " ORDER BY coalesce(start_date, CAST(created_at AS DATE)) DESC, experiment_id"
    return [_from_row(r) for r in store.cursor().execute(sql, params).fetchall()]


def update_experiment(
    store: Store,
    experiment_id: str,
    changes: Mapping[str, Any],
    *,
    actor: Actor | None = None,
) -> Experiment:
    """Edit a plan. Refused for frozen fields of a running experiment and for decided ones."""
    who = require(actor, "experiment.plan")
    current = get_experiment(store, experiment_id)
    bad = sorted(set(changes) - set(EDITABLE))
    if bad:
        raise RegistryError(f"cannot edit {', '.join(bad)}; editable: {', '.join(EDITABLE)}")
    if current.status == "decided":
        raise RegistryError(
            f"experiment {experiment_id!r} is decided ({current.decision}); its plan is kept "
            "as it was run. Add learnings instead, or create a new experiment"
        )
    if current.status == "running":
        frozen = [
            k
            for k in FROZEN_WHEN_RUNNING
            if k in changes and _plan_value(current, k) != _normalise(k, changes[k])
        ]
        if frozen:
            raise RegistryError(
                f"experiment {experiment_id!r} is running: changing its "
                f"{' and '.join(f.replace('_', ' ') for f in frozen)} would invalidate the "
                "analysis (the data collected so far was planned and powered for the current "
                "definition). Stop it and create a new experiment instead"
            )
    merged = {**_base_plan(current), **dict(changes)}
    merged["experiment_id"] = experiment_id
    merged["status"] = current.status
    exp = validate_plan(merged)
    # Keep anything else the original plan carried (notes from the generator or a TOML file).
    exp = replace(exp, plan={**current.plan, **exp.plan})
    with store.write() as cur:
        cur.execute(
            "UPDATE experiments SET name = ?, hypothesis = ?, unit = ?, primary_metric = ?, "
            "guardrails = ?, variants = ?, split = ?, mde = ?, planned_n = ?, start_date = ?, "
            "end_date = ?, status = ?, plan = ?, updated_at = current_timestamp "
            "WHERE experiment_id = ?",
            _params(exp)[1:] + [experiment_id],
        )
        before = _base_plan(current)
        after = _base_plan(exp)
        record(
            cur,
            who,
            "experiment.edit",
            f"experiment:{experiment_id}",
            {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]},
        )
    return get_experiment(store, experiment_id)


def _base_plan(e: Experiment) -> dict[str, Any]:
    return {
        "name": e.name,
        "hypothesis": e.hypothesis,
        "unit": e.unit,
        "primary_metric": e.primary_metric,
        "guardrails": [asdict(g) for g in e.guardrails],
        "variants": list(e.variants),
        "split": list(e.split),
        "mde": e.mde,
        "planned_n": e.planned_n,
        "start_date": e.start_date,
        "end_date": e.end_date,
    }


def _plan_value(e: Experiment, key: str) -> Any:
    return _normalise(key, _base_plan(e)[key])


def _normalise(key: str, value: Any) -> Any:
    if key == "primary_metric":
        return canonical_name(str(value))
    if key == "guardrails":
        return sorted(
            (
                canonical_name(str(g["metric"])),
                float(g["tolerance"]),
                bool(g.get("relative", False)),
            )
            for g in value or []
        )
    if key in ("variants",):
        return list(value)
    if key == "split":
        return [round(float(s), 9) for s in value]
    return value


def start_experiment(
    store: Store,
    experiment_id: str,
    start_date: date | None = None,
    *,
    actor: Actor | None = None,
) -> Experiment:
    """draft -> running; the start date defaults to the plan's, else today."""
    who = require(actor, "experiment.launch")
    e = get_experiment(store, experiment_id)
    if e.status != "draft":
        raise RegistryError(f"experiment {experiment_id!r} is {e.status}; only a draft can start")
    start = start_date or e.start_date or date.today()
    with store.write() as cur:
        cur.execute(
            "UPDATE experiments SET status = 'running', start_date = ?, "
            "updated_at = current_timestamp WHERE experiment_id = ?",
            [start, experiment_id],
        )
        record(cur, who, "experiment.launch", f"experiment:{experiment_id}", {"start_date": start})
    return get_experiment(store, experiment_id)


def record_decision(
    store: Store,
    experiment_id: str,
    decision: str,
    by: str,
    *,
    learnings: str | None = None,
    reasons: list[str] | tuple[str, ...] = (),
    at: datetime | None = None,
    actor: Actor | None = None,
) -> Experiment:
    """Store who decided what and why. ship/stop close the experiment; keep_running does not.

    `by` is the name the decision is credited to (as typed); the audit log also records the
    signed-in actor who recorded it.
    """
    who = require(actor, "experiment.decide")
    problems = []
    if decision not in DECISIONS:
        problems.append(f"decision {decision!r} must be one of {', '.join(DECISIONS)}")
    if not (by or "").strip():
        problems.append("who decided (--by) is required")
    if problems:
        raise RegistryError("; ".join(problems))
    e = get_experiment(store, experiment_id)
    if e.status == "draft":
        raise RegistryError(f"experiment {experiment_id!r} is a draft; start it before deciding")
    if e.status == "decided":
        raise RegistryError(
            f"experiment {experiment_id!r} was already decided ({e.decision} by {e.decided_by} "
            f"on {e.decided_at:%Y-%m-%d}); add learnings instead"
        )
    status = "running" if decision == "keep_running" else "decided"
    with store.write() as cur:
        cur.execute(
            "UPDATE experiments SET status = ?, decision = ?, decision_reasons = ?, "
            "decided_by = ?, decided_at = ?, learnings = coalesce(?, learnings), "
            "end_date = CASE WHEN ? = 'decided' THEN coalesce(end_date, CAST(? AS DATE)) "
            "ELSE end_date END, updated_at = current_timestamp WHERE experiment_id = ?",
            [
                status,
                decision,
                json.dumps(list(reasons)),
                by.strip(),
                at or datetime.now().replace(microsecond=0),
                learnings,
                status,
                (at or datetime.now()).date(),
                experiment_id,
            ],
        )
        record(
            cur,
            who,
            "experiment.decide",
            f"experiment:{experiment_id}",
            {
                "decision": decision,
                "by": by.strip(),
                "reasons": list(reasons),
                "learnings": learnings,
            },
        )
    return get_experiment(store, experiment_id)


def add_learnings(
    store: Store, experiment_id: str, text: str, *, actor: Actor | None = None
) -> Experiment:
    """Replace the free-text learnings (allowed in every status)."""
    who = require(actor, "experiment.decide")
    before = get_experiment(store, experiment_id).learnings
    with store.write() as cur:
        cur.execute(
            "UPDATE experiments SET learnings = ?, updated_at = current_timestamp "
            "WHERE experiment_id = ?",
            [text, experiment_id],
        )
        record(
            cur,
            who,
            "experiment.learnings",
            f"experiment:{experiment_id}",
            {"before": before, "after": text},
        )
    return get_experiment(store, experiment_id)


def search_experiments(store: Store, text: str) -> list[Experiment]:
    """Experiments whose name, hypothesis, metrics, decision or learnings contain every word."""
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    haystack = (
        "lower(concat_ws(' ', experiment_id, name, hypothesis, primary_metric, "
        "CAST(guardrails AS VARCHAR), decision, CAST(decision_reasons AS VARCHAR), learnings))"
    )
    where = " AND ".join(f"strpos({haystack}, ?) > 0" for _ in words) or "TRUE"
    rows = (
        store.cursor()
        .execute(
            f"SELECT {', '.join(_COLUMNS)} FROM experiments WHERE {where} "
            "ORDER BY coalesce(decided_at, updated_at) DESC",
            [w.lower() for w in words],
        )
        .fetchall()
    )
    return [_from_row(r) for r in rows]
