"""Binary (Beta-Binomial) engine against Evan Miller's sum, scipy quadrature and seeded draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from experiments.stats import BinaryStats, analyze_binary
from experiments.stats.binary import prob_b_beats_a, prob_b_beats_a_closed
from experiments.stats.marginals import BetaMarginal, prob_diff_greater

CASES = [  # (n_control, x_control, n_variant, x_variant)
    (20, 0, 20, 2),
    (10, 3, 10, 5),
    (1000, 100, 1000, 120),
    (480, 250, 500, 240),
    (3000, 30, 2900, 45),
]


def quad_prob_b_beats_a(aa: float, ba: float, ab: float, bb: float, shift: float = 0.0) -> float:
    """Independent reference: P(B − A > shift) = ∫ f_A(a)·P(B > a + shift) da with scipy.stats."""
    lo, hi = stats.beta.ppf([1e-14, 1 - 1e-14], aa, ba)
    val, _ = integrate.quad(
        lambda a: stats.beta.pdf(a, aa, ba) * stats.beta.sf(a + shift, ab, bb),
        lo,
        hi,
        epsabs=1e-13,
        epsrel=1e-12,
        limit=500,
        points=[stats.beta.mean(aa, ba)],
    )
    return val


def miller_plain(aa: int, ba: int, ab: int, bb: int) -> float:
    """Evan Miller's sum written out with math.lgamma, term by term."""

    def lbeta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    return sum(
        math.exp(lbeta(aa + i, ba + bb) - math.log(bb + i) - lbeta(1 + i, bb) - lbeta(aa, ba))
        for i in range(ab)
    )


@pytest.mark.parametrize("nc,xc,nv,xv", CASES)
def test_binary_prob_better_closed_and_quadrature_match_scipy_quad(nc, xc, nv, xv):
    ref = quad_prob_b_beats_a(1 + xc, 1 + nc - xc, 1 + xv, 1 + nv - xv)
    closed = analyze_binary(BinaryStats(nc, xc), BinaryStats(nv, xv), method="closed")
    quad = analyze_binary(BinaryStats(nc, xc), BinaryStats(nv, xv), method="quadrature")
    assert closed.prob_variant_better == pytest.approx(ref, abs=1e-6)
    assert quad.prob_variant_better == pytest.approx(ref, abs=1e-6)


@pytest.mark.parametrize("nc,xc,nv,xv", CASES[:3])
def test_binary_closed_form_equals_plain_miller_sum(nc, xc, nv, xv):
    a = BetaMarginal(1 + xc, 1 + nc - xc)
    b = BetaMarginal(1 + xv, 1 + nv - xv)
    # The engine may sum a shorter equivalent form; the plain α_B-term sum must agree.
    assert prob_b_beats_a_closed(a, b) == pytest.approx(
        miller_plain(1 + xc, 1 + nc - xc, 1 + xv, 1 + nv - xv), abs=1e-12
    )


def test_binary_non_integer_prior_uses_quadrature_matching_scipy():
    r = analyze_binary(BinaryStats(40, 7), BinaryStats(45, 13), prior=(0.5, 0.5))
    ref = quad_prob_b_beats_a(7.5, 33.5, 13.5, 32.5)
    assert r.prob_variant_better == pytest.approx(ref, abs=1e-8)


def test_binary_small_samples_3of10_vs_5of10_exact():
    r = analyze_binary(BinaryStats(10, 3), BinaryStats(10, 5))
    ref = quad_prob_b_beats_a(4, 8, 6, 6)
    assert r.prob_variant_better == pytest.approx(ref, abs=1e-9)
    assert r.prob_variant_better == pytest.approx(0.806502, abs=1e-6)
    # The normal approximation on the difference of sample proportions gives
    # Φ(0.2 / √(0.021 + 0.025)) = 0.8245, 1.8 points off the exact 0.8065 (and a normal on the
    # log ratio of posterior means gives 0.8007): at n = 10 the shape of the Beta matters.
    normal = stats.norm.cdf(0.2 / math.sqrt(0.3 * 0.7 / 10 + 0.5 * 0.5 / 10))
    assert abs(normal - r.prob_variant_better) > 0.015


def test_binary_zero_conversions_0of20_vs_2of20_defined_and_exact():
    r = analyze_binary(BinaryStats(20, 0), BinaryStats(20, 2))
    # A normal on log(p_B/p_A) has no answer here (log 0); the Beta answer is exact.
    assert r.prob_variant_better == pytest.approx(quad_prob_b_beats_a(1, 21, 3, 19), abs=1e-9)
    assert math.isfinite(r.relative_lift.ci_high)
    assert "0 %" in r.message


def quad_expected_excess(aa: float, ba: float, ab: float, bb: float) -> float:
    """E[max(B − A, 0)] = ∫ f_A(a)·E[(B − a)⁺] da, with the textbook partial expectation
    E[(B − a)⁺] = E[B]·P(B' > a) − a·P(B > a), B' ~ Beta(α_B + 1, β_B), from scipy.stats."""

    def partial(a: float) -> float:
        return ab / (ab + bb) * stats.beta.sf(a, ab + 1, bb) - a * stats.beta.sf(a, ab, bb)

    val, _ = integrate.quad(
        lambda a: stats.beta.pdf(a, aa, ba) * partial(a),
        0,
        1,
        epsabs=1e-13,
        limit=500,
        points=[aa / (aa + ba)],
    )
    return val


@pytest.mark.parametrize("nc,xc,nv,xv", [(10, 3, 10, 5), (200, 30, 190, 41), (20, 0, 20, 2)])
def test_binary_expected_loss_matches_scipy_integration(nc, xc, nv, xv):
    aa, ba, ab, bb = 1 + xc, 1 + nc - xc, 1 + xv, 1 + nv - xv
    ref_up = quad_expected_excess(aa, ba, ab, bb)  # loss of keeping control
    ref_down = quad_expected_excess(ab, bb, aa, ba)  # loss of shipping the variant
    r = analyze_binary(BinaryStats(nc, xc), BinaryStats(nv, xv))
    q = analyze_binary(BinaryStats(nc, xc), BinaryStats(nv, xv), method="quadrature")
    assert r.expected_loss.control == pytest.approx(ref_up, abs=1e-9)
    assert r.expected_loss.variant == pytest.approx(ref_down, abs=1e-9)
    assert q.expected_loss.control == pytest.approx(ref_up, abs=1e-9)
    assert q.expected_loss.variant == pytest.approx(ref_down, abs=1e-9)


@pytest.mark.parametrize("nc,xc,nv,xv", [(20, 0, 20, 2), (1000, 100, 1000, 120)])
def test_binary_lift_interval_endpoints_are_exact_quantiles(nc, xc, nv, xv):
    aa, ba, ab, bb = 1 + xc, 1 + nc - xc, 1 + xv, 1 + nv - xv
    r = analyze_binary(BinaryStats(nc, xc), BinaryStats(nv, xv))
    # P(B − A ≤ low) = 2.5 % and P(B − A ≤ high) = 97.5 % by independent quadrature.
    assert 1 - quad_prob_b_beats_a(aa, ba, ab, bb, r.absolute_lift.ci_low) == pytest.approx(
        0.025, abs=1e-6
    )
    assert 1 - quad_prob_b_beats_a(aa, ba, ab, bb, r.absolute_lift.ci_high) == pytest.approx(
        0.975, abs=1e-6
    )
    assert r.absolute_lift.mean == pytest.approx(ab / (ab + bb) - aa / (aa + ba), abs=1e-12)


def test_binary_relative_lift_interval_matches_seeded_draws():
    r = analyze_binary(BinaryStats(1000, 100), BinaryStats(1000, 120))
    rng = np.random.default_rng(42)
    draws = 1_000_000
    ratio = rng.beta(121, 881, draws) / rng.beta(101, 901, draws) - 1
    # Share of draws below each endpoint: 2.5 % / 97.5 %, binomial SE ≈ 1.6e-4, allow 4 SE.
    assert np.mean(ratio <= r.relative_lift.ci_low) == pytest.approx(0.025, abs=6.5e-4)
    assert np.mean(ratio <= r.relative_lift.ci_high) == pytest.approx(0.975, abs=6.5e-4)
    assert r.relative_lift.mean == pytest.approx((121 / 1002) / (101 / 1002) - 1, abs=1e-12)


def test_binary_lower_is_better_flips_prob_and_loss():
    hi = analyze_binary(BinaryStats(500, 60), BinaryStats(500, 45))
    lo = analyze_binary(BinaryStats(500, 60), BinaryStats(500, 45), lower_is_better=True)
    assert lo.prob_variant_better == pytest.approx(1 - hi.prob_variant_better, abs=1e-12)
    assert lo.expected_loss.control == pytest.approx(hi.expected_loss.variant, abs=1e-12)
    assert lo.expected_loss.variant == pytest.approx(hi.expected_loss.control, abs=1e-12)
    assert lo.absolute_lift == hi.absolute_lift  # the lift keeps its sign: variant − control
    assert lo.prob_variant_better > 0.9


def test_binary_both_arms_empty_gives_prior_answer_with_message():
    r = analyze_binary(BinaryStats(0, 0), BinaryStats(0, 0))
    assert r.prob_variant_better == pytest.approx(0.5, abs=1e-12)
    # Two uniforms: E[max(B − A, 0)] = 1/6.
    assert r.expected_loss.control == pytest.approx(1 / 6, abs=1e-9)
    assert "no observations" in r.message


def test_binary_one_arm_empty_and_full_conversion_defined():
    r = analyze_binary(BinaryStats(0, 0), BinaryStats(50, 50))
    # Control Beta(1,1), variant Beta(51,1): P(B > A) = E[B] over A uniform... = 51/52.
    assert r.prob_variant_better == pytest.approx(51 / 52, abs=1e-9)
    assert "control has no observations" in r.message and "100 %" in r.message
    assert all(math.isfinite(v) for v in (r.absolute_lift.ci_low, r.absolute_lift.ci_high))


def test_binary_invalid_counts_raise_value_error():
    with pytest.raises(ValueError, match="must not exceed n"):
        BinaryStats(10, 11)
    with pytest.raises(ValueError, match="zero or more"):
        BinaryStats(-1, 0)
    with pytest.raises(ValueError, match="prior"):
        analyze_binary(BinaryStats(10, 1), BinaryStats(10, 2), prior=(0, 1))


def test_binary_stats_add_pools_groups():
    assert BinaryStats(10, 3) + BinaryStats(5, 1) == BinaryStats(15, 4)


def test_binary_rope_probability_matches_quadrature():
    r = analyze_binary(BinaryStats(5000, 500), BinaryStats(5000, 510), rope=0.01)
    inside = (
        1
        - quad_prob_b_beats_a(501, 4501, 511, 4491, 0.01)
        - quad_prob_b_beats_a(511, 4491, 501, 4501, 0.01)
    )
    assert r.prob_in_rope == pytest.approx(inside, abs=1e-7)


@pytest.mark.parametrize("shift", [0.0, 0.003, -0.002])
def test_binary_large_counts_quadrature_matches_scipy_quantile_integral(shift):
    # 10,000/100,000 vs 10,300/100,000: beyond the closed form's term limit, so quadrature
    # with the large-count linear rule. Reference: ∫₀¹ P(B > F_A⁻¹(u) + shift) du.
    aa, ba, ab, bb = 10_001, 90_001, 10_301, 89_701
    ref, _ = integrate.quad(
        lambda u: stats.beta.sf(stats.beta.ppf(u, aa, ba) + shift, ab, bb),
        0,
        1,
        epsabs=1e-14,
        limit=1000,
    )
    got = float(prob_diff_greater(BetaMarginal(aa, ba), BetaMarginal(ab, bb), shift))
    assert got == pytest.approx(ref, abs=1e-9)
    if shift == 0.0:
        r = analyze_binary(BinaryStats(100_000, 10_000), BinaryStats(100_000, 10_300))
        assert r.prob_variant_better == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((3.5, 7.2), (5.5, 6.1)),  # non-integer: quadrature
        ((12, 30), (7, 33)),  # integer, short sum: closed form
        ((1 + 50_400, 1 + 49_600), (1 + 50_000, 1 + 50_000)),  # past the closed form's limit
    ],
)
def test_prob_b_beats_a_matches_scipy_integration(a, b) -> None:
    # P(B > A) = ∫ f_B(t) F_A(t) dt, integrated by scipy over B's central mass.
    fa, fb = stats.beta(*a), stats.beta(*b)
    lo, hi = fb.ppf(1e-13), fb.isf(1e-13)
    expected, _ = integrate.quad(lambda t: fb.pdf(t) * fa.cdf(t), lo, hi, limit=200, epsabs=1e-12)
    got = prob_b_beats_a(BetaMarginal(*a), BetaMarginal(*b))
    assert got == pytest.approx(expected, abs=1e-7)
    assert prob_b_beats_a(BetaMarginal(*b), BetaMarginal(*a)) == pytest.approx(1 - got, abs=1e-7)
