"""ship / keep running / stop, from the primary metric, expected loss, ROPE, guardrails and SRM."""

from __future__ import annotations

import math
from collections.abc import Sequence

from experiments.stats.results import ComparisonResult, Decision, GuardrailResult, SrmResult

SHIP, KEEP_RUNNING, STOP = "ship", "keep running", "stop"


def _pct(p: float) -> str:
    return f"{p:.1%}"


def default_loss_threshold(primary: ComparisonResult) -> float:
    """1 % of the control's value: a loss smaller than that is not worth waiting for."""
    m = primary.control.mean
    return 0.01 * abs(m) if math.isfinite(m) and m != 0 else 0.0


def decide(
    primary: ComparisonResult,
    guardrails: Sequence[GuardrailResult] = (),
    srm: SrmResult | None = None,
    *,
    prob_threshold: float = 0.95,
    loss_threshold: float | None = None,
    rope_threshold: float = 0.95,
) -> Decision:
    """Decide with reasons in words.

    - stop: the split is broken (SRM), a guardrail is more likely harmed than not, the variant
      is credibly worse (P(better) ≤ 1 − prob_threshold), or the lift is credibly inside the ROPE.
    - ship: P(better) ≥ prob_threshold, expected loss of shipping ≤ loss_threshold (metric units;
      default 1 % of the control's value) and every guardrail passes.
    - keep running: otherwise, with what is still missing.
    """
    if not 0.5 < prob_threshold < 1:
        raise ValueError(f"prob_threshold must be between 0.5 and 1, got {prob_threshold!r}")
    loss_max = default_loss_threshold(primary) if loss_threshold is None else loss_threshold
    if srm is not None and srm.mismatch:
        return Decision(
            STOP,
            (
                f"Sample-ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold:g}): the traffic "
                "split is not the planned one, so the comparison cannot be trusted. Fix the "
                "assignment and restart.",
            ),
        )
    p = primary.prob_variant_better
    if not math.isfinite(p):
        return Decision(
            KEEP_RUNNING,
            (f"Not enough data on the primary metric yet: {primary.message or 'no result'}.",),
        )
    reasons: list[str] = []
    harmed = [g for g in guardrails if math.isfinite(g.prob_worse) and g.prob_worse >= 0.5]
    if harmed:
        return Decision(
            STOP,
            tuple(
                f"Guardrail {g.name}: the variant is probably worse by more than the tolerance "
                f"({_pct(g.prob_worse)} chance)."
                for g in harmed
            ),
        )
    if p <= 1 - prob_threshold:
        return Decision(
            STOP,
            (
                f"The variant is probably worse on the primary metric: only {_pct(p)} chance it is "
                "better.",
            ),
        )
    if primary.prob_in_rope is not None and primary.prob_in_rope >= rope_threshold:
        return Decision(
            STOP,
            (
                f"{_pct(primary.prob_in_rope)} chance the difference is within ±{primary.rope:g}, "
                "too small to matter: the change makes no practical difference.",
            ),
        )
    failing = [g for g in guardrails if not g.passed]
    loss = primary.expected_loss.variant
    if p >= prob_threshold and loss <= loss_max and not failing:
        reasons.append(
            f"{_pct(p)} chance the variant is better (needs {_pct(prob_threshold)}), and the "
            f"expected loss if it is not is {loss:.3g} (limit {loss_max:.3g})."
        )
        reasons += [
            f"Guardrail {g.name} holds ({_pct(g.prob_worse)} chance of harm)." for g in guardrails
        ]
        return Decision(SHIP, tuple(reasons))
    if p < prob_threshold:
        reasons.append(
            f"{_pct(p)} chance the variant is better; {_pct(prob_threshold)} is needed to ship."
        )
    if loss > loss_max:
        reasons.append(
            f"Expected loss if we ship and are wrong is {loss:.3g}, above the limit {loss_max:.3g}."
        )
    for g in failing:
        chance = "unknown" if not math.isfinite(g.prob_worse) else _pct(g.prob_worse)
        reasons.append(
            f"Guardrail {g.name} is not yet shown safe ({chance} chance of harm beyond the "
            f"tolerance; at most {_pct(g.threshold)} allowed)."
        )
    return Decision(KEEP_RUNNING, tuple(reasons))


def verdict(result: ComparisonResult, *, prob_threshold: float = 0.95) -> str:
    """One sentence a non-statistician can act on."""
    p = result.prob_variant_better
    if not math.isfinite(p):
        return f"No answer yet: {result.message or 'not enough data'}."
    loss = result.expected_loss.variant
    unit = {"binary": " percentage points", "nps": " NPS points"}.get(result.family, "")
    scale = 100 if result.family == "binary" else 1
    if p >= prob_threshold:
        return (
            f"The variant is very likely better ({_pct(p)} chance); if it is not, switching "
            f"costs on average only {loss * scale:.3g}{unit}."
        )
    if p <= 1 - prob_threshold:
        return f"The variant is very likely worse: only a {_pct(p)} chance that it is better."
    return (
        f"No clear winner yet: a {_pct(p)} chance the variant is better, which is not enough "
        "to decide; collect more data."
    )
