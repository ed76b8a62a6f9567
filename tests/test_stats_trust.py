"""SRM, guardrails, CUPED, ratio, several variants and the decision rule, against references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from experiments.stats import (
    KEEP_RUNNING,
    SHIP,
    STOP,
    BinaryStats,
    CovariateStats,
    MeanStats,
    RatioStats,
    analyze_binary,
    analyze_mean,
    analyze_multi,
    analyze_ratio,
    cuped,
    decide,
    guardrail_check,
    srm_check,
)
from experiments.stats.ratio import ratio_moments


# ---------------------------------------------------------------- SRM
@pytest.mark.parametrize(
    "counts,weights",
    [
        ([5000, 5200], None),
        ([5000, 5400], None),
        ([3000, 3100, 6050], [1, 1, 2]),
        ([900, 2100], [30, 70]),
    ],
)
def test_srm_equals_scipy_chisquare(counts, weights):
    r = srm_check(counts, weights)
    w = np.ones(len(counts)) if weights is None else np.asarray(weights, float)
    ref = stats.chisquare(counts, f_exp=np.sum(counts) * w / w.sum())
    assert r.chi2 == pytest.approx(ref.statistic, rel=1e-12)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.mismatch == (ref.pvalue < 0.001)


def test_srm_5000_vs_5400_is_mismatch_and_5000_vs_5200_is_not():
    assert srm_check([5000, 5400]).mismatch
    assert not srm_check([5000, 5200]).mismatch


def test_srm_no_units_defined_without_mismatch():
    r = srm_check([0, 0])
    assert r.p_value == 1.0 and not r.mismatch and "no units" in r.message


def test_srm_wrong_weight_count_raises():
    with pytest.raises(ValueError, match="one weight per arm"):
        srm_check([10, 10], [1, 1, 1])


# ---------------------------------------------------------------- guardrails
def test_guardrail_binary_prob_worse_matches_scipy_quad():
    c, v = BinaryStats(2000, 300), BinaryStats(2000, 290)
    g = guardrail_check(c, v, tolerance=0.02, name="fcr")
    # P(A − B > 0.02) with A ~ Beta(301, 1701), B ~ Beta(291, 1711).
    ref, _ = integrate.quad(
        lambda b: stats.beta.pdf(b, 291, 1711) * stats.beta.sf(b + 0.02, 301, 1701),
        0,
        1,
        epsabs=1e-13,
        points=[291 / 2002],
        limit=300,
    )
    assert g.prob_worse == pytest.approx(ref, abs=1e-8)
    assert g.passed == (ref <= 0.05)


def test_guardrail_fails_above_threshold_and_lower_is_better_direction():
    c, v = BinaryStats(2000, 100), BinaryStats(2000, 140)  # complaints rate up 2 points
    bad = guardrail_check(c, v, tolerance=0.005, lower_is_better=True, name="complaints")
    ok = guardrail_check(c, v, tolerance=0.005, lower_is_better=False, name="complaints")
    assert not bad.passed and bad.prob_worse > 0.9 and "complaints" in bad.message
    assert ok.passed and ok.prob_worse < 0.01


def test_guardrail_relative_tolerance_on_means():
    c = MeanStats(10_000, 10_000 * 300.0, 10_000 * (300.0**2 + 100.0**2))
    v = MeanStats(10_000, 10_000 * 303.0, 10_000 * (303.0**2 + 100.0**2))
    g = guardrail_check(c, v, tolerance=0.02, relative=True, lower_is_better=True, name="aht")
    # Normal reference: P(V/C > 1.02) ≈ P(V − 1.02·C > 0), both normal with se = 1.
    z = (303 - 1.02 * 300) / math.sqrt(1 + 1.02**2)
    assert g.prob_worse == pytest.approx(stats.norm.cdf(z), abs=2e-3)
    assert g.passed


def test_guardrail_without_data_is_not_passed_with_message():
    g = guardrail_check(MeanStats(1, 1.0, 1.0), MeanStats(1, 1.0, 1.0), tolerance=0.1)
    assert not g.passed and math.isnan(g.prob_worse) and "not enough data" in g.message


# ---------------------------------------------------------------- CUPED
def _covariate_stats(y: np.ndarray, x: np.ndarray) -> CovariateStats:
    return CovariateStats(len(y), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum())


def test_cuped_continuous_variance_reduction_is_one_minus_rho_squared():
    rng = np.random.default_rng(2026)
    n, rho = 20_000, 0.6
    x = rng.normal(0, 1, (2, n))
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(0, 1, (2, n)) + 5
    y[1] += 0.02
    c, v = _covariate_stats(y[0], x[0]), _covariate_stats(y[1], x[1])
    adj_c, adj_v, theta = cuped(c, v)
    assert theta == pytest.approx(rho, abs=0.02)  # θ = cov/var = ρ for unit variances
    raw = MeanStats(n, y[0].sum(), (y[0] ** 2).sum())
    # Theory: Var(Y') / Var(Y) = 1 − ρ² = 0.64; sampling error at n = 20k is ≈ 0.01.
    assert adj_c.variance / raw.variance == pytest.approx(1 - rho**2, abs=0.02)
    # The adjusted sums equal those of y − θ(x − x̄) computed row by row.
    xbar = x.mean()
    direct = y[0] - theta * (x[0] - xbar)
    assert adj_c.sum == pytest.approx(direct.sum(), rel=1e-9)
    assert adj_c.sum_sq == pytest.approx((direct**2).sum(), rel=1e-9)
    # And the interval of the lift shrinks by about √(1 − ρ²).
    w_raw = analyze_mean(raw, MeanStats(n, y[1].sum(), (y[1] ** 2).sum())).absolute_lift
    w_adj = analyze_mean(adj_c, adj_v).absolute_lift
    ratio = (w_adj.ci_high - w_adj.ci_low) / (w_raw.ci_high - w_raw.ci_low)
    assert ratio == pytest.approx(math.sqrt(1 - rho**2), abs=0.02)


def test_cuped_binary_metric_variance_reduction_matches_sample_correlation():
    rng = np.random.default_rng(99)
    n = 20_000
    x = rng.normal(0, 1, (2, n))
    y = (0.8 * x + rng.normal(0, 1, (2, n)) > 1.0).astype(float)  # a 0/1 outcome
    adj_c, _, _ = cuped(_covariate_stats(y[0], x[0]), _covariate_stats(y[1], x[1]))
    rho = np.corrcoef(y[0], x[0])[0, 1]
    raw_var = y[0].var(ddof=1)
    assert adj_c.variance / raw_var == pytest.approx(1 - rho**2, abs=0.01)


# ---------------------------------------------------------------- ratio
def test_ratio_delta_method_matches_replicated_simulation():
    rng = np.random.default_rng(17)
    n, reps = 400, 2000

    def arm():
        x = rng.poisson(3, n) + 1  # customer-months
        y = rng.poisson(0.5 * x)  # contacts
        return x, y

    ratios, ses = [], []
    for _ in range(reps):
        x, y = arm()
        s = RatioStats(n, y.sum(), x.sum(), (y * y).sum(), (x * x).sum(), (x * y).sum())
        ratios.append(y.sum() / x.sum())
        ses.append(math.sqrt(ratio_moments(s)[1]))
    # The delta-method SE (averaged over replications) matches the spread of the ratio over
    # 2,000 replications; the SD of 2,000 draws is itself uncertain by ≈ 1.6 %, allow 5 %.
    assert np.mean(ses) == pytest.approx(np.std(ratios), rel=0.05)
    r = analyze_ratio(s, s)
    se = (r.control.ci_high - r.control.ci_low) / (2 * stats.norm.ppf(0.975))
    assert se == pytest.approx(ses[-1], rel=1e-9)
    assert r.control.mean == pytest.approx(y.sum() / x.sum(), rel=1e-12)
    assert r.prob_variant_better == pytest.approx(0.5, abs=1e-9)


def test_ratio_zero_denominator_returns_message():
    r = analyze_ratio(RatioStats(10, 5, 0, 5, 0, 0), RatioStats(10, 5, 10, 5, 10, 5))
    assert math.isnan(r.prob_variant_better) and "non-zero denominator" in r.message


# ---------------------------------------------------------------- several variants
def test_multi_two_arms_agree_with_exact_binary():
    c, v = BinaryStats(1000, 100), BinaryStats(1000, 118)
    exact = analyze_binary(c, v)
    m = analyze_multi([c, v], ["control", "variant"], seed=1)
    # 200k draws: SE of P ≈ 0.0006, allow 0.003; loss SE ≈ 2e-5, allow 1e-4.
    assert m.prob_best[1] == pytest.approx(exact.prob_variant_better, abs=0.003)
    assert m.expected_loss[0] == pytest.approx(exact.expected_loss.control, abs=1e-4)
    assert m.expected_loss[1] == pytest.approx(exact.expected_loss.variant, abs=1e-4)
    assert sum(m.prob_best) == pytest.approx(1.0)


def test_multi_three_arms_prob_best_matches_quadrature_lower_is_better():
    arms = [BinaryStats(800, 80), BinaryStats(800, 64), BinaryStats(800, 72)]
    m = analyze_multi(arms, lower_is_better=True, seed=3)
    a = [stats.beta(1 + s.x, 1 + s.n - s.x) for s in arms]
    # P(arm 1 lowest) = ∫ f₁(t)·S₀(t)·S₂(t) dt.
    ref, _ = integrate.quad(lambda t: a[1].pdf(t) * a[0].sf(t) * a[2].sf(t), 0, 1, points=[0.08])
    assert m.prob_best[1] == pytest.approx(ref, abs=0.004)
    assert int(np.argmax(m.prob_best)) == 1


# ---------------------------------------------------------------- decision
def test_decide_ships_clear_winner_with_reasons():
    r = analyze_binary(BinaryStats(10_000, 1000), BinaryStats(10_000, 1100))
    d = decide(
        r,
        [
            guardrail_check(
                BinaryStats(10_000, 500),
                BinaryStats(10_000, 495),
                tolerance=0.01,
                lower_is_better=True,
                name="complaints",
            )
        ],
    )
    assert d.action == SHIP
    assert "chance the variant is better" in d.reasons[0]
    assert any("complaints holds" in s for s in d.reasons)


def test_decide_keeps_running_when_uncertain():
    d = decide(analyze_binary(BinaryStats(500, 50), BinaryStats(500, 55)))
    assert d.action == KEEP_RUNNING and "95.0% is needed" in d.reasons[0]


def test_decide_stops_on_srm_even_with_clear_winner():
    r = analyze_binary(BinaryStats(10_000, 1000), BinaryStats(10_000, 1200))
    d = decide(r, srm=srm_check([10_000, 10_600]))
    assert d.action == STOP and "Sample-ratio mismatch" in d.reasons[0]


def test_decide_stops_when_guardrail_probably_harmed():
    r = analyze_binary(BinaryStats(10_000, 1000), BinaryStats(10_000, 1200))
    g = guardrail_check(
        BinaryStats(5000, 250),
        BinaryStats(5000, 400),
        tolerance=0.005,
        lower_is_better=True,
        name="complaints",
    )
    d = decide(r, [g])
    assert d.action == STOP and "complaints" in d.reasons[0]


def test_decide_stops_when_variant_worse_and_lower_is_better_flips():
    c, v = BinaryStats(5000, 500), BinaryStats(5000, 420)  # fewer churners in the variant
    assert decide(analyze_binary(c, v)).action == STOP
    assert decide(analyze_binary(c, v, lower_is_better=True)).action == SHIP


def test_decide_stops_when_lift_inside_rope():
    r = analyze_binary(BinaryStats(200_000, 20_000), BinaryStats(200_000, 20_020), rope=0.005)
    d = decide(r)
    assert r.prob_in_rope > 0.99
    assert d.action == STOP and "no practical difference" in d.reasons[0]


def test_decide_degenerate_primary_keeps_running_with_message():
    d = decide(analyze_mean(MeanStats(0, 0.0, 0.0), MeanStats(0, 0.0, 0.0)))
    assert d.action == KEEP_RUNNING and "at least 3 observations" in d.reasons[0]


@pytest.mark.slow  # a fresh Python importing the app, or a long simulation (make test-slow)
def test_stats_package_imports_no_streamlit_duckdb_plotly_or_pymc():
    import subprocess
    import sys

    code = (
        "import sys, experiments.stats, experiments.stats.curves, experiments.stats.calibration;"
        "print(sorted(m for m in ('streamlit', 'duckdb', 'plotly', 'pymc') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("share_new", [0.0, 0.3, 0.6])
def test_cuped_missing_indicator_equals_least_squares_and_keeps_reduction(share_new):
    # Independent reference: ordinary least squares of y on [x, missing] within arms (numpy
    # lstsq on arm-demeaned unit-level data); the adjusted variance is the residual variance.
    from experiments.stats.cuped import covariate_stats, cuped_coefficients

    rng = np.random.default_rng(int(share_new * 10) + 5)
    arms = []
    for _ in range(2):
        x = rng.gamma(2.0, 2.0, 4000)
        new = rng.random(4000) < share_new
        y = np.where(new, 5.0, 1.0 + 0.9 * x) + rng.normal(0.0, 2.0, 4000)
        arms.append((y, np.where(new, 0.0, x), new.astype(float)))
    stats_ = [covariate_stats(y, x, m) for y, x, m in arms]
    theta = cuped_coefficients(stats_)
    design = np.vstack([np.column_stack([x - x.mean(), m - m.mean()]) for _, x, m in arms])
    target = np.concatenate([y - y.mean() for y, _, _ in arms])
    if share_new == 0.0:
        ref = np.array([np.linalg.lstsq(design[:, :1], target, rcond=None)[0][0], 0.0])
    else:
        ref = np.linalg.lstsq(design, target, rcond=None)[0]
    assert theta == pytest.approx(ref, rel=1e-9, abs=1e-12)
    adj_c, adj_v, _ = cuped(*stats_)
    raw = sum(np.var(y, ddof=1) for y, _, _ in arms)
    reduction = 1 - (adj_c.variance + adj_v.variance) / raw
    # Coding new units' missing pre-period as 0 without the indicator loses most of it.
    zero = cuped(*(covariate_stats(y, x) for y, x, _ in arms))
    reduction_zero = 1 - (zero[0].variance + zero[1].variance) / raw
    expected = {0.0: 0.6, 0.3: 0.52, 0.6: 0.38}[share_new]
    assert reduction == pytest.approx(expected, abs=0.05)
    if share_new > 0:
        assert reduction > reduction_zero + 0.2
    # Each arm's adjusted mean stays unbiased: the pooled adjustment has mean zero overall.
    n = sum(len(y) for y, _, _ in arms)
    assert (adj_c.sum + adj_v.sum) / n == pytest.approx(sum(y.sum() for y, _, _ in arms) / n)
