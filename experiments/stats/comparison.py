"""Turn two arm posteriors into a ComparisonResult: P(better), expected loss, lifts, ROPE."""

from __future__ import annotations

import math

from experiments.stats.marginals import (
    Marginal,
    expected_excess,
    interval_of,
    lift_intervals,
    prob_diff_greater,
)
from experiments.stats.results import ArmSummary, ComparisonResult, ExpectedLoss, Interval


def check_ci(ci: float) -> None:
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1 (e.g. 0.95), got {ci!r}")


def arm_summary(n: int, m: Marginal, ci: float) -> ArmSummary:
    lo, hi = interval_of(m, ci)
    return ArmSummary(n=int(n), mean=float(m.mean), ci_low=lo, ci_high=hi)


def build_comparison(
    family: str,
    control: Marginal,
    variant: Marginal,
    *,
    n_control: int,
    n_variant: int,
    lower_is_better: bool,
    ci: float,
    rope: float | None = None,
    message: str | None = None,
    prob_greater: tuple[float, float] | None = None,
    excess: float | None = None,
    intervals: bool = True,
    relative: bool = True,
) -> ComparisonResult:
    """Compare two arm posteriors (relative=False: no relative lift, e.g. for NPS).

    prob_greater = (P(Y > X), P(X > Y)) and excess = E[(Y − X)⁺] may be passed when a family
    has a closed form (binary: Evan Miller's sum); otherwise they come from quadrature.
    """
    check_ci(ci)
    x, y = control, variant
    if prob_greater is None:
        prob_greater = (float(prob_diff_greater(x, y, 0.0)), float(prob_diff_greater(y, x, 0.0)))
    p_y_gt, p_x_gt = prob_greater
    up = expected_excess(x, y) if excess is None else excess  # E[(Y − X)⁺]
    down = up - (y.mean - x.mean)  # E[(X − Y)⁺], since (D)⁺ − (−D)⁺ = D
    down = max(down, 0.0)
    if lower_is_better:
        p_better = p_x_gt
        # Choosing control loses when control is higher; choosing variant when it is higher.
        loss = ExpectedLoss(control=down, variant=up)
    else:
        p_better = p_y_gt
        loss = ExpectedLoss(control=up, variant=down)
    abs_lift = Interval(mean=y.mean - x.mean)
    rel_lift = Interval(mean=y.mean / x.mean - 1 if relative and x.mean != 0 else math.nan)
    notes = [message] if message else []
    if intervals:
        abs_ci, rel_ci = lift_intervals(x, y, ci, relative=relative)
        abs_lift = Interval(abs_lift.mean, *abs_ci)
        if relative and rel_ci is None:
            rel_lift = Interval()
            notes.append(
                "relative lift is not reported: the control's value can be zero or negative"
            )
        elif relative and rel_ci is not None:
            rel_lift = Interval(rel_lift.mean, *rel_ci)
    prob_rope = None
    if rope is not None:
        if rope <= 0:
            raise ValueError(f"rope must be a positive half-width in metric units, got {rope!r}")
        prob_rope = float(1.0 - prob_diff_greater(x, y, rope) - prob_diff_greater(y, x, rope))
    return ComparisonResult(
        family=family,
        lower_is_better=lower_is_better,
        ci_level=ci,
        control=arm_summary(n_control, x, ci),
        variant=arm_summary(n_variant, y, ci),
        prob_variant_better=float(min(max(p_better, 0.0), 1.0)),
        expected_loss=loss,
        absolute_lift=abs_lift,
        relative_lift=rel_lift,
        rope=rope,
        prob_in_rope=prob_rope,
        message="; ".join(notes) or None,
    )


def empty_comparison(
    family: str, n_control: int, n_variant: int, lower_is_better: bool, ci: float, message: str
) -> ComparisonResult:
    """A defined result with no figures, for inputs that carry no information to compare."""
    return ComparisonResult(
        family=family,
        lower_is_better=lower_is_better,
        ci_level=ci,
        control=ArmSummary(n=int(n_control)),
        variant=ArmSummary(n=int(n_variant)),
        message=message,
    )
