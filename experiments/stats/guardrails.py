"""Guardrails as non-inferiority: how likely is the variant worse than control by more than a tolerance."""

from __future__ import annotations

import math

from experiments.stats.marginals import prob_diff_greater, ratio_cdf
from experiments.stats.posteriors import Stats, arm_posterior
from experiments.stats.results import GuardrailResult

DEFAULT_THRESHOLD = 0.05


def guardrail_check(
    control: Stats,
    variant: Stats,
    *,
    tolerance: float,
    relative: bool = False,
    lower_is_better: bool = False,
    threshold: float = DEFAULT_THRESHOLD,
    name: str = "guardrail",
    prior: tuple[float, ...] | None = None,
) -> GuardrailResult:
    """P(variant worse than control by more than tolerance); the guardrail fails above threshold.

    tolerance is in metric units (0.01 = one point of a rate), or a fraction of the control's
    value when relative=True (0.05 = 5 % worse). "Worse" means lower, or higher if
    lower_is_better (e.g. handle time, churn).
    """
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be zero or more, got {tolerance!r}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")

    def unchecked(why: str) -> GuardrailResult:
        """Not passed, with no probability: the check could not be made."""
        return GuardrailResult(
            name, tolerance, relative, threshold, math.nan, False, lower_is_better, f"{name}: {why}"
        )

    try:
        x = arm_posterior(control, prior)
        y = arm_posterior(variant, prior)
    except ValueError as exc:
        return unchecked(f"not enough data to check ({exc})")
    if relative:
        if x.mean <= 0 or float(x.cdf(0.0)) > 1e-9:
            return unchecked("a relative tolerance needs a positive control value")
        if lower_is_better:
            p = 1.0 - float(ratio_cdf(x, y, 1.0 + tolerance))
        else:
            p = float(ratio_cdf(x, y, 1.0 - tolerance))
    elif lower_is_better:
        p = float(prob_diff_greater(x, y, tolerance))  # P(Y − X > tol)
    else:
        p = float(prob_diff_greater(y, x, tolerance))  # P(X − Y > tol)
    p = min(max(p, 0.0), 1.0)
    passed = p <= threshold
    unit = f"{tolerance:.1%}" if relative else f"{tolerance:g}"
    message = None
    if not passed:
        message = (
            f"{name}: {p:.1%} chance the variant is worse by more than {unit} "
            f"(allowed {threshold:.0%})"
        )
    return GuardrailResult(
        name, tolerance, relative, threshold, p, passed, lower_is_better, message
    )
