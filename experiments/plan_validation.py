"""An experiment plan: the `Experiment` record, its guardrails, and whether a plan is valid.

`validate_plan` checks a plan (a TOML file, the Plan page's form, the CLI) as a whole and
names every problem at once; the registry (experiments.registry) stores what it returns.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from experiments.metric_defs import METRICS, canonical_name

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
    read = [_number(s) for s in split_raw] if isinstance(split_raw, list | tuple) else [None]
    split = [s for s in read if s is not None and s > 0]
    if len(read) != len(variants) or len(split) != len(read):
        problems.append(
            f"split {split_raw!r} must give one positive share per variant ({len(variants)})"
        )
        split = [1 / len(variants)] * len(variants)
    elif abs(sum(split) - 1) > 1e-6:
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
        split=tuple(split),
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
