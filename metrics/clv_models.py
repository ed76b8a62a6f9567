"""Probabilistic CLV: BG/NBD for repeat purchases, Gamma-Gamma for spend, fitted on invoices.

References (equation numbers are the papers'):
- [FHL05] Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative
  to the Pareto/NBD Model", Marketing Science 24(2):275-284.
- [FHL05b] Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
  Base Analysis", Journal of Marketing Research 42(4):415-430.
- [FH13] Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note).
- [FHL08] Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD Model" (note).

The likelihoods are closed forms, so the point fit (MAP; MLE with flat priors) is a scipy
optimisation and the full posterior is PyMC NUTS on the same expressions (pm.Potential).
PyMC is imported only inside `sample_posterior`: a page or `cx` start never pays for it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import polars as pl
from scipy import optimize
from scipy.special import digamma, gammaln, hyp2f1

from metrics.background import JobStatus, job_status, start_job
from metrics.churn import query_frame
from metrics.store import Store

ProgressFn = Callable[[float, str], None]

# Days per model time unit. Weeks follow the paper; T and recency are in this unit.
UNIT_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
# Weak prior on each log-parameter (Normal(0, sd)): keeps NUTS away from absurd regions on
# tiny data; on CDNOW's 2,357 customers it moves the estimates by under 1 % (tests pin the
# published table with flat priors, prior_sd=None).
LOG_PRIOR_SD = 3.0
BGNBD_NAMES = ("r", "alpha", "a", "b")
GG_NAMES = ("p", "q", "gamma")


class ClvModelError(ValueError):
    """The data cannot support the model (too few customers or repeat buyers, bad values)."""


# ---------------------------------------------------------------------------- closed forms
@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float


def bgnbd_loglik(
    r: Any, alpha: Any, a: Any, b: Any, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood of (x, t_x, T), [FHL05] eq. (6).

    L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
        + δ(x>0) · B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x)),
    written in logs (the paper's Excel note, A1..A4) so large x does not overflow.
    """
    x = np.asarray(x, dtype=float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.log(a) - np.log(b + x - 1) - (r + x) * np.log(alpha + t_x)
    a4 = np.where(x > 0, a4, -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_loglik_grad(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """bgnbd_loglik and its gradient in (r, α, a, b): shape (n,) and (4, n).

    Differentiating the A1..A4 form of [FHL05] eq. (6); w4 is the share of the likelihood
    from "dropped out after the last purchase" (0 when x = 0), w3 = 1 - w4.
    """
    x = np.asarray(x, dtype=float)
    ll = bgnbd_loglik(r, alpha, a, b, x, t_x, T)
    a3 = -(r + x) * np.log(alpha + T)
    w3 = np.exp(
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
        + a3
        - ll
    )
    w4 = np.where(x > 0, 1.0 - w3, 0.0)
    bx1 = np.where(x > 0, b + x - 1, 1.0)
    d_r = (
        digamma(r + x)
        - digamma(r)
        + np.log(alpha)
        - w3 * np.log(alpha + T)
        - w4 * np.log(alpha + t_x)
    )
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 / bx1
    return ll, np.vstack([d_r, d_alpha, d_a, d_b])


def bgnbd_expected_transactions(params: BgNbdParams, t: Any) -> np.ndarray:
    """E[X(t)] for a randomly chosen new customer, [FHL05] eq. (9)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def bgnbd_conditional_expected(
    params: BgNbdParams, t: float, x: Any, t_x: Any, T: Any
) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected transactions in (T, T+t], [FHL05] eq. (10)."""
    a, b = params.a, params.b
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    head = (a + b + x - 1) / (a - 1)
    body = 1 - _eq10_hyp(params, t, x, T)
    return head * body / _alive_denominator(params, x, t_x, T)


def _eq10_hyp(params: BgNbdParams, t: float, x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The 2F1 term of [FHL05] eq. (10), evaluated once per distinct (x, T).

    Eq. (10)'s ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; t/(α+T+t)) is rewritten by
    Euler's transformation (Abramowitz & Stegun 15.3.4) as 2F1(r+x, a-1; a+b+x-1; -t/(α+T)):
    the same value without a power that overflows for heavy buyers. scipy's hyp2f1 costs
    1-2 µs, and (x, T) repeat across customers (T in whole days), so a column of customers
    (shape n × 1, parameters 1 × draws) is reduced to its distinct pairs first.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if x.ndim == 2 and x.shape[1] == 1 and T.shape == x.shape and x.shape[0] > 1:
        keys, inv = np.unique(np.column_stack([x[:, 0], T[:, 0]]), axis=0, return_inverse=True)
        ux, uT = keys[:, :1], keys[:, 1:]
        return hyp2f1(r + ux, a - 1, a + b + ux - 1, -t / (alpha + uT))[inv.ravel()]
    return hyp2f1(r + x, a - 1, a + b + x - 1, -t / (alpha + T))


def bgnbd_p_alive(params: BgNbdParams, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """P(alive at T | x, t_x, T), [FHL08] (the denominator of [FHL05] eq. (10))."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    return 1.0 / _alive_denominator(params, x, t_x, T)


def _alive_denominator(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray):
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # In logs: ((α+T)/(α+t_x))^(r+x) overflows for heavy buyers with an old last purchase.
        log_term = np.log(a) - np.log(b + x - 1) + (r + x) * np.log((alpha + T) / (alpha + t_x))
        term = np.where(x > 0, np.exp(np.minimum(log_term, 700.0)), 0.0)
    return 1.0 + term


def gg_loglik(p: Any, q: Any, gamma: Any, x: np.ndarray, zbar: np.ndarray) -> np.ndarray:
    """Log-density of a customer's mean spend zbar over x transactions ([FH13], the
    marginal distribution of zbar obtained by mixing the Gamma(px, νx) over ν ~ Gamma(q, γ)).

    f(zbar | p, q, γ; x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q zbar^(px-1) x^(px) / (γ + x zbar)^(px+q)
    """
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(zbar)
        + px * np.log(x)
        - (px + q) * np.log(gamma + x * zbar)
    )


def gg_loglik_grad(
    p: float, q: float, gamma: float, x: np.ndarray, zbar: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """gg_loglik and its gradient in (p, q, γ): shape (n,) and (3, n)."""
    px = p * x
    ll = gg_loglik(p, q, gamma, x, zbar)
    log_den = np.log(gamma + x * zbar)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(zbar) + np.log(x) - log_den)
    d_q = digamma(px + q) - digamma(q) + np.log(gamma) - log_den
    d_g = q / gamma - (px + q) / (gamma + x * zbar)
    return ll, np.vstack([d_p, d_q, d_g])


def gg_conditional_spend(params: GammaGammaParams, x: Any, zbar: Any) -> np.ndarray:
    """E[M | x, zbar] = p (γ + x zbar) / (px + q - 1), [FH13] eq. (5); also [FHL05b].

    For x = 0 this is the population mean pγ/(q-1), which is what a customer with no
    repeat purchase is expected to spend.
    """
    p, q, gamma = params.p, params.q, params.gamma
    x, zbar = np.asarray(x, dtype=float), np.asarray(zbar, dtype=float)
    zbar = np.where(x > 0, zbar, 0.0)
    return p * (gamma + x * zbar) / (p * x + q - 1)


def simulate_bgnbd(
    params: BgNbdParams, T: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (x, t_x) from the BG/NBD generative process ([FHL05] section 3) for horizons T.

    λ ~ Gamma(r, rate α), p ~ Beta(a, b); purchases are Poisson(λ) and the customer drops
    out after each purchase with probability p, so X(T) = min(J, N(T)) with J ~ Geom(p) and
    N(T) ~ Poisson(λT); given N(T) = n the arrival times are uniform order statistics.
    """
    T = np.asarray(T, dtype=float)
    n_cust = T.shape[0]
    lam = rng.gamma(params.r, 1.0 / params.alpha, n_cust)
    p = rng.beta(params.a, params.b, n_cust)
    n = rng.poisson(lam * T)
    j = rng.geometric(np.clip(p, 1e-12, 1.0))
    x = np.minimum(j, n)
    # The x-th of n uniform order statistics on [0, T] is T · Beta(x, n - x + 1).
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(n - x + 1, 1)), 0.0)
    return x.astype(float), t_x


# ------------------------------------------------------------------------------ MAP fits
@dataclass(frozen=True)
class MapResult:
    """Point fit on the log-parameter scale and the Laplace covariance around it."""

    names: tuple[str, ...]
    estimate: dict[str, float]
    log_mean: np.ndarray
    log_cov: np.ndarray
    loglik: float
    converged: bool
    message: str


# Box on each log-parameter. Regular monthly billing has almost no spread in purchase
# rates, so the BG/NBD's Gamma(r, α) tends to a point mass (r, α -> ∞ with r/α fixed); the
# bound stops the search there, where predictions have long converged.
# scipy's hyp2f1 in eq. (10) loses accuracy past r ≈ 1e4, so the top is e^8.5 ≈ 4900 (a
# Gamma with r that large has a coefficient of variation of 1.4 %: a point mass already).
LOG_BOUNDS = (-10.0, 8.5)


def _map(
    loglik: Callable[[np.ndarray], float],
    gradient: Callable[[np.ndarray], tuple[float, np.ndarray]],
    names: tuple[str, ...],
    x0: np.ndarray,
    prior_sd: float | None,
    spread_of: str,
) -> MapResult:
    bounds = [LOG_BOUNDS] * len(names)

    def nlp_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            val, grad = gradient(theta)
        if prior_sd is not None:
            val -= 0.5 * float(np.sum((theta / prior_sd) ** 2))
            grad = grad - theta / prior_sd**2
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            return 1e300, np.zeros_like(theta)
        return -val, -grad

    # Analytic gradients (5x fewer likelihood evaluations than finite differences) and
    # tight tolerances: with the default ftol L-BFGS-B stops early on the flat a-b ridge
    # of the BG/NBD and loses the fourth digit of the estimates.
    with _one_blas_thread():
        best = optimize.minimize(
            nlp_and_grad,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )
    at_bound = (best.x <= LOG_BOUNDS[0] + 0.05) | (best.x >= LOG_BOUNDS[1] - 0.05)
    cov = _laplace_cov(nlp_and_grad, best.x, at_bound)
    est = {n: float(v) for n, v in zip(names, np.exp(best.x), strict=True)}
    message = str(best.message)
    if at_bound.any():
        message = (
            f"{', '.join(n for n, b in zip(names, at_bound, strict=True) if b)} reached the "
            f"search bound: {spread_of} are too regular to estimate it (fixed monthly "
            "billing?); held fixed for the intervals, predictions are unaffected"
        )
    return MapResult(
        names=names,
        estimate=est,
        log_mean=best.x,
        log_cov=cov,
        loglik=float(loglik(best.x)),
        converged=bool(best.success),
        message=message,
    )


def _one_blas_thread():
    """L-BFGS-B's tiny LAPACK calls on a multi-threaded OpenBLAS spin its threads: on a busy
    machine that was 60 % of the fit's time. One thread for the optimiser removes it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only a speed-up
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _laplace_cov(nlp_and_grad, theta: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Inverse Hessian of the negative log-posterior over the free parameters (others 0).

    The Hessian is central differences of the analytic gradient: 2k evaluations, not 4k².
    """
    free = np.flatnonzero(~fixed)
    cov = np.zeros((theta.size, theta.size))
    if free.size == 0:
        return cov
    h = 1e-5
    hess = np.empty((free.size, free.size))
    for col, i in enumerate(free):
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        hess[:, col] = (nlp_and_grad(up)[1][free] - nlp_and_grad(down)[1][free]) / (2 * h)
    try:
        inner = np.linalg.inv((hess + hess.T) / 2)
        if not np.all(np.isfinite(inner)) or np.any(np.linalg.eigvalsh((inner + inner.T) / 2) <= 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        return np.full((theta.size, theta.size), np.nan)
    cov[np.ix_(free, free)] = (inner + inner.T) / 2
    return cov


def fit_bgnbd_map(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, prior_sd: float | None = None
) -> MapResult:
    """BG/NBD point fit; prior_sd=None is flat priors, i.e. the MLE of [FHL05]."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    _check_rfm(x, t_x, T)
    # (x, t_x, T) is sufficient: customers sharing it share their likelihood. On dated data
    # most non-repeaters differ only in T (a few hundred values), so this shrinks the work.
    uniq, weight = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    ux, utx, uT = uniq.T

    def ll(theta: np.ndarray) -> float:
        r, alpha, a, b = np.exp(theta)
        return float(weight @ bgnbd_loglik(r, alpha, a, b, ux, utx, uT))

    def ll_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        val, grad = bgnbd_loglik_grad(*np.exp(theta), ux, utx, uT)
        return float(weight @ val), (grad @ weight) * np.exp(theta)  # chain rule to logs

    # Start alpha near the time scale of the data, so days, weeks and months all converge.
    x0 = np.log([1.0, max(float(np.mean(T)), 1e-3) / 4, 1.0, 1.0])
    return _map(ll, ll_grad, BGNBD_NAMES, x0, prior_sd, "purchase rates and times")


def fit_gamma_gamma_map(
    x: np.ndarray, zbar: np.ndarray, *, prior_sd: float | None = None
) -> MapResult:
    """Gamma-Gamma point fit on customers with x > 0 and zbar > 0 ([FH13])."""
    x, zbar = np.asarray(x, dtype=float), np.asarray(zbar, dtype=float)
    keep = (x > 0) & (zbar > 0)
    if keep.sum() < 10:
        raise ClvModelError(
            f"Gamma-Gamma needs at least 10 customers with a repeat purchase of positive "
            f"value; found {int(keep.sum())}"
        )
    x, zbar = x[keep], zbar[keep]

    def ll(theta: np.ndarray) -> float:
        p, q, g = np.exp(theta)
        return float(np.sum(gg_loglik(p, q, g, x, zbar)))

    def ll_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        val, grad = gg_loglik_grad(*np.exp(theta), x, zbar)
        return float(val.sum()), grad.sum(axis=1) * np.exp(theta)

    x0 = np.log([1.0, 2.0, max(float(np.mean(zbar)), 1e-3)])
    return _map(ll, ll_grad, GG_NAMES, x0, prior_sd, "invoice amounts")


def _check_rfm(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> None:
    if x.size < 10:
        raise ClvModelError(f"BG/NBD needs at least 10 customers with purchases; found {x.size}")
    # T = 0 (first purchase on the cut-off day) is valid: such a customer's likelihood is 1.
    bad = (x < 0) | (t_x < 0) | (t_x > T + 1e-9) | ((x == 0) & (t_x != 0)) | (T < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ClvModelError(
            f"{int(bad.sum())} customers have inconsistent recency/T (need 0 <= recency <= T, "
            f"recency 0 when frequency is 0, T > 0); first at row {i}: "
            f"frequency={x[i]}, recency={t_x[i]}, T={T[i]}"
        )


# --------------------------------------------------------------------------- RFM summary
def rfm_summary(store: Store, *, unit: str = "week", as_of: date | None = None) -> pl.DataFrame:
    """One row per invoiced customer: frequency, recency, T, monetary, segment.

    A purchase is an invoicing day (same-day invoices are summed, as the CDNOW summary
    does); frequency = purchase days - 1 (repeat purchases), recency = first to last
    purchase, T = first purchase to `as_of` (inclusive cut-off, default the last invoice
    date), monetary = mean amount of the repeat purchases (0 when there are none).
    Aggregated in DuckDB; only one row per customer comes back.
    """
    if unit not in UNIT_DAYS:
        raise ClvModelError(f"unit must be one of {sorted(UNIT_DAYS)}, got {unit!r}")
    if as_of is None:
        as_of = query_frame(store, "SELECT max(CAST(issued_at AS DATE)) FROM invoices").item(0, 0)
        if as_of is None:
            return _empty_rfm()
    sql = """
        WITH daily AS (
            SELECT customer_id, CAST(issued_at AS DATE) AS d, SUM(amount) AS amount
            FROM invoices
            WHERE CAST(issued_at AS DATE) <= $as_of
            GROUP BY customer_id, CAST(issued_at AS DATE)
        ), ranked AS (
            SELECT customer_id, d, amount,
                   ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY d) AS k
            FROM daily
        )
        SELECT r.customer_id,
               COALESCE(c.segment, 'unknown') AS segment,
               CAST(COUNT(*) - 1 AS DOUBLE) AS frequency,
               date_diff('day', MIN(r.d), MAX(r.d)) / $days AS recency,
               date_diff('day', MIN(r.d), CAST($as_of AS DATE)) / $days AS T,
               COALESCE(AVG(CASE WHEN r.k > 1 THEN r.amount END), 0.0) AS monetary
        FROM ranked r LEFT JOIN customers c USING (customer_id)
        GROUP BY r.customer_id, COALESCE(c.segment, 'unknown')
        ORDER BY r.customer_id
    """
    days = UNIT_DAYS[unit]
    df = query_frame(store, sql, {"as_of": as_of, "days": float(days)})
    return df if df.height else _empty_rfm()


def _empty_rfm() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "customer_id": pl.Utf8,
            "segment": pl.Utf8,
            "frequency": pl.Float64,
            "recency": pl.Float64,
            "T": pl.Float64,
            "monetary": pl.Float64,
        }
    )


# ------------------------------------------------------------------------------- fit_clv
@dataclass
class ClvFit:
    """A fitted CLV model and what it predicts; JSON-serialisable for model_cache."""

    method: str
    unit: str
    horizon_months: float
    as_of: str
    n_customers: int
    n_repeat: int
    bgnbd: dict[str, dict[str, float]]  # name -> {mean, ci_low, ci_high}
    gamma_gamma: dict[str, dict[str, float]]
    segments: list[dict[str, Any]]  # per segment: n, expected value mean and 90 % interval
    total: dict[str, Any]
    seconds: float
    interval: str = "90 % credible interval of the expected value (parameter uncertainty)"
    notes: list[str] = field(default_factory=list)
    customers: pl.DataFrame | None = None  # not serialised: large

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("customers")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClvFit:
        return cls(**{k: v for k, v in data.items() if k != "customers"})


def fit_clv(
    store: Store,
    *,
    method: Literal["map", "nuts"] = "map",
    progress: ProgressFn | None = None,
    horizon_months: float = 12.0,
    unit: str = "week",
    as_of: date | None = None,
    draws: int = 200,
    seed: int = 0,
    tune: int = 500,
    chains: int = 2,
) -> ClvFit:
    """Fit BG/NBD + Gamma-Gamma on the store's invoices; expected value over the horizon.

    method="map": point fit + Laplace approximation for the intervals (seconds).
    method="nuts": PyMC NUTS on the same likelihoods (a minute or more).
    Each customer's expected value = E[Y(h) | x, t_x, T] ([FHL05] eq. 10) ×
    E[M | x, zbar] ([FH13] eq. 5), evaluated for every parameter draw.
    """
    started = time.perf_counter()
    report = progress or (lambda frac, msg: None)
    if method not in ("map", "nuts"):
        raise ClvModelError(f"method must be 'map' or 'nuts', got {method!r}")
    report(0.02, "summarising invoices")
    rfm = rfm_summary(store, unit=unit, as_of=as_of)
    if rfm.height < 10:
        raise ClvModelError(
            f"the invoices table has {rfm.height} customers with invoices; "
            "probabilistic CLV needs at least 10"
        )
    if as_of is None:
        as_of = query_frame(store, "SELECT max(CAST(issued_at AS DATE)) FROM invoices").item(0, 0)
    x, t_x, T = (rfm[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    zbar = rfm["monetary"].to_numpy().astype(float)
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    report(0.10, "fitting BG/NBD (purchase frequency)")
    bg_map = fit_bgnbd_map(x, t_x, T, prior_sd=LOG_PRIOR_SD)
    report(0.30, "fitting Gamma-Gamma (spend)")
    gg_map = fit_gamma_gamma_map(x, zbar, prior_sd=LOG_PRIOR_SD)
    if gg_map.estimate["q"] <= 1:
        raise ClvModelError(
            "Gamma-Gamma estimate q <= 1: mean spend is undefined; spend is too heavy-tailed "
            "for this model (check for outlier invoices)"
        )
    for label, res in (("BG/NBD", bg_map), ("Gamma-Gamma", gg_map)):
        if "search bound" in res.message:
            notes.append(f"{label}: {res.message}")
    if method == "map":
        bg_draws = _laplace_draws(bg_map, draws, rng, notes, "BG/NBD")
        gg_draws = _laplace_draws(gg_map, draws, rng, notes, "Gamma-Gamma")
    else:
        stuck = [res.message for res in (bg_map, gg_map) if "search bound" in res.message]
        if stuck:
            # A ridge to infinity: NUTS would run for a very long time and say nothing the
            # MAP fit does not (its intervals hold those parameters fixed).
            raise ClvModelError(
                "NUTS is not useful on this data: " + "; ".join(stuck) + ". Use method 'map'."
            )
        bg_draws, gg_draws = sample_posterior(
            x,
            t_x,
            T,
            zbar,
            init=(bg_map.log_mean, gg_map.log_mean),
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            report=report,
        )
    report(0.85, "predicting customer value")
    horizon = horizon_months * UNIT_DAYS["month"] / UNIT_DAYS[unit]
    segments = rfm["segment"].to_list()
    seg_names = sorted(set(segments))
    seg_idx = np.array([seg_names.index(s) for s in segments])
    per_draw_seg = np.zeros((len(seg_names), bg_draws.shape[0]))
    cust_mean = np.empty(x.size)
    cust_lo = np.empty(x.size)
    cust_hi = np.empty(x.size)
    # Blocks of ~4M customer-draws (32 MB); large blocks also let _eq10_hyp share work.
    chunk = max(1, 4_000_000 // bg_draws.shape[0])
    # The 2F1 term depends on (x, T) only: evaluate it once per distinct pair and draw.
    keys, inv = np.unique(np.column_stack([x, T]), axis=0, return_inverse=True)
    inv = inv.ravel()
    draws_bg = BgNbdParams(*(bg_draws[:, i][None, :] for i in range(4)))
    with np.errstate(all="ignore"):
        hyp_u = _eq10_hyp(draws_bg, horizon, keys[:, :1], keys[:, 1:])
    usable = np.ones(x.size, dtype=bool)
    for start in range(0, x.size, chunk):
        sl = slice(start, start + chunk)
        with np.errstate(all="ignore"):
            vals = _value_matrix(
                bg_draws, gg_draws, horizon, x[sl], t_x[sl], T[sl], zbar[sl], hyp_u[inv[sl]]
            )
        ok = np.isfinite(vals).all(axis=1)
        usable[sl] = ok
        cust_mean[sl] = np.where(ok, vals.mean(axis=1), np.nan)
        lo_hi = np.quantile(np.where(ok[:, None], vals, 0.0), [0.05, 0.95], axis=1)
        cust_lo[sl] = np.where(ok, lo_hi[0], np.nan)
        cust_hi[sl] = np.where(ok, lo_hi[1], np.nan)
        # Segment sums per draw as a one-hot product: np.add.at is ~50x slower here.
        onehot = seg_idx[sl][ok][None, :] == np.arange(len(seg_names))[:, None]
        per_draw_seg += onehot.astype(float) @ vals[ok]
    if not usable.all():
        # Never silently: name how many customers the closed forms could not evaluate.
        notes.append(
            f"{int((~usable).sum())} customers with a non-finite prediction are left "
            "out of the segment figures"
        )
    counts = np.bincount(seg_idx[usable], minlength=len(seg_names))
    seg_rows = []
    for i, name in enumerate(seg_names):
        if counts[i] == 0:
            continue
        mean_draws = per_draw_seg[i] / counts[i]
        seg_rows.append(_interval_row(name, int(counts[i]), mean_draws, per_draw_seg[i]))
    n_ok = max(int(counts.sum()), 1)
    total_row = _interval_row(
        "all", int(counts.sum()), per_draw_seg.sum(0) / n_ok, per_draw_seg.sum(0)
    )
    bg_point = BgNbdParams(*(bg_map.estimate[n] for n in BGNBD_NAMES))
    gg_point = GammaGammaParams(*(gg_map.estimate[n] for n in GG_NAMES))
    point = _value_matrix(
        np.array([list(bg_map.estimate.values())]),
        np.array([list(gg_map.estimate.values())]),
        horizon,
        x,
        t_x,
        T,
        zbar,
    )[:, 0]
    customers = rfm.with_columns(
        pl.Series("p_alive", bgnbd_p_alive(bg_point, x, t_x, T)),
        pl.Series(
            "expected_transactions", bgnbd_conditional_expected(bg_point, horizon, x, t_x, T)
        ),
        pl.Series(
            "expected_spend", gg_conditional_spend(gg_point, np.where(zbar > 0, x, 0.0), zbar)
        ),
        pl.Series("value_at_estimate", point),
        pl.Series("expected_value", cust_mean),
        pl.Series("ci_low", cust_lo),
        pl.Series("ci_high", cust_hi),
    )
    report(1.0, "done")
    return ClvFit(
        method=method,
        unit=unit,
        horizon_months=horizon_months,
        as_of=str(as_of),
        n_customers=int(x.size),
        n_repeat=int(((x > 0) & (zbar > 0)).sum()),
        bgnbd=_param_summary(BGNBD_NAMES, bg_draws, bg_map),
        gamma_gamma=_param_summary(GG_NAMES, gg_draws, gg_map),
        segments=seg_rows,
        total=total_row,
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
        customers=customers,
    )


def _value_matrix(
    bg: np.ndarray, gg: np.ndarray, horizon: float, x, t_x, T, zbar, hyp: np.ndarray | None = None
) -> np.ndarray:
    """Customers × draws matrix of expected value over the horizon.

    hyp: the eq. (10) 2F1 term for these customers × draws, when computed beforehand.
    """
    r, alpha, a, b = (bg[:, i][None, :] for i in range(4))
    p, q, g = (gg[:, i][None, :] for i in range(3))
    xx, tx, TT, zz = (v[:, None] for v in (x, t_x, T, zbar))
    bgp = BgNbdParams(r, alpha, a, b)
    if hyp is None:
        n_tx = bgnbd_conditional_expected(bgp, horizon, xx, tx, TT)
    else:  # the same expression as bgnbd_conditional_expected, 2F1 term supplied
        n_tx = (a + b + xx - 1) / (a - 1) * (1 - hyp) / _alive_denominator(bgp, xx, tx, TT)
    spend = gg_conditional_spend(GammaGammaParams(p, q, g), np.where(zz > 0, xx, 0.0), zz)
    return n_tx * spend


def _interval_row(name: str, n: int, mean_draws: np.ndarray, total_draws: np.ndarray) -> dict:
    lo, hi = np.quantile(mean_draws, [0.05, 0.95])
    tlo, thi = np.quantile(total_draws, [0.05, 0.95])
    return {
        "segment": name,
        "n": n,
        "value_mean": float(mean_draws.mean()),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "value_total": float(total_draws.mean()),
        "total_ci_low": float(tlo),
        "total_ci_high": float(thi),
    }


def _param_summary(
    names: tuple[str, ...], draws: np.ndarray, point: MapResult
) -> dict[str, dict[str, float]]:
    """Posterior mean and 90 % interval of each parameter, and the MAP `estimate`."""
    lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
    return {
        n: {
            "estimate": point.estimate[n],
            "mean": float(draws[:, i].mean()),
            "ci_low": float(lo[i]),
            "ci_high": float(hi[i]),
        }
        for i, n in enumerate(names)
    }


def _laplace_draws(
    fit: MapResult, draws: int, rng: np.random.Generator, notes: list[str], label: str
) -> np.ndarray:
    if not np.all(np.isfinite(fit.log_cov)):
        notes.append(f"{label}: curvature at the estimate is not usable; intervals omitted")
        return np.exp(np.tile(fit.log_mean, (draws, 1)))
    return np.exp(rng.multivariate_normal(fit.log_mean, fit.log_cov, size=draws))


def sample_posterior(
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    zbar: np.ndarray,
    *,
    init: tuple[np.ndarray, np.ndarray],
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    report: ProgressFn,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior draws of (r, α, a, b) and (p, q, γ) by NUTS; the only PyMC entry point."""
    import pymc as pm  # noqa: PLC0415 - 3.5 s import, kept off every start-up path
    import pytensor.tensor as pt  # noqa: PLC0415

    keep = (x > 0) & (zbar > 0)
    xg, zg = x[keep], zbar[keep]
    has_rep = (x > 0).astype(float)
    with pm.Model() as model:
        lr = pm.Normal("log_r", 0.0, LOG_PRIOR_SD)
        lal = pm.Normal("log_alpha", 0.0, LOG_PRIOR_SD)
        la = pm.Normal("log_a", 0.0, LOG_PRIOR_SD)
        lb = pm.Normal("log_b", 0.0, LOG_PRIOR_SD)
        r, alpha, a, b = pt.exp(lr), pt.exp(lal), pt.exp(la), pt.exp(lb)
        # [FHL05] eq. (6), the same A1..A4 form as bgnbd_loglik.
        a1 = pt.gammaln(r + x) - pt.gammaln(r) + r * pt.log(alpha)
        a2 = pt.gammaln(a + b) + pt.gammaln(b + x) - pt.gammaln(b) - pt.gammaln(a + b + x)
        a3 = -(r + x) * pt.log(alpha + T)
        # b + x - 1 > 0 wherever x > 0; elsewhere feed a harmless 1 and mask the term out.
        bx1 = pt.switch(has_rep > 0, b + x - 1, 1.0)
        a4 = pt.log(a) - pt.log(bx1) - (r + x) * pt.log(alpha + t_x)
        a4 = pt.switch(has_rep > 0, a4, -np.inf)
        pm.Potential("bgnbd", pt.sum(a1 + a2 + pt.logaddexp(a3, a4)))
        lp = pm.Normal("log_p", 0.0, LOG_PRIOR_SD)
        lq = pm.Normal("log_q", 0.0, LOG_PRIOR_SD)
        lg = pm.Normal("log_gamma", 0.0, LOG_PRIOR_SD)
        p, q, g = pt.exp(lp), pt.exp(lq), pt.exp(lg)
        px = p * xg
        # [FH13], marginal density of zbar (as gg_loglik).
        gg = (
            pt.gammaln(px + q)
            - pt.gammaln(px)
            - pt.gammaln(q)
            + q * pt.log(g)
            + (px - 1) * np.log(zg)
            + px * np.log(xg)
            - (px + q) * pt.log(g + xg * zg)
        )
        pm.Potential("gamma_gamma", pt.sum(gg))
        # Start at the MAP: tuning is then short and never wanders into overflow.
        bg0, gg0 = init
        initvals = dict(zip(("log_r", "log_alpha", "log_a", "log_b"), bg0, strict=True))
        initvals |= dict(zip(("log_p", "log_q", "log_gamma"), gg0, strict=True))
        total = chains * (draws + tune)
        done = [0]

        def callback(trace: Any, draw: Any) -> None:
            done[0] += 1
            if done[0] % 25 == 0:
                report(0.35 + 0.5 * done[0] / total, f"sampling {done[0]}/{total}")

        report(0.35, "compiling and sampling (NUTS)")
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=seed,
            initvals=initvals,
            progressbar=False,
            callback=callback,
            model=model,
            compute_convergence_checks=False,
        )
    post = idata.posterior
    bg = np.column_stack([np.exp(post[f"log_{n}"].values.ravel()) for n in BGNBD_NAMES])
    gg_draws = np.column_stack([np.exp(post[f"log_{n}"].values.ravel()) for n in GG_NAMES])
    return bg, gg_draws


# --------------------------------------------------------------- background fit + cache
CLV_KIND = "clv"


def clv_cache_key(method: str) -> str:
    return f"clv:{method}"


def start_clv_fit(
    store: Store, *, method: str = "map", wait: bool = False, force: bool = False
) -> JobStatus:
    """Start (or reuse) the cached CLV fit for `method`; see metrics.background.start_job."""
    if method not in ("map", "nuts"):
        raise ClvModelError(f"method must be 'map' or 'nuts', got {method!r}")

    def job(progress: ProgressFn) -> dict[str, Any]:
        return fit_clv(store, method=method, progress=progress).to_json()  # type: ignore[arg-type]

    return start_job(store, clv_cache_key(method), CLV_KIND, job, wait=wait, force=force)


def cached_clv(store: Store, method: str = "map") -> tuple[ClvFit | None, JobStatus | None]:
    """The cached fit for `method` (None until one finished) and its job status."""
    status = job_status(store, clv_cache_key(method))
    fit = ClvFit.from_json(status.result) if status is not None and status.usable else None
    return fit, status
