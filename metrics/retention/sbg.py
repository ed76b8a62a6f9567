"""Contractual CLV: the shifted-beta-geometric (sBG) retention model and its DERL.

References:
- [FH07] Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive
  Marketing 21(1):76-90. Each customer renews a period with probability 1 - θ, θ ~ Beta(α, β):
  P(T = t) = B(α + 1, β + t - 1) / B(α, β) and S(t) = P(T > t) = B(α, β + t) / B(α, β),
  t = 1, 2, ... (T is the period in which the customer leaves).
- [FH10] Fader & Hardie (2010), "Customer-Base Valuation in a Contractual Setting: The Perils
  of Ignoring Heterogeneity", Marketing Science 29(1):85-93. The discounted expected residual
  lifetime of a customer who has made n - 1 renewals (in her n-th period, before deciding on
  the next one):
      DERL(d | α, β, n - 1) = Σ_{t=n}^∞ S(t | T > n - 1) / (1 + d)^(t - n)
                           = B(α, β + n) / B(α, β + n - 1) · 2F1(1, β + n; α + β + n; 1/(1 + d)).

The likelihood handles left truncation and right censoring, so it is the [FH07] cohort
likelihood when every customer enters at 0, and the right one for a store whose customers
were first seen part-way through their tenure (an export starting years after signups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize
from scipy.special import betaln, digamma, hyp2f1

# Box on log α and log β: outside it the Beta mixing distribution is degenerate for any
# cohort a person could collect (α/(α+β) is the first-period churn, α+β its concentration).
LOG_BOUNDS = (-7.0, 9.0)
INTERVAL = 0.90  # the central interval reported everywhere (as the BG/NBD figures)


class SbgError(ValueError):
    """Input the sBG model cannot use (one line, for the CLI and the page)."""


@dataclass(frozen=True)
class SbgFit:
    """Maximum-likelihood α, β with their Laplace covariance on the log scale."""

    alpha: float
    beta: float
    log_cov: np.ndarray
    loglik: float
    n_customers: float
    at_bound: bool
    message: str
    notes: list[str] = field(default_factory=list)

    def draws(self, size: int, seed: int = 0) -> np.ndarray:
        """(size, 2) draws of (α, β) from the Laplace approximation (flat prior on logs).

        When the curvature is unusable or a parameter sits at its bound, every draw is the
        estimate: an interval would then be meaningless, so callers say so instead.
        """
        mean = np.log([self.alpha, self.beta])
        if self.at_bound or not np.all(np.isfinite(self.log_cov)):
            return np.exp(np.tile(mean, (size, 1)))
        rng = np.random.default_rng(seed)
        return np.exp(rng.multivariate_normal(mean, self.log_cov, size=size))


def churn_probability(alpha: Any, beta: Any, t: Any) -> np.ndarray:
    """P(T = t) of [FH07]: the share of a new cohort lost in period t (t >= 1)."""
    t = np.asarray(t, dtype=float)
    return np.exp(betaln(alpha + 1, beta + t - 1) - betaln(alpha, beta))


def survival(alpha: Any, beta: Any, t: Any) -> np.ndarray:
    """S(t) = P(T > t) of [FH07]: the share of a new cohort still active after t periods."""
    t = np.asarray(t, dtype=float)
    return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))


def derl(alpha: Any, beta: Any, discount: float, renewals: Any = 0) -> np.ndarray:
    """DERL(d | α, β, n - 1 renewals) of [FH10], closed form through 2F1.

    `discount` is the rate per period (> 0: without discounting the sum diverges when
    α <= 1). A new customer has made 0 renewals.
    """
    if not discount > 0:
        raise SbgError(f"discount rate per period must be above 0 (e.g. 0.1), got {discount}")
    n = np.asarray(renewals, dtype=float) + 1.0
    head = np.exp(betaln(alpha, beta + n) - betaln(alpha, beta + n - 1))
    return head * hyp2f1(1.0, beta + n, alpha + beta + n, 1.0 / (1.0 + discount))


def _loglik_grad(
    log_ab: np.ndarray, entry: np.ndarray, time: np.ndarray, event: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray]:
    """Log-likelihood and its gradient in (log α, log β).

    d/dx ln B(x, y) = ψ(x) - ψ(x + y), so every term differentiates in closed form.
    """
    alpha, beta = np.exp(log_ab)
    a1 = np.where(event, alpha + 1, alpha)  # numerator B(a1, b1) of each row
    b1 = np.where(event, beta + time - 1, beta + time)
    b0 = beta + entry  # S(entry) = B(α, β + entry) / B(α, β): the truncation term
    ll = betaln(a1, b1) - betaln(alpha, b0)
    d_a = digamma(a1) - digamma(a1 + b1) - digamma(alpha) + digamma(alpha + b0)
    d_b = digamma(b1) - digamma(a1 + b1) - digamma(b0) + digamma(alpha + b0)
    return float(w @ ll), np.array([w @ d_a * alpha, w @ d_b * beta])


def fit_sbg(
    entry: Any, time: Any, event: Any, weight: Any | None = None, *, label: str = "cohort"
) -> SbgFit:
    """Maximum-likelihood sBG on (entry, time, event, weight) rows.

    A row stands for `weight` customers first observed after `entry` whole periods, who
    left in period `time` (event) or were still active after `time` periods (censored).
    Each contributes P(T = time) / S(entry) or S(time) / S(entry).
    """
    entry, time = (np.asarray(v, dtype=float) for v in (entry, time))
    event = np.asarray(event, dtype=bool)
    w = np.ones_like(time) if weight is None else np.asarray(weight, dtype=float)
    if not (entry.shape == time.shape == event.shape == w.shape):
        raise SbgError("entry, time, event and weight must have the same length")
    keep = w > 0
    entry, time, event, w = entry[keep], time[keep], event[keep], w[keep]
    if np.any(entry < 0) or np.any(time < 1) or np.any(entry >= time + (~event)):
        raise SbgError(
            f"{label}: each row needs 0 <= entry < period of churn (or <= censoring period)"
        )
    if w.sum() == 0:
        raise SbgError(f"{label}: no customers to fit")
    if not event.any():
        raise SbgError(f"{label}: no churn observed, so retention cannot be estimated")
    if event.all() and np.all(time == 1):
        raise SbgError(f"{label}: every customer left in the first period")

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            val, grad = _loglik_grad(theta, entry, time, event, w)
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            return 1e300, np.zeros(2)
        return -val, -grad

    # Start from α + β = 2 and the first-period churn observed (α / (α + β) = P(T = 1)).
    p1 = float(w[event & (time == 1) & (entry == 0)].sum() / max(w[entry == 0].sum(), 1.0))
    p1 = min(max(p1, 0.02), 0.98)
    best = optimize.minimize(
        nll,
        np.log([2 * p1, 2 * (1 - p1)]),
        jac=True,
        method="L-BFGS-B",
        bounds=[LOG_BOUNDS] * 2,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000},
    )
    theta = best.x
    at_bound = bool(np.any(theta <= LOG_BOUNDS[0] + 0.05) | np.any(theta >= LOG_BOUNDS[1] - 0.05))
    cov = _hessian_inverse(lambda th: nll(th)[0], theta)
    message = "converged"
    if at_bound:
        message = (
            f"{label}: α or β reached the search bound (churn looks the same for everyone); "
            "the fit is not identified and no interval is shown"
        )
    elif not np.all(np.isfinite(cov)):
        message = f"{label}: curvature at the estimate is not usable; intervals omitted"
    alpha, beta = np.exp(theta)
    return SbgFit(
        alpha=float(alpha),
        beta=float(beta),
        log_cov=cov,
        loglik=-float(nll(theta)[0]),
        n_customers=float(w.sum()),
        at_bound=at_bound,
        message=message,
    )


def _hessian_inverse(nll, theta: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Inverse of the central-difference Hessian of nll at theta; NaN when not positive."""
    k = theta.size
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (
                nll(theta + e_i + e_j)
                - nll(theta + e_i - e_j)
                - nll(theta - e_i + e_j)
                + nll(theta - e_i - e_j)
            ) / (4 * h * h)
    try:
        cov = np.linalg.inv((hess + hess.T) / 2)
    except np.linalg.LinAlgError:
        return np.full((k, k), np.nan)
    if not np.all(np.isfinite(cov)) or np.any(np.linalg.eigvalsh(cov) <= 0):
        return np.full((k, k), np.nan)
    return cov


def survivor_rows(survivors: list[float]) -> tuple[np.ndarray, ...]:
    """[FH07] cohort data (active at the start of periods 1..T+1) as (entry, time, event, w).

    survivors[0] is the cohort size; survivors[t] the number still active after t periods.
    """
    s = np.asarray(survivors, dtype=float)
    if s.size < 2:
        raise SbgError("survivors: need the cohort size and at least one later count")
    if np.any(s < 0) or np.any(np.diff(s) > 0):
        raise SbgError(
            f"survivors: counts must be non-negative and never increase, got {list(survivors)}"
        )
    periods = np.arange(1, s.size)
    lost = s[:-1] - s[1:]
    entry = np.zeros(s.size)
    time = np.concatenate([periods, [s.size - 1]])
    event = np.concatenate([np.ones(periods.size, bool), [False]])
    return entry, time.astype(float), event, np.concatenate([lost, [s[-1]]])


def fit_survivors(survivors: list[float]) -> SbgFit:
    """Fit the sBG to one cohort's survivor counts ([FH07]'s own data layout)."""
    return fit_sbg(*survivor_rows(survivors))


def cohort_summary(
    survivors: list[float], *, discount: float = 0.1, periods: int = 5, draws: int = 2000
) -> dict[str, Any]:
    """Fit, projected survival for the next `periods` and DERL of a new customer (JSON-ready).

    survival_projected: S(t) × cohort size for t after the data, as [FH07] tables show.
    DERL is for a customer about to make the first renewal decision (0 renewals), with a
    90 % interval from the Laplace approximation of (log α, log β).
    """
    fit = fit_survivors(survivors)
    size = float(survivors[0])
    last = len(survivors) - 1
    future = np.arange(last + 1, last + 1 + periods)
    value = float(derl(fit.alpha, fit.beta, discount))
    ab = fit.draws(draws)
    lo = hi = None
    if not fit.at_bound and np.all(np.isfinite(fit.log_cov)):
        lo, hi = (float(v) for v in np.quantile(derl(ab[:, 0], ab[:, 1], discount), _tails()))
    return {
        "alpha": fit.alpha,
        "beta": fit.beta,
        "loglik": fit.loglik,
        "n": size,
        "at_bound": fit.at_bound,
        "message": fit.message,
        "discount": discount,
        "fitted": [
            {"period": int(t), "survivors": float(size * survival(fit.alpha, fit.beta, t))}
            for t in range(0, last + 1)
        ],
        "projected": [
            {
                "period": int(t),
                "survival": float(survival(fit.alpha, fit.beta, t)),
                "survivors": float(size * survival(fit.alpha, fit.beta, t)),
            }
            for t in future
        ],
        "derl": value,
        "derl_ci_low": lo,
        "derl_ci_high": hi,
        "interval": f"{INTERVAL:.0%} interval from the Laplace approximation",
    }


def _tails() -> list[float]:
    return [(1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2]
