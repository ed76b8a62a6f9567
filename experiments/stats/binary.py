"""Binary metrics (FCR, churn, top-2-box, conversion): Beta-Binomial with exact P(better) and loss.

P(p_B > p_A) for integer Beta parameters is Evan Miller's closed form ("Formulas for
Bayesian A/B Testing", evanmiller.org/bayesian-ab-testing.html, 2014), summed in log space:
    P = Σ_{i=0}^{α_B−1} B(α_A+i, β_A+β_B) / ((β_B+i) B(1+i, β_B) B(α_A, β_A)).
The expected loss uses E[B·1(B>A)] = E[B]·P(B' > A) with B' ~ Beta(α_B+1, β_B) (Chris
Stucchio, chrisstucchio.com/blog/2014/bayesian_ab_decision_rule.html). Non-integer priors,
sums longer than MAX_CLOSED_FORM_TERMS and shifted comparisons (ROPE, guardrails, intervals)
use the quadrature in experiments.stats.marginals, which agrees with the sum to ~1e-12.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betaln

from experiments.stats.comparison import build_comparison
from experiments.stats.inputs import BinaryStats
from experiments.stats.marginals import BetaMarginal, prob_diff_greater
from experiments.stats.results import ComparisonResult

# Above this many terms the sum costs more than the quadrature (which agrees to ~1e-12).
MAX_CLOSED_FORM_TERMS = 5_000


def _check_prior(prior: tuple[float, float]) -> tuple[float, float]:
    a, b = (float(v) for v in prior)
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"prior must be two positive numbers (Beta a, b), got {prior!r}")
    return a, b


def binary_posterior(stats: BinaryStats, prior: tuple[float, float] = (1.0, 1.0)) -> BetaMarginal:
    """Beta(a + x, b + n − x): the posterior of the rate."""
    a, b = _check_prior(prior)
    return BetaMarginal(a + stats.x, b + stats.n - stats.x)


def _miller_sum(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """Evan Miller's sum over i < α_B for P(B > A); all parameters integers.

    Successive terms have the ratio (α_A + i)/(α_A + β_A + β_B + i) · (β_B + i)/(1 + i) (from
    B(x + 1, y) = B(x, y)·x/(x + y)), so the log terms are one betaln pair plus a cumulative sum
    of logs: ~10× cheaper than a betaln per term, which matters for `cx ab --batch`.
    """
    k = int(a_b)
    c = b_a + b_b
    # term_0 = B(α_A, β_A + β_B) / (β_B · B(1, β_B) · B(α_A, β_A)), and β_B · B(1, β_B) = 1.
    log_t0 = betaln(a_a, c) - betaln(a_a, b_a)
    i = np.arange(k - 1, dtype=float)
    log_ratio = np.log((a_a + i) / (a_a + i + c)) + np.log((b_b + i) / (1.0 + i))
    log_terms = log_t0 + np.concatenate(([0.0], np.cumsum(log_ratio)))
    return float(np.exp(log_terms).sum())


def _is_integer(*values: float) -> bool:
    return all(float(v).is_integer() for v in values)


def prob_b_beats_a_closed(a: BetaMarginal, b: BetaMarginal) -> float | None:
    """Exact P(B > A) for integer parameters, or None when the closed form does not apply.

    The four equivalent forms sum over α_B, α_A, β_A or β_B terms (by P(B>A) = 1 − P(A>B) and
    p ↔ 1 − p); the shortest is used.
    """
    if not _is_integer(a.a, a.b, b.a, b.b):
        return None
    forms = (
        (b.a, lambda: _miller_sum(a.a, a.b, b.a, b.b)),
        (a.a, lambda: 1.0 - _miller_sum(b.a, b.b, a.a, a.b)),
        (a.b, lambda: _miller_sum(b.b, b.a, a.b, a.a)),
        (b.b, lambda: 1.0 - _miller_sum(a.b, a.a, b.b, b.a)),
    )
    terms, fn = min(forms, key=lambda f: f[0])
    if terms > MAX_CLOSED_FORM_TERMS:
        return None
    return min(max(fn(), 0.0), 1.0)


def prob_b_beats_a(a: BetaMarginal, b: BetaMarginal) -> float:
    """P(B > A) for two Beta posteriors: the closed form when it applies, else quadrature.

    The one implementation of P(B > A) for rates; analyze_binary and the period-over-period
    comparison (metrics.periods) both use it.
    """
    p = prob_b_beats_a_closed(a, b)
    if p is None:
        p = float(prob_diff_greater(a, b, 0.0))
    return min(max(p, 0.0), 1.0)


def expected_excess_closed(a: BetaMarginal, b: BetaMarginal) -> float | None:
    """Exact E[max(B − A, 0)] = E[B]·P(B⁺ > A) − E[A]·P(B > A⁺) for integer parameters."""
    p1 = prob_b_beats_a_closed(a, BetaMarginal(b.a + 1, b.b))
    p2 = prob_b_beats_a_closed(BetaMarginal(a.a + 1, a.b), b)
    if p1 is None or p2 is None:
        return None
    return max(b.mean * p1 - a.mean * p2, 0.0)


def _describe(arm: str, s: BinaryStats, prior: tuple[float, float]) -> str | None:
    if s.n == 0:
        return f"{arm} has no observations: its posterior is the prior Beta({prior[0]:g}, {prior[1]:g})"
    if s.x in (0, s.n):
        pct = "0 %" if s.x == 0 else "100 %"
        return (
            f"{arm} converted {pct} ({s.x}/{s.n}): its estimate leans on the prior "
            f"Beta({prior[0]:g}, {prior[1]:g})"
        )
    return None


def analyze_binary(
    control: BinaryStats,
    variant: BinaryStats,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    lower_is_better: bool = False,
    ci: float = 0.95,
    rope: float | None = None,
    intervals: bool = True,
    method: str = "auto",
) -> ComparisonResult:
    """Beta-Binomial comparison of two rates.

    method: "auto" (closed form when it applies, else quadrature), "closed" or "quadrature".
    Lifts are in rate units (0.01 = one percentage point).
    """
    prior = _check_prior(prior)
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be auto, closed or quadrature, got {method!r}")
    x = binary_posterior(control, prior)
    y = binary_posterior(variant, prior)
    prob_greater = excess = None
    if method != "quadrature":
        p = prob_b_beats_a_closed(x, y)
        if p is not None:
            prob_greater = (p, 1.0 - p)
            excess = expected_excess_closed(x, y)
        elif method == "closed":
            raise ValueError("the closed form needs integer Beta parameters (integer prior)")
    notes = [
        m for m in (_describe("control", control, prior), _describe("variant", variant, prior)) if m
    ]
    return build_comparison(
        "binary",
        x,
        y,
        n_control=control.n,
        n_variant=variant.n,
        lower_is_better=lower_is_better,
        ci=ci,
        rope=rope,
        message="; ".join(notes) or None,
        prob_greater=prob_greater,
        excess=excess,
        intervals=intervals,
    )
