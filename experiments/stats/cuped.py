"""CUPED: remove the part of a metric explained by pre-period data, on sufficient statistics.

Y' = Y − θ'(W − w̄) with W = (X, M): X the pre-period value and M = 1 for a unit with no
pre-period (a new customer, whose X is recorded as 0). θ is the pooled within-arm regression of
Y on W (Deng, Xu, Kohavi & Walker, "Improving the Sensitivity of Online Controlled Experiments
by Utilizing Pre-Experiment Data", WSDM 2013, with the missing-indicator adjustment their §3.3
suggests for units without history). Without M, new units' zeros drag θ towards 0 and destroy
the variance reduction; with it they get their own intercept and the others keep theirs.
w̄ is the pooled mean, so each arm's adjusted mean stays unbiased for its effect. Works for
binary Y (0/1) too: the adjusted metric is continuous, so analyse it with analyze_mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.stats.inputs import CovariateStats, MeanStats


def _moments(a: CovariateStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Σw, Σww' and Σwy of one arm with w = (x, m)."""
    sw = np.array([a.sum_x, a.sum_m])
    sww = np.array([[a.sum_x2, a.sum_mx], [a.sum_mx, a.sum_m]])
    swy = np.array([a.sum_xy, a.sum_my])
    return sw, sww, swy


def cuped_coefficients(arms: Sequence[CovariateStats]) -> np.ndarray:
    """θ = (θ_x, θ_m) from the covariances pooled within arms; a constant column gets 0."""
    sxx = np.zeros((2, 2))
    sxy = np.zeros(2)
    for a in arms:
        if a.n == 0:
            continue
        sw, sww, swy = _moments(a)
        sxx += sww - np.outer(sw, sw) / a.n
        sxy += swy - sw * a.sum_y / a.n
    keep = np.diag(sxx) > 1e-12 * max(float(np.abs(sxx).max()), 1e-300)
    theta = np.zeros(2)
    if keep.any():
        idx = np.flatnonzero(keep)
        sub = sxx[np.ix_(idx, idx)]
        try:
            theta[idx] = np.linalg.solve(sub, sxy[idx])
        except np.linalg.LinAlgError:  # x constant among units with a pre-period
            theta[idx] = np.linalg.lstsq(sub, sxy[idx], rcond=None)[0]
    return theta


def cuped_theta(arms: Sequence[CovariateStats]) -> float:
    """θ of the pre-period value (with the missing indicator when some units have none)."""
    return float(cuped_coefficients(arms)[0])


def cuped_adjust(
    stats: CovariateStats, theta: float | np.ndarray, x_center: float | np.ndarray
) -> MeanStats:
    """MeanStats of Y − θ'(W − c) from the arm's sums, with c the pooled mean of W = (X, M)."""
    n = stats.n
    th = np.array([theta, 0.0]) if np.ndim(theta) == 0 else np.asarray(theta, float)
    c = np.array([x_center, 0.0]) if np.ndim(x_center) == 0 else np.asarray(x_center, float)
    sw, sww, swy = _moments(stats)
    sum_wc = sw - n * c  # Σ(w − c)
    sum_wc2 = sww - np.outer(sw, c) - np.outer(c, sw) + n * np.outer(c, c)  # Σ(w − c)(w − c)'
    sum_y_wc = swy - c * stats.sum_y  # Σy(w − c)
    s = stats.sum_y - float(th @ sum_wc)
    ss = stats.sum_y2 - 2 * float(th @ sum_y_wc) + float(th @ sum_wc2 @ th)
    # Guard rounding so the result passes MeanStats' Cauchy-Schwarz check.
    ss = max(ss, s * s / n if n else 0.0)
    return MeanStats(n=n, sum=s, sum_sq=ss)


def cuped(control: CovariateStats, variant: CovariateStats) -> tuple[MeanStats, MeanStats, float]:
    """Adjusted (control, variant) MeanStats and θ_x; feed them to analyze_mean."""
    theta = cuped_coefficients([control, variant])
    n = control.n + variant.n
    center = (
        np.array([control.sum_x + variant.sum_x, control.sum_m + variant.sum_m]) / n
        if n
        else np.zeros(2)
    )
    return (
        cuped_adjust(control, theta, center),
        cuped_adjust(variant, theta, center),
        float(theta[0]),
    )


def covariate_stats(y: np.ndarray, x: np.ndarray, missing: np.ndarray | None = None):
    """CovariateStats of unit-level arrays (x of missing units is set to 0)."""
    y = np.asarray(y, float)
    m = np.zeros_like(y) if missing is None else np.asarray(missing, bool).astype(float)
    x = np.where(m > 0, 0.0, np.asarray(x, float))
    return CovariateStats(
        n=int(y.size),
        sum_y=float(y.sum()),
        sum_y2=float((y * y).sum()),
        sum_x=float(x.sum()),
        sum_x2=float((x * x).sum()),
        sum_xy=float((x * y).sum()),
        sum_m=float(m.sum()),
        sum_my=float((m * y).sum()),
        sum_mx=float((m * x).sum()),
    )
