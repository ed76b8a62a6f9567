"""CUPED: remove the part of a metric explained by a pre-period covariate, on sufficient statistics.

Y' = Y − θ(X − x̄), θ = pooled within-arm cov(Y, X) / var(X) (Deng, Xu, Kohavi & Walker,
"Improving the Sensitivity of Online Controlled Experiments by Utilizing Pre-Experiment Data",
WSDM 2013). Var(Y') = Var(Y)(1 − ρ²). x̄ is the pooled covariate mean, so each arm's
adjusted mean stays unbiased for its effect. Works for binary Y (0/1) too: the adjusted metric is
continuous, so analyse it with analyze_mean.
"""

from __future__ import annotations

from collections.abc import Sequence

from experiments.stats.inputs import CovariateStats, MeanStats


def cuped_theta(arms: Sequence[CovariateStats]) -> float:
    """θ from the covariance and variance pooled within arms (0 if the covariate is constant)."""
    sxx = sxy = 0.0
    for a in arms:
        if a.n == 0:
            continue
        mx, my = a.sum_x / a.n, a.sum_y / a.n
        sxx += a.sum_x2 - a.n * mx * mx
        sxy += a.sum_xy - a.n * mx * my
    return sxy / sxx if sxx > 0 else 0.0


def cuped_adjust(stats: CovariateStats, theta: float, x_center: float) -> MeanStats:
    """MeanStats of Y − θ(X − c) from the arm's sums, with c the pooled covariate mean."""
    n, c = stats.n, x_center
    sum_xc = stats.sum_x - n * c  # Σ(x − c)
    sum_xc2 = stats.sum_x2 - 2 * c * stats.sum_x + n * c * c  # Σ(x − c)²
    sum_y_xc = stats.sum_xy - c * stats.sum_y  # Σy(x − c)
    s = stats.sum_y - theta * sum_xc
    ss = stats.sum_y2 - 2 * theta * sum_y_xc + theta * theta * sum_xc2
    # Guard rounding so the result passes MeanStats' Cauchy-Schwarz check.
    ss = max(ss, s * s / n if n else 0.0)
    return MeanStats(n=n, sum=s, sum_sq=ss)


def cuped(control: CovariateStats, variant: CovariateStats) -> tuple[MeanStats, MeanStats, float]:
    """Adjusted (control, variant) MeanStats and θ; feed them to analyze_mean."""
    theta = cuped_theta([control, variant])
    n = control.n + variant.n
    center = (control.sum_x + variant.sum_x) / n if n else 0.0
    return cuped_adjust(control, theta, center), cuped_adjust(variant, theta, center), theta
