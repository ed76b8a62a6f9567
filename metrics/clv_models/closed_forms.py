"""BG/NBD and Gamma-Gamma closed forms: likelihoods, gradients, expectations, P(alive).

Equation numbers are the papers' ([FHL05], [FH13], [FHL08]; see metrics.clv_models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import digamma, gammaln, hyp2f1

BGNBD_NAMES = ("r", "alpha", "a", "b")
GG_NAMES = ("p", "q", "gamma")


# A parameter is one number, or an array of draws broadcast against the customers (fit_clv
# evaluates the closed forms for every posterior draw at once).
Param = float | np.ndarray


@dataclass(frozen=True)
class BgNbdParams:
    r: Param
    alpha: Param
    a: Param
    b: Param


@dataclass(frozen=True)
class GammaGammaParams:
    p: Param
    q: Param
    gamma: Param


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
    body = 1 - bgnbd_eq10_hyp(params, t, x, T)
    return head * body / bgnbd_alive_denominator(params, x, t_x, T)


def bgnbd_eq10_hyp(params: BgNbdParams, t: float, x: np.ndarray, T: np.ndarray) -> np.ndarray:
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
    return 1.0 / bgnbd_alive_denominator(params, x, t_x, T)


def bgnbd_alive_denominator(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """1 / P(alive): the denominator shared by [FHL05] eq. (10) and [FHL08]."""
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
