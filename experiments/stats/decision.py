"""ship / keep running / stop: the sequential rule decides, the Bayesian outputs describe.

With a `SequentialLook` (experiments.stats.sequential) the decision is peeking-safe: "ship" when
the primary metric crosses its O'Brien–Fleming boundary (or, beyond the plan, its confidence
sequence) on the better side and every guardrail is shown safe; "stop" when the split is broken,
a guardrail is credibly harmed beyond its tolerance, or the primary is credibly worse, the stop
tests sharing α = 5 % by Bonferroni. Without one (the quick calculator, old callers) the
fixed Bayesian rule applies: P(better) ≥ 95 % and an expected loss within its limit.
In both, no decision is taken while an arm has fewer than MIN_UNITS_PER_ARM units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from experiments.stats.results import (
    ComparisonResult,
    Decision,
    GuardrailResult,
    ReasonNote,
    SrmResult,
)
from experiments.stats.sequential import SequentialLook

SHIP, KEEP_RUNNING, STOP = "ship", "keep running", "stop"
# Below this many units in an arm no decision is taken: early looks are noisy and the
# normal approximations behind the boundaries are not yet trustworthy.
MIN_UNITS_PER_ARM = 100
# The expected-loss limit, on the metric's own scale: a share of the plan's MDE when there is
# one; otherwise NPS_LOSS_LIMIT points for NPS (an interval scale: a limit relative to the
# control's NPS would be 0 at NPS 0) and RELATIVE_LOSS_LIMIT of the control's value for
# rates, means and ratios (ratio scales, where 0 means none).
LOSS_SHARE_OF_MDE = 0.1
NPS_LOSS_LIMIT = 0.5
RELATIVE_LOSS_LIMIT = 0.01


def _pct(p: float) -> str:
    return f"{p:.1%}"


def _decision(action: str, *reasons: tuple[str, ReasonNote]) -> Decision:
    """A Decision from (English sentence, note) pairs: the notes travel in the same order."""
    return Decision(action, tuple(r[0] for r in reasons), tuple(r[1] for r in reasons))


def _note(key: str, **values: tuple[str, object]) -> ReasonNote:
    return f"reason.{key}", dict(values)


# A loss is said in the family's reading unit: a rate's in percentage points (x 100).
LOSS_SCALE = {"binary": 100.0, "nps": 1.0}


def _loss_note(primary: ComparisonResult, limit: float) -> ReasonNote:
    loss = primary.expected_loss.variant
    scale = LOSS_SCALE.get(primary.family, 1.0)
    unit = {"binary": "pp", "nps": "nps"}.get(primary.family, "")
    return _note(
        f"loss{('_' + unit) if unit else ''}",
        loss=("num", loss * scale),
        limit=("num", limit * scale),
    )


def default_loss_threshold(primary: ComparisonResult, mde: float | None = None) -> float:
    """The most expected loss (metric units) a ship may carry; see the module constants."""
    if mde is not None and math.isfinite(mde) and mde > 0:
        return LOSS_SHARE_OF_MDE * mde
    if primary.family == "nps":
        return NPS_LOSS_LIMIT
    m = primary.control.mean
    return RELATIVE_LOSS_LIMIT * abs(m) if math.isfinite(m) and m != 0 else 0.0


def loss_sentence(primary: ComparisonResult, limit: float) -> str:
    """What the expected loss is, in words, with its limit."""
    loss = primary.expected_loss.variant
    scale = LOSS_SCALE.get(primary.family, 1.0)
    unit = {"binary": " pp", "nps": " NPS points"}.get(primary.family, "")
    return (
        f"Expected loss if we ship and the variant is in fact worse (the average shortfall "
        f"over the posterior): {loss * scale:.3g}{unit} (limit {limit * scale:.3g}{unit})."
    )


def decide(
    primary: ComparisonResult,
    guardrails: Sequence[GuardrailResult] = (),
    srm: SrmResult | None = None,
    *,
    sequential: SequentialLook | None = None,
    guardrail_looks: Sequence[SequentialLook | None] = (),
    prob_threshold: float = 0.95,
    loss_threshold: float | None = None,
    rope_threshold: float = 0.95,
    mde: float | None = None,
    min_units: int = MIN_UNITS_PER_ARM,
) -> Decision:
    """Decide with reasons in words that name the rule that decided.

    sequential: the primary's look (its `better` / `worse` flags decide ship / stop);
    guardrail_looks: one look per guardrail (same order), tested for harm at its own α.
    Without `sequential`, the fixed Bayesian rule: ship at P(better) ≥ prob_threshold, stop
    at P(better) ≤ 1 − prob_threshold or a guardrail more likely harmed than not.
    """
    if not 0.5 < prob_threshold < 1:
        raise ValueError(f"prob_threshold must be between 0.5 and 1, got {prob_threshold!r}")
    loss_max = default_loss_threshold(primary, mde) if loss_threshold is None else loss_threshold
    if srm is not None and srm.mismatch:
        return _decision(
            STOP,
            (
                f"Sample-ratio mismatch (p = {srm.p_value:.2g} < {srm.threshold:g}): the traffic "
                "split is not the planned one, so the comparison cannot be trusted. Fix the "
                "assignment and restart.",
                _note("srm", p=("num", srm.p_value), threshold=("num", srm.threshold)),
            ),
        )
    p = primary.prob_variant_better
    if not math.isfinite(p):
        return _decision(
            KEEP_RUNNING,
            (
                f"Not enough data on the primary metric yet: {primary.message or 'no result'}.",
                _note("no_data", message=("text", primary.message or "")),
            ),
        )
    small = min(primary.control.n, primary.variant.n)
    if small < min_units:
        return _decision(
            KEEP_RUNNING,
            (
                f"Too few units to decide: {small} in the smaller arm, at least {min_units} "
                f"per arm are needed ({_pct(p)} chance the variant is better so far).",
                _note("too_few", small=("int", small), need=("int", min_units), p=("prob", p)),
            ),
        )
    if sequential is not None:
        return _decide_sequential(primary, guardrails, sequential, guardrail_looks, loss_max)
    return _decide_bayes(primary, guardrails, prob_threshold, loss_max, rope_threshold)


def _guardrail_safe_reasons(guardrails: Sequence[GuardrailResult]) -> list[tuple[str, ReasonNote]]:
    return [
        (
            f"Guardrail {g.name} holds ({_pct(g.prob_worse)} chance of harm).",
            _note("guard_holds", name=("metric", g.name), p=("prob", g.prob_worse)),
        )
        for g in guardrails
    ]


def _failing_reasons(failing: Sequence[GuardrailResult]) -> list[tuple[str, ReasonNote]]:
    out = []
    for g in failing:
        known = math.isfinite(g.prob_worse)
        chance = "unknown" if not known else _pct(g.prob_worse)
        out.append(
            (
                f"Guardrail {g.name} is not yet shown safe ({chance} chance of harm beyond the "
                f"tolerance; at most {_pct(g.threshold)} allowed).",
                _note(
                    "guard_not_safe" if known else "guard_not_safe_unknown",
                    name=("metric", g.name),
                    p=("prob", g.prob_worse),
                    max=("prob", g.threshold),
                ),
            )
        )
    return out


def _decide_sequential(
    primary: ComparisonResult,
    guardrails: Sequence[GuardrailResult],
    look: SequentialLook,
    guardrail_looks: Sequence[SequentialLook | None],
    loss_max: float,
) -> Decision:
    p = primary.prob_variant_better
    harmed = [
        (g, gl)
        for g, gl in zip(guardrails, guardrail_looks, strict=False)
        if gl is not None and gl.worse and math.isfinite(g.prob_worse) and g.prob_worse >= 0.5
    ]
    if harmed:
        return _decision(
            STOP,
            *(
                (
                    f"Guardrail {g.name}: the variant is credibly worse ({gl.describe('worse')}, "
                    f"α {gl.alpha_worse:.2%} after Bonferroni over the stop tests) and probably "
                    f"by more than the tolerance ({_pct(g.prob_worse)} chance).",
                    _note(
                        "seq_guard_harmed",
                        name=("metric", g.name),
                        look=("note", gl.describe_note("worse")),
                        alpha=("pct2", gl.alpha_worse),
                        p=("prob", g.prob_worse),
                    ),
                )
                for g, gl in harmed
            ),
        )
    if look.worse:
        return _decision(
            STOP,
            (
                f"The variant is credibly worse on the primary metric: {look.describe('worse')} "
                f"(α {look.alpha_worse:.2%}); {_pct(p)} chance it is better.",
                _note(
                    "seq_worse",
                    look=("note", look.describe_note("worse")),
                    alpha=("pct2", look.alpha_worse),
                    p=("prob", p),
                ),
            ),
        )
    failing = [g for g in guardrails if not g.passed]
    loss = primary.expected_loss.variant
    described = (
        f"{_pct(p)} chance the variant is better. " + loss_sentence(primary, loss_max),
        _note("described", p=("prob", p), loss=("note", _loss_note(primary, loss_max))),
    )
    better = look.describe_note("better")
    if look.better and loss <= loss_max and not failing:
        return _decision(
            SHIP,
            (
                f"{look.describe('better')} (α {look.alpha:.2%}, one-sided): the variant is "
                "better.",
                _note("seq_ship", look=("note", better), alpha=("pct2", look.alpha)),
            ),
            described,
            *_guardrail_safe_reasons(guardrails),
        )
    reasons = []
    if not look.better:
        reasons.append(
            (
                f"{look.describe('better')}: not yet enough evidence to ship (α {look.alpha:.2%}).",
                _note("seq_not_yet", look=("note", better), alpha=("pct2", look.alpha)),
            )
        )
    else:
        reasons.append(
            (
                f"{look.describe('better')}: the primary metric has crossed.",
                _note("seq_crossed", look=("note", better)),
            )
        )
    reasons.append(described)
    if loss > loss_max:
        reasons.append(("The expected loss is above its limit.", _note("loss_above")))
    reasons += _failing_reasons(failing)
    return _decision(KEEP_RUNNING, *reasons)


def _decide_bayes(
    primary: ComparisonResult,
    guardrails: Sequence[GuardrailResult],
    prob_threshold: float,
    loss_max: float,
    rope_threshold: float,
) -> Decision:
    """The fixed Bayesian rule (one look, no multiplicity control): the quick calculator's."""
    p = primary.prob_variant_better
    harmed = [g for g in guardrails if math.isfinite(g.prob_worse) and g.prob_worse >= 0.5]
    if harmed:
        return _decision(
            STOP,
            *(
                (
                    f"Guardrail {g.name}: the variant is probably worse by more than the "
                    f"tolerance ({_pct(g.prob_worse)} chance).",
                    _note("guard_harmed", name=("metric", g.name), p=("prob", g.prob_worse)),
                )
                for g in harmed
            ),
        )
    if p <= 1 - prob_threshold:
        return _decision(
            STOP,
            (
                f"The variant is probably worse on the primary metric: only {_pct(p)} chance it is "
                "better.",
                _note("worse", p=("prob", p)),
            ),
        )
    if primary.prob_in_rope is not None and primary.prob_in_rope >= rope_threshold:
        return _decision(
            STOP,
            (
                f"{_pct(primary.prob_in_rope)} chance the difference is within ±{primary.rope:g}, "
                "too small to matter: the change makes no practical difference.",
                _note("rope", p=("prob", primary.prob_in_rope), rope=("num", primary.rope)),
            ),
        )
    failing = [g for g in guardrails if not g.passed]
    loss = primary.expected_loss.variant
    if p >= prob_threshold and loss <= loss_max and not failing:
        return _decision(
            SHIP,
            (
                f"{_pct(p)} chance the variant is better (needs {_pct(prob_threshold)}), and the "
                f"expected loss if it is not is {loss:.3g} (limit {loss_max:.3g}).",
                _note(
                    "ship",
                    p=("prob", p),
                    need=("prob", prob_threshold),
                    loss=("num", loss),
                    limit=("num", loss_max),
                ),
            ),
            *_guardrail_safe_reasons(guardrails),
        )
    reasons: list[tuple[str, ReasonNote]] = []
    if p < prob_threshold:
        reasons.append(
            (
                f"{_pct(p)} chance the variant is better; {_pct(prob_threshold)} is needed to ship.",
                _note("not_yet", p=("prob", p), need=("prob", prob_threshold)),
            )
        )
    if loss > loss_max:
        reasons.append(
            (
                f"Expected loss if we ship and are wrong is {loss:.3g}, above the limit "
                f"{loss_max:.3g}.",
                _note("loss_over", loss=("num", loss), limit=("num", loss_max)),
            )
        )
    reasons += _failing_reasons(failing)
    return _decision(KEEP_RUNNING, *reasons)


def verdict(result: ComparisonResult, *, prob_threshold: float = 0.95) -> str:
    """One sentence a non-statistician can act on."""
    p = result.prob_variant_better
    if not math.isfinite(p):
        return f"No answer yet: {result.message or 'not enough data'}."
    loss = result.expected_loss.variant
    unit = {"binary": " percentage points", "nps": " NPS points"}.get(result.family, "")
    scale = LOSS_SCALE.get(result.family, 1.0)
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
