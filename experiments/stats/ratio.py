"""Ratio metrics Σy/Σx (contacts per customer, revenue per contact) by the delta method.

With unit-level sums, R̂ = ȳ/x̄ and Var(R̂) ≈ (1/n)·(s_y²/x̄² − 2ȳ·s_xy/x̄³ + ȳ²·s_x²/x̄⁴)
(Deng, Knoblich & Lu, "Applying the Delta Method in Metric Analytics", KDD 2018). Each arm's
ratio is taken as normal with that mean and variance.
"""

from __future__ import annotations

import math

from experiments.stats.comparison import build_comparison, empty_comparison
from experiments.stats.inputs import RatioStats
from experiments.stats.marginals import Marginal, NormalMarginal, PointMass
from experiments.stats.results import ComparisonResult


def ratio_moments(s: RatioStats) -> tuple[float, float]:
    """Delta-method mean and variance of Σy/Σx."""
    n = s.n
    mx, my = s.sum_x / n, s.sum_y / n
    vx = max((s.sum_x2 - n * mx * mx) / (n - 1), 0.0)
    vy = max((s.sum_y2 - n * my * my) / (n - 1), 0.0)
    cxy = (s.sum_xy - n * mx * my) / (n - 1)
    var = (vy / mx**2 - 2 * my * cxy / mx**3 + my**2 * vx / mx**4) / n
    return my / mx, max(var, 0.0)


def ratio_posterior(s: RatioStats) -> Marginal:
    if s.n < 2 or s.sum_x == 0:
        raise ValueError(
            f"a ratio needs n ≥ 2 and a non-zero denominator, got n={s.n}, Σx={s.sum_x}"
        )
    mean, var = ratio_moments(s)
    return NormalMarginal(mean, math.sqrt(var)) if var > 0 else PointMass(mean)


def analyze_ratio(
    control: RatioStats,
    variant: RatioStats,
    *,
    lower_is_better: bool = False,
    ci: float = 0.95,
    rope: float | None = None,
    intervals: bool = True,
) -> ComparisonResult:
    bad = [
        f"{arm} has n={s.n}, Σx={s.sum_x:g}"
        for arm, s in (("control", control), ("variant", variant))
        if s.n < 2 or s.sum_x == 0
    ]
    if bad:
        return empty_comparison(
            "ratio",
            control.n,
            variant.n,
            lower_is_better,
            ci,
            f"a ratio needs at least 2 units and a non-zero denominator per arm ({', '.join(bad)})",
        )
    return build_comparison(
        "ratio",
        ratio_posterior(control),
        ratio_posterior(variant),
        n_control=control.n,
        n_variant=variant.n,
        lower_is_better=lower_is_better,
        ci=ci,
        rope=rope,
        intervals=intervals,
    )
