"""Continuous metrics (handle time, response time, revenue) from n, Σx, Σx², optionally on log scale.

Original scale: with the reference prior p(μ, σ²) ∝ 1/σ² the marginal posterior of the mean is
Student-t, μ | data ~ t_{n−1}(x̄, s²/n) (Gelman et al., Bayesian Data Analysis, 3rd ed., §3.2).
We use the t rather than a normal so that small samples are not overconfident; for n in the
thousands the two agree to O(1/n).

Log scale (skewed positive data, sums of log x): log x ~ N(μ, σ²) and the original-scale mean is
exp(μ + σ²/2). We take μ | data ~ N(ȳ, s²/n) and plug in σ² = s² (its uncertainty is a
second-order effect once n ≳ 30), so the mean's posterior is LogNormal(ȳ + s²/2, s²/n) and every
lift is reported on the original scale.
"""

from __future__ import annotations

import math

from experiments.stats.comparison import build_comparison, empty_comparison
from experiments.stats.inputs import MeanStats
from experiments.stats.marginals import LogNormalMarginal, Marginal, PointMass, StudentTMarginal
from experiments.stats.results import ComparisonResult

MIN_N = 3  # the t posterior has a finite expected loss only with n − 1 > 1 degrees of freedom


def mean_posterior(stats: MeanStats) -> Marginal:
    """Posterior of the arm's mean on the original scale (see module docstring)."""
    if stats.n < MIN_N:
        raise ValueError(f"a mean needs at least {MIN_N} observations, got n={stats.n}")
    var = stats.variance
    if stats.log_scale:
        if var == 0:
            return PointMass(math.exp(stats.mean))
        return LogNormalMarginal(stats.mean + var / 2, math.sqrt(var / stats.n))
    if var == 0:
        return PointMass(stats.mean)
    return StudentTMarginal(stats.mean, math.sqrt(var / stats.n), stats.n - 1)


def analyze_mean(
    control: MeanStats,
    variant: MeanStats,
    *,
    lower_is_better: bool = False,
    ci: float = 0.95,
    rope: float | None = None,
    intervals: bool = True,
) -> ComparisonResult:
    """Compare two means (or, for log-scale stats, two original-scale lognormal means)."""
    if control.log_scale != variant.log_scale:
        raise ValueError("control and variant must both be on the log scale or both not")
    family = "mean (log scale)" if control.log_scale else "mean"
    small = [
        f"{arm} has n={s.n}"
        for arm, s in (("control", control), ("variant", variant))
        if s.n < MIN_N
    ]
    if small:
        return empty_comparison(
            family,
            control.n,
            variant.n,
            lower_is_better,
            ci,
            f"a mean needs at least {MIN_N} observations in each arm ({', '.join(small)})",
        )
    notes = [
        f"{arm} has zero variance: its mean is treated as known, which is overconfident"
        for arm, s in (("control", control), ("variant", variant))
        if s.variance == 0
    ]
    return build_comparison(
        family,
        mean_posterior(control),
        mean_posterior(variant),
        n_control=control.n,
        n_variant=variant.n,
        lower_is_better=lower_is_better,
        ci=ci,
        rope=rope,
        message="; ".join(notes) or None,
        intervals=intervals,
    )
