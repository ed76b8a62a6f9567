"""Continuous metrics: Student-t posterior vs scipy, large-n vs the analytic normal, log scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from experiments.stats import MeanStats, analyze_mean
from experiments.stats.continuous import log_mean_stats, mean_posterior


def sums(x: np.ndarray) -> MeanStats:
    return MeanStats(len(x), float(x.sum()), float((x * x).sum()))


def test_mean_arm_interval_equals_scipy_student_t():
    x = np.array([3.1, 4.7, 5.2, 2.9, 6.0, 4.4, 3.8])
    r = analyze_mean(sums(x), sums(x + 1))
    se = x.std(ddof=1) / math.sqrt(len(x))
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=se)
    assert (r.control.ci_low, r.control.ci_high) == pytest.approx((lo, hi), abs=1e-9)


def test_mean_small_n_prob_better_matches_scipy_quad_over_t_densities():
    rng = np.random.default_rng(3)
    c, v = rng.normal(10, 3, 8), rng.normal(12, 4, 6)
    r = analyze_mean(sums(c), sums(v))
    tc = stats.t(len(c) - 1, c.mean(), c.std(ddof=1) / math.sqrt(len(c)))
    tv = stats.t(len(v) - 1, v.mean(), v.std(ddof=1) / math.sqrt(len(v)))
    ref, _ = integrate.quad(lambda a: tc.pdf(a) * tv.sf(a), -np.inf, np.inf, epsabs=1e-12)
    assert r.prob_variant_better == pytest.approx(ref, abs=1e-7)
    # Expected loss against 2M seeded draws of the two t posteriors (tolerance 4 MC SE).
    rng = np.random.default_rng(5)
    diff = np.maximum(tv.rvs(2_000_000, random_state=rng) - tc.rvs(2_000_000, random_state=rng), 0)
    se = diff.std() / math.sqrt(len(diff))
    assert r.expected_loss.control == pytest.approx(diff.mean(), abs=4 * se)


def test_mean_large_n_matches_analytic_normal():
    c = MeanStats(100_000, 100_000 * 300.0, 100_000 * (300.0**2 + 120.0**2))
    v = MeanStats(100_000, 100_000 * 301.5, 100_000 * (301.5**2 + 125.0**2))
    r = analyze_mean(c, v)
    se = math.sqrt(c.variance / c.n + v.variance / v.n)
    d = 1.5
    # Normal reference: P = Φ(d/se), E[D⁺] = se·φ(d/se) + d·Φ(d/se), interval d ± 1.96 se.
    # The t with 10⁵ df differs from the normal by O(1/n): tolerance 1e-4 (relative to se).
    assert r.prob_variant_better == pytest.approx(stats.norm.cdf(d / se), abs=1e-4)
    loss_up = se * stats.norm.pdf(d / se) + d * stats.norm.cdf(d / se)
    assert r.expected_loss.control == pytest.approx(loss_up, rel=1e-4)
    assert r.expected_loss.variant == pytest.approx(loss_up - d, rel=1e-3)
    z = stats.norm.ppf(0.975)
    assert r.absolute_lift.ci_low == pytest.approx(d - z * se, abs=1e-3 * se)
    assert r.absolute_lift.ci_high == pytest.approx(d + z * se, abs=1e-3 * se)


def test_mean_lower_is_better_flips_probability_and_loss():
    c, v = (
        MeanStats(50, 50 * 400.0, 50 * (400.0**2 + 90.0**2)),
        MeanStats(50, 50 * 370.0, 50 * (370.0**2 + 80.0**2)),
    )
    hi, lo = analyze_mean(c, v), analyze_mean(c, v, lower_is_better=True)
    assert lo.prob_variant_better == pytest.approx(1 - hi.prob_variant_better, abs=1e-9)
    assert lo.expected_loss.variant == pytest.approx(hi.expected_loss.control, abs=1e-9)
    assert lo.prob_variant_better > 0.95


def test_mean_log_scale_reports_original_scale_lognormal_means():
    rng = np.random.default_rng(11)
    lc, lv = rng.normal(5.0, 0.8, 400), rng.normal(5.1, 0.8, 400)
    c = MeanStats.from_log_sums(400, float(lc.sum()), float((lc * lc).sum()))
    v = MeanStats.from_log_sums(400, float(lv.sum()), float((lv * lv).sum()))
    r = analyze_mean(c, v)

    def post(logs):  # LogNormal(ȳ + s²/2, τ²), τ the modified Cox se (t quantile over z)
        n, s2 = len(logs), logs.var(ddof=1)
        cox = math.sqrt(s2 / n + s2**2 / (2 * (n - 1)))
        return logs.mean() + s2 / 2, cox * stats.t.ppf(0.975, n - 1) / stats.norm.ppf(0.975)

    (mc, sc), (mv, sv) = post(lc), post(lv)
    assert r.control.mean == pytest.approx(math.exp(mc + sc**2 / 2), rel=1e-12)
    # P(m_V > m_C) = P(log m_V > log m_C) = Φ((μ_V − μ_C)/√(σ_C² + σ_V²)), closed form.
    assert r.prob_variant_better == pytest.approx(
        stats.norm.cdf((mv - mc) / math.hypot(sc, sv)), abs=1e-8
    )
    # Lift on the original scale, close to the truth exp(5.1+0.32) − exp(5.0+0.32).
    assert r.family == "mean (log scale)"
    assert r.relative_lift.mean == pytest.approx(
        math.exp(mv + sv**2 / 2 - mc - sc**2 / 2) - 1, rel=1e-9
    )
    assert r.absolute_lift.ci_low < math.exp(5.42) - math.exp(5.32) < r.absolute_lift.ci_high


def test_mean_zero_variance_both_arms_defined_with_message():
    r = analyze_mean(MeanStats(5, 10.0, 20.0), MeanStats(5, 15.0, 45.0))
    assert r.prob_variant_better == pytest.approx(1.0, abs=1e-12)
    assert r.absolute_lift.ci_low == pytest.approx(
        1.0
    ) and r.absolute_lift.ci_high == pytest.approx(1.0)
    assert "zero variance" in r.message


def test_mean_one_arm_empty_returns_message_not_exception():
    r = analyze_mean(MeanStats(0, 0.0, 0.0), MeanStats(10, 50.0, 300.0))
    assert math.isnan(r.prob_variant_better)
    assert "at least 3 observations" in r.message and "control has n=0" in r.message


def test_mean_stats_reject_variance_passed_as_sum_of_squares():
    with pytest.raises(ValueError, match="sum of squares"):
        MeanStats(10, 50.0, 1.0)


def test_mean_stats_add_pools_groups():
    a, b = MeanStats(3, 6.0, 14.0), MeanStats(2, 9.0, 41.0)
    assert (a + b) == MeanStats(5, 15.0, 55.0)
    with pytest.raises(ValueError, match="log-scale"):
        _ = a + MeanStats.from_log_sums(2, 1.0, 1.0)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
@pytest.mark.parametrize("n", [50, 200, 2000])
def test_log_scale_mean_interval_covers_95_percent(sigma, n):
    # Seeded simulation of the sufficient statistics of n lognormal values (log mean normal,
    # (n−1)s²/σ² chi-square): the 95 % interval of the arm's mean covers exp(σ²/2).
    reps = 6000
    rng = np.random.default_rng(int(100 * sigma + n))
    means = rng.normal(0.0, sigma / math.sqrt(n), reps)
    vars_ = sigma**2 * rng.chisquare(n - 1, reps) / (n - 1)
    truth = math.exp(sigma**2 / 2)
    hits = 0
    for m, v in zip(means, vars_, strict=True):
        s = MeanStats.from_log_sums(n, m * n, v * (n - 1) + n * m * m)
        post = mean_posterior(s)
        hits += post.ppf(0.025) <= truth <= post.ppf(0.975)
    assert 0.94 <= hits / reps <= 0.96


def test_log_scale_refuses_zeros_with_message():
    with pytest.raises(ValueError, match="positive values.*position 3"):
        log_mean_stats([1.0, 2.5, 0.0, 4.0], what="spend")
    with pytest.raises(ValueError, match="contain zeros"):
        MeanStats.from_log_sums(3, -math.inf, math.inf)
    s = log_mean_stats([1.0, math.e, math.e**2])
    assert (s.n, s.sum, s.sum_sq, s.log_scale) == (3, pytest.approx(3.0), pytest.approx(5.0), True)
