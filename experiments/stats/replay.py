"""Replay an experiment's history from counts: one decision per look, as `cx ab --batch` prints.

A record is one look: {"id", "control": [n, successes] (mean: [n, sum, sum_of_squares]),
"variant": [...], optional "planned_n" (units per arm), "lower_is_better", "guardrails":
[{"control", "variant", "tolerance", "lower_is_better"}]}. Records sharing an id are that
experiment's successive looks, in order; the look's boundary depends on every earlier look of
the id (O'Brien–Fleming within planned_n, confidence sequence beyond it or without it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from experiments.stats.binary import analyze_binary
from experiments.stats.continuous import analyze_mean
from experiments.stats.decision import decide
from experiments.stats.guardrails import guardrail_check
from experiments.stats.inputs import BinaryStats, MeanStats
from experiments.stats.results import GuardrailResult
from experiments.stats.sequential import (
    SEQUENTIAL,
    SequentialLook,
    effective_n,
    estimate_and_se,
    sequential_look,
    ship_alpha,
    stop_alpha,
)

FAMILIES = {
    "binary": (BinaryStats, 2, "[n, successes]"),
    "mean": (MeanStats, 3, "[n, sum, sum_of_squares]"),
}
_KEYS = {"id", "control", "variant", "planned_n", "lower_is_better", "guardrails"}
_GUARD_KEYS = {"control", "variant", "tolerance", "lower_is_better", "name"}


class ReplayError(ValueError):
    """A record that cannot be read; the message names the line and what was expected."""


@dataclass(frozen=True)
class GuardrailInput:
    control: Any
    variant: Any
    tolerance: float
    lower_is_better: bool = False
    name: str = "guardrail"


@dataclass(frozen=True)
class LookInput:
    """One look of one experiment, validated."""

    id: str
    control: Any
    variant: Any
    planned_n: float | None = None
    lower_is_better: bool = False
    guardrails: tuple[GuardrailInput, ...] = field(default_factory=tuple)


def _stats(family: str, value: Any, where: str) -> Any:
    kind, size, shape = FAMILIES[family]
    if not isinstance(value, list) or len(value) != size:
        raise ReplayError(f"{where} must be {shape}, got {json.dumps(value)}")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
        raise ReplayError(f"{where} must be numbers {shape}, got {json.dumps(value)}")
    if not float(value[0]).is_integer():
        raise ReplayError(f"{where}: n must be a whole number, got {value[0]!r}")
    try:
        if family == "binary":
            if not float(value[1]).is_integer():
                raise ReplayError(f"{where}: successes must be a whole number, got {value[1]!r}")
            return BinaryStats(int(value[0]), int(value[1]))
        return MeanStats(int(value[0]), float(value[1]), float(value[2]))
    except ValueError as exc:
        if isinstance(exc, ReplayError):
            raise
        raise ReplayError(f"{where}: {exc}") from None


def _flag(rec: dict, key: str, where: str) -> bool:
    v = rec.get(key, False)
    if not isinstance(v, bool):
        raise ReplayError(f"{where}{key} must be true or false, got {json.dumps(v)}")
    return v


def parse_record(text: str, family: str, line: int | str) -> LookInput:
    """Validate one JSON line; ReplayError names the line and what was expected."""
    where = f"line {line}: "
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{where}not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(rec, dict):
        raise ReplayError(f"{where}expected a JSON object, got {type(rec).__name__}")
    unknown = sorted(set(rec) - _KEYS)
    if unknown:
        raise ReplayError(
            f"{where}unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(_KEYS))}"
        )
    for key in ("id", "control", "variant"):
        if key not in rec:
            raise ReplayError(f"{where}{key!r} is missing")
    if not isinstance(rec["id"], str | int) or isinstance(rec["id"], bool) or rec["id"] == "":
        raise ReplayError(f"{where}id must be a non-empty string, got {json.dumps(rec['id'])}")
    planned = rec.get("planned_n")
    if planned is not None and (
        isinstance(planned, bool)
        or not isinstance(planned, int | float)
        or not (planned > 0 and math.isfinite(planned))
    ):
        raise ReplayError(f"{where}planned_n must be a positive number, got {json.dumps(planned)}")
    guards = rec.get("guardrails") or []
    if not isinstance(guards, list):
        raise ReplayError(f"{where}guardrails must be a list of objects")
    parsed = []
    for i, g in enumerate(guards, start=1):
        gw = f"{where}guardrail {i}: "
        if not isinstance(g, dict):
            raise ReplayError(f"{gw}expected an object with control, variant and tolerance")
        unknown = sorted(set(g) - _GUARD_KEYS)
        if unknown:
            raise ReplayError(f"{gw}unknown key(s) {', '.join(unknown)}")
        tol = g.get("tolerance")
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0:
            raise ReplayError(
                f"{gw}tolerance must be zero or more in the metric's units, got {json.dumps(tol)}"
            )
        for key in ("control", "variant"):
            if key not in g:
                raise ReplayError(f"{gw}{key!r} is missing")
        parsed.append(
            GuardrailInput(
                _stats(family, g["control"], f"{gw}control"),
                _stats(family, g["variant"], f"{gw}variant"),
                float(tol),
                _flag(g, "lower_is_better", gw),
                str(g.get("name") or f"guardrail {i}"),
            )
        )
    return LookInput(
        id=str(rec["id"]),
        control=_stats(family, rec["control"], f"{where}control"),
        variant=_stats(family, rec["variant"], f"{where}variant"),
        planned_n=float(planned) if planned is not None else None,
        lower_is_better=_flag(rec, "lower_is_better", where),
        guardrails=tuple(parsed),
    )


def evaluate_look(
    family: str,
    look: LookInput,
    n_history: Sequence[float],
    *,
    analysis: str = SEQUENTIAL,
    treatments: int = 1,
) -> dict[str, Any]:
    """The decision at one look given the effective units per arm of every look so far."""
    analyze = analyze_binary if family == "binary" else analyze_mean
    primary = analyze(
        look.control, look.variant, lower_is_better=look.lower_is_better, intervals=False
    )
    alpha, alpha_worse = ship_alpha(treatments), stop_alpha(len(look.guardrails))
    seq = None
    try:
        est, se = estimate_and_se(look.control, look.variant)
    except ValueError:
        est = se = math.nan
    if math.isfinite(est) and math.isfinite(se) and n_history[-1] > 0:
        seq = sequential_look(
            est,
            se,
            n_history,
            planned_n=look.planned_n,
            alpha=alpha,
            alpha_worse=alpha_worse,
            lower_is_better=look.lower_is_better,
            analysis=analysis,
        )
    g_results: list[GuardrailResult] = []
    g_looks: list[SequentialLook | None] = []
    for g in look.guardrails:
        g_results.append(
            guardrail_check(
                g.control,
                g.variant,
                tolerance=g.tolerance,
                lower_is_better=g.lower_is_better,
                name=g.name,
            )
        )
        try:
            g_est, g_se = estimate_and_se(g.control, g.variant)
            g_looks.append(
                sequential_look(
                    g_est,
                    g_se,
                    n_history,
                    planned_n=look.planned_n,
                    alpha=alpha,
                    alpha_worse=alpha_worse,
                    lower_is_better=g.lower_is_better,
                    analysis=analysis,
                )
            )
        except ValueError:
            g_looks.append(None)
    if seq is None:
        decision = decide(primary, g_results)
    else:
        decision = decide(primary, g_results, sequential=seq, guardrail_looks=g_looks)
    return {
        "id": look.id,
        "look": len(n_history),
        "decision": decision.action,
        "p_better": primary.prob_variant_better,
        "ci_low": seq.ci_low if seq else math.nan,
        "ci_high": seq.ci_high if seq else math.nan,
        "rule": seq.rule if seq else None,
        "information": seq.information if seq else None,
        "reasons": list(decision.reasons),
    }


def replay(
    family: str, looks: Iterable[LookInput], *, analysis: str = SEQUENTIAL
) -> Iterator[dict[str, Any]]:
    """Evaluate looks in order; lines sharing an id extend that id's history."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    history: dict[str, list[float]] = {}
    for look in looks:
        h = history.setdefault(look.id, [])
        h.append(effective_n(look.control.n, look.variant.n))
        yield evaluate_look(family, look, h, analysis=analysis)
