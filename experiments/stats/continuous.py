"""Continuous metrics (handle time, response time, revenue) from n, Σx, Σx², optionally on log scale.

Original scale: with the reference prior p(μ, σ²) ∝ 1/σ² the marginal posterior of the mean is
Student-t, μ | data ~ t_{n−1}(x̄, s²/n) (Gelman et al., Bayesian Data Analysis, 3rd ed., §3.2).
We use the t rather than a normal so that small samples are not overconfident; for n in the
thousands the two agree to O(1/n).

Log scale (skewed positive data, sums of log x): log x ~ N(μ, σ²) and the original-scale mean is
exp(η), η = μ + σ²/2. The estimate ȳ + s²/2 has variance σ²/n + σ⁴/(2(n−1)): the second term is
the uncertainty of σ², which plugging in s² would ignore (coverage then fell to 71-89 % at
σ = 2). The arm's mean is taken as LogNormal(ȳ + s²/2, τ) with τ the modified Cox standard
error, √(s²/n + s⁴/(2(n−1))) scaled by t_{n−1}(0.975)/z(0.975) so that its 95 % interval is the
modified Cox interval (Armstrong, "Confidence intervals for arithmetic means of lognormally
distributed exposures", AIHA J. 1992; Zhou & Gao, Stat. Med. 1997): seeded simulations give
94.5-95 % coverage for σ = 1 and 2 at n = 50, 200 and 2,000. Log-scale statistics need x > 0:
`log_mean_stats` refuses zeros and negatives.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy.special import ndtri, stdtrit

from experiments.stats.comparison import build_comparison, empty_comparison
from experiments.stats.inputs import MeanStats
from experiments.stats.marginals import LogNormalMarginal, Marginal, PointMass, StudentTMarginal
from experiments.stats.results import ComparisonResult

MIN_N = 3  # the t posterior has a finite expected loss only with n − 1 > 1 degrees of freedom
_Z975 = float(ndtri(0.975))


def log_scale_sd(n, var):
    """Modified Cox standard error of ȳ + s²/2 (see the module docstring); numpy-friendly."""
    cox = np.sqrt(var / n + var * var / (2 * (n - 1)))
    out = cox * stdtrit(n - 1, 0.975) / _Z975
    return float(out) if np.ndim(out) == 0 else out


def log_mean_stats(values: Iterable[float], *, what: str = "values") -> MeanStats:
    """Log-scale MeanStats of positive values; zeros or negatives are refused (log undefined).

    Data with zeros (customers with no spend, no contacts) are not lognormal: analyse them on
    the original scale, or the positive part and the share of zeros separately.
    """
    x = np.asarray(list(values), dtype=float)
    bad = np.flatnonzero(~(x > 0))
    if bad.size:
        raise ValueError(
            f"{what}: the log-scale mean needs positive values, but {bad.size} of {x.size} are "
            f"zero, negative or missing (first at position {int(bad[0]) + 1}: {x[bad[0]]!r}); "
            "analyse these data on the original scale"
        )
    y = np.log(x)
    return MeanStats.from_log_sums(int(x.size), float(y.sum()), float((y * y).sum()))


def mean_posterior(stats: MeanStats) -> Marginal:
    """Posterior of the arm's mean on the original scale (see module docstring)."""
    if stats.n < MIN_N:
        raise ValueError(f"a mean needs at least {MIN_N} observations, got n={stats.n}")
    var = stats.variance
    if stats.log_scale:
        if var == 0:
            return PointMass(math.exp(stats.mean))
        return LogNormalMarginal(stats.mean + var / 2, log_scale_sd(stats.n, var))
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
