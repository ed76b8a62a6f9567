"""The experiment registry: plans stored in the `experiments` table, their lifecycle and memory.

Lifecycle: draft -> running -> decided. A draft may be edited freely; a running
experiment's primary metric, guardrails, variants and split are frozen (changing them
would invalidate the analysis); a decided experiment keeps its decision, who, when and
the learnings, and is found again through `search_experiments`.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from experiments.metrics import METRICS, canonical_name
from metrics.store import Store

STATUSES = ("draft", "running", "decided")
DECISIONS = ("ship", "stop", "keep_running")
UNITS = ("customer",)
# Changing these while running would change what the analysis measures.
FROZEN_WHEN_RUNNING = ("primary_metric", "guardrails", "variants", "split", "unit")
EDITABLE = (
    "name",
    "hypothesis",
    "unit",
    "primary_metric",
    "guardrails",
    "variants",
    "split",
    "mde",
    "planned_n",
    "start_date",
    "end_date",
)
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class RegistryError(ValueError):
    """A registry operation a person asked for that cannot be done, with the reason."""


class PlanError(RegistryError):
    """A plan with problems; `problems` lists every one, not just the first."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        where = f"{source}: " if source else ""
        super().__init__(f"{where}invalid experiment plan: " + "; ".join(problems))


class ExperimentNotFound(RegistryError):
    pass


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not get worse than control by more than `tolerance`.

    The tolerance is in the metric's own units (0.02 = two points of a share, 30 = 30 s of
    handle time), or a fraction of the control's value when `relative` is true.
    """

    metric: str
    tolerance: float
    relative: bool = False


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    primary_metric: str
    hypothesis: str = ""
    unit: str = "customer"
    guardrails: tuple[Guardrail, ...] = ()
    variants: tuple[str, ...] = ("control", "variant")
    split: tuple[float, ...] = (0.5, 0.5)
    mde: float | None = None
    planned_n: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    status: str = "draft"
    decision: str | None = None
    decision_reasons: tuple[str, ...] = ()
    decided_by: str | None = None
    decided_at: datetime | None = None
    learnings: str | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def control(self) -> str:
        return self.variants[0]

    def summary(self) -> dict[str, str]:
        """The row a list of experiments shows: what, where it stands, what was learned."""
        try:
            primary = METRICS[self.primary_metric].display_label
        except KeyError:
            primary = self.primary_metric
        return {
            "id": self.experiment_id,
            "name": self.name,
            "status": self.status,
            "primary": primary,
            "start": self.start_date.isoformat() if self.start_date else "",
            "end": self.end_date.isoformat() if self.end_date else "",
            "decision": self.decision or "",
            "by": self.decided_by or "",
            "learnings": self.learnings or "",
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["guardrails"] = [asdict(g) for g in self.guardrails]
        d["variants"] = list(self.variants)
        d["split"] = list(self.split)
        d["decision_reasons"] = list(self.decision_reasons)
        return d


# -- plans ---------------------------------------------------------------------------------
def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:64]


def _as_date(value: Any, key: str, problems: list[str]) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{key} {value!r} is not a date (expected YYYY-MM-DD)")
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def validate_plan(plan: Mapping[str, Any], *, source: str | None = None) -> Experiment:
    """Check a plan and return the draft Experiment it describes; PlanError lists all problems."""
    problems: list[str] = []
    # "analysis" lives only in the stored plan: the readout reads it (sequential by default;
    # "fixed" for a pre-registered single look at the end).
    known = set(EDITABLE) | {"experiment_id", "status", "analysis"}
    unknown = sorted(set(plan) - known)
    if unknown:
        problems.append(
            f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}"
        )
    if plan.get("analysis", "sequential") not in ("sequential", "fixed"):
        problems.append(f"analysis must be 'sequential' or 'fixed', got {plan.get('analysis')!r}")

    name = str(plan.get("name") or "").strip()
    if not name:
        problems.append("name is required")
    exp_id = str(plan.get("experiment_id") or _slug(name)).strip()
    if name and not _ID_RE.match(exp_id):
        problems.append(
            f"experiment_id {exp_id!r} must be 1-64 lower-case letters, digits, '_' or '-'"
        )
    unit = str(plan.get("unit") or "customer")
    if unit not in UNITS:
        problems.append(f"unit {unit!r} is not supported; expected one of {', '.join(UNITS)}")

    primary = plan.get("primary_metric")
    if isinstance(primary, str):
        primary = canonical_name(primary)  # a renamed metric's old name is still accepted
    if not primary:
        problems.append("primary_metric is required")
    elif primary not in METRICS:
        problems.append(
            f"primary_metric {primary!r} is not a unit-level metric; expected one of "
            f"{', '.join(METRICS)}"
        )

    guardrails: list[Guardrail] = []
    raw_guards = plan.get("guardrails") or []
    if not isinstance(raw_guards, list | tuple):
        problems.append("guardrails must be a list of {metric, tolerance}")
        raw_guards = []
    seen: set[str] = set()
    for i, g in enumerate(raw_guards, start=1):
        if not isinstance(g, Mapping):
            problems.append(f"guardrail {i} must have metric and tolerance")
            continue
        metric, tol = g.get("metric"), _number(g.get("tolerance"))
        if isinstance(metric, str):
            metric = canonical_name(metric)
        relative = bool(g.get("relative", False))
        if metric not in METRICS:
            problems.append(f"guardrail {i}: metric {metric!r} is not a unit-level metric")
        elif metric == primary:
            problems.append(f"guardrail {i}: {metric} is already the primary metric")
        elif metric in seen:
            problems.append(f"guardrail {i}: {metric} is listed twice")
        if tol is None or tol <= 0 or (relative and tol >= 1):
            what = (
                "a fraction of control between 0 and 1 (0.02 = 2 % worse)"
                if relative
                else "a positive number in the metric's units (0.02 = 2 points of a share)"
            )
            problems.append(
                f"guardrail {i} ({metric}): tolerance {g.get('tolerance')!r} must be {what}"
            )
        if isinstance(metric, str) and tol is not None:
            seen.add(metric)
            guardrails.append(Guardrail(metric, tol, relative))

    variants = plan.get("variants") or ["control", "variant"]
    if (
        not isinstance(variants, list | tuple)
        or len(variants) < 2
        or not all(isinstance(v, str) and v.strip() for v in variants)
    ):
        problems.append("variants must be a list of at least two names, control first")
        variants = ["control", "variant"]
    elif len(set(variants)) != len(variants):
        problems.append(f"variants {list(variants)} contain a duplicate name")
    split_raw = plan.get("split") or [1 / len(variants)] * len(variants)
    split = [_number(s) for s in split_raw] if isinstance(split_raw, list | tuple) else [None]
    if len(split) != len(variants) or any(s is None or s <= 0 for s in split):
        problems.append(
            f"split {split_raw!r} must give one positive share per variant ({len(variants)})"
        )
        split = [1 / len(variants)] * len(variants)
    elif abs(sum(split) - 1) > 1e-6:  # type: ignore[arg-type]
        problems.append(f"split {list(split_raw)} must add up to 1")

    mde = plan.get("mde")
    if mde is not None:
        mde = _number(mde)
        if mde is None or mde <= 0:
            problems.append(
                f"mde {plan.get('mde')!r} must be a positive change in the primary metric's "
                "units (0.03 = 3 points of a share, 20 = 20 s)"
            )
    planned_n = plan.get("planned_n")
    if planned_n is not None:
        n = _number(planned_n)
        if n is None or n <= 0 or not float(n).is_integer():
            problems.append(f"planned_n {planned_n!r} must be a positive whole number")
        else:
            planned_n = int(n)
    start = _as_date(plan.get("start_date"), "start_date", problems)
    end = _as_date(plan.get("end_date"), "end_date", problems)
    if start and end and end < start:
        problems.append(f"end_date {end} is before start_date {start}")
    status = str(plan.get("status") or "draft")
    if status not in STATUSES:
        problems.append(f"status {status!r} must be one of {', '.join(STATUSES)}")

    if problems:
        raise PlanError(problems, source)
    return Experiment(
        experiment_id=exp_id,
        name=name,
        primary_metric=str(primary),
        hypothesis=str(plan.get("hypothesis") or ""),
        unit=unit,
        guardrails=tuple(guardrails),
        variants=tuple(variants),
        split=tuple(float(s) for s in split),  # type: ignore[arg-type]
        mde=mde,
        planned_n=planned_n,
        start_date=start,
        end_date=end,
        status=status,
        plan=_jsonable(dict(plan)),
    )


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d, default=str))


def load_plan_toml(path: str | Path) -> dict[str, Any]:
    """Read a plan file; errors name the file and what is wrong with it."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise RegistryError(f"{p}: plan file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{p}: not a valid TOML plan ({exc})") from None
    except UnicodeDecodeError:
        raise RegistryError(f"{p}: not a text TOML file") from None


# -- store access --------------------------------------------------------------------------
_COLUMNS = (
    "experiment_id",
    "name",
    "hypothesis",
    "unit",
    "primary_metric",
    "guardrails",
    "variants",
    "split",
    "mde",
    "planned_n",
    "start_date",
    "end_date",
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
    store: Store, plan: Mapping[str, Any], *, source: str | None = None
) -> Experiment:
    """Validate `plan` and store it (status draft unless the plan says running)."""
    exp = validate_plan(plan, source=source)
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
    return get_experiment(store, exp.experiment_id)


def save_plan(
    store: Store,
    plan: Mapping[str, Any],
    *,
    start: bool = False,
    problems: list[str] | tuple[str, ...] = (),
) -> Experiment:
    """Store a plan as a draft (or start it at its start date); nothing is written when
    `problems` (found by the caller, e.g. experiments.plan.check_plan) or the plan's own
    validation find anything, and PlanError then lists all of them."""
    found = list(problems)
    try:
        validate_plan(plan)
    except PlanError as exc:
        found += [p for p in exc.problems if p not in found]
    if found:
        raise PlanError(found)
    exp = create_experiment(store, plan)
    if start:
        exp = start_experiment(store, exp.experiment_id, exp.start_date)
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


def update_experiment(store: Store, experiment_id: str, changes: Mapping[str, Any]) -> Experiment:
    """Edit a plan. Refused for frozen fields of a running experiment and for decided ones."""
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
    store: Store, experiment_id: str, start_date: date | None = None
) -> Experiment:
    """draft -> running; the start date defaults to the plan's, else today."""
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
) -> Experiment:
    """Store who decided what and why. ship/stop close the experiment; keep_running does not."""
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
    return get_experiment(store, experiment_id)


def add_learnings(store: Store, experiment_id: str, text: str) -> Experiment:
    """Replace the free-text learnings (allowed in every status)."""
    get_experiment(store, experiment_id)
    with store.write() as cur:
        cur.execute(
            "UPDATE experiments SET learnings = ?, updated_at = current_timestamp "
            "WHERE experiment_id = ?",
            [text, experiment_id],
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
