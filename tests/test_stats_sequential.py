"""Sequential boundaries against a published table, scipy and seeded simulations; the decision."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from experiments.stats import BinaryStats, analyze_binary, guardrail_check
from experiments.stats.decision import KEEP_RUNNING, MIN_UNITS_PER_ARM, SHIP, STOP, decide
from experiments.stats.sequential import (
    CS,
    OBF,
    SINGLE,
    crossing_probability,
    cs_boundary,
    estimate_and_se,
    inflation_factor,
    obf_boundaries,
    obf_spending,
    sequential_look,
)


def test_obf_spending_values_closed_form() -> None:
    # α(t) = 2 − 2Φ(z_{1−α/2}/√t), one-sided α = 0.025 (Lan & DeMets 1983): hand values with
    # z_{0.9875} = 2.241403.
    t = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    expected = 2 - 2 * stats.norm.cdf(2.241403 / np.sqrt(t))
    assert obf_spending(t, 0.025) == pytest.approx(expected, abs=1e-6)
    assert obf_spending(1.0, 0.025) == pytest.approx(0.025, abs=1e-12)
    # Hand value: 2·Φ̄(2.241403/√0.2 = 5.01193) = 2 × 2.6944e-7.
    assert obf_spending(0.2, 0.025) == pytest.approx(5.389e-7, rel=1e-3)


def test_obf_boundaries_match_published_table() -> None:
    # Lan–DeMets O'Brien–Fleming-type spending, 5 equally spaced looks, one-sided α = 0.025
    # (Jennison & Turnbull 2000, ch. 7; gsDesign sfLDOF): 4.877, 3.357, 2.680, 2.290, 2.031.
    b = obf_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], 0.025)
    assert b == pytest.approx([4.877, 3.357, 2.680, 2.290, 2.031], abs=6e-4)


def test_obf_boundaries_agree_with_scipy_multivariate_normal() -> None:
    # Independent check of the recursion: P(no crossing at any look) = 1 − α(t_K), from the
    # joint normal of the cumulative Z statistics with corr √(t_i/t_j).
    fr = np.array([0.3, 0.55, 0.8, 1.0])
    b = obf_boundaries(fr, 0.05)
    cov = np.sqrt(np.minimum.outer(fr, fr) / np.maximum.outer(fr, fr))
    for k in range(1, len(fr) + 1):
        mvn = stats.multivariate_normal(
            mean=np.zeros(k), cov=cov[:k, :k], abseps=1e-7, releps=1e-7, seed=1
        )
        p_none = mvn.cdf(b[:k])
        assert 1 - p_none == pytest.approx(obf_spending(fr[k - 1], 0.05), abs=2e-5)


def test_obf_boundaries_seeded_monte_carlo_daily_looks() -> None:
    # 30 daily looks: ever crossing under the null by Monte Carlo (200k paths, seed 0,
    # standard error 0.0005) is the full α.
    fr = np.arange(1, 31) / 30
    b = obf_boundaries(fr, 0.05)
    assert crossing_probability(fr, b) == pytest.approx(0.05, abs=1e-6)
    assert crossing_probability(fr, b, draws=200_000) == pytest.approx(0.05, abs=0.0015)
    # Boundaries decrease to near the single-look 1.645 at the end, never below it.
    assert np.all(np.diff(b[1:]) < 0) and 1.645 < b[-1] < 1.95


def test_obf_prefix_boundaries_equal_full_sequence() -> None:
    # A look's boundary depends only on earlier looks: replaying look by look (resumed from
    # the cache) gives the same numbers as one pass.
    fr = [0.1, 0.25, 0.4, 0.7, 0.9]
    full = obf_boundaries(fr, 0.05)
    for k in range(1, len(fr) + 1):
        assert obf_boundaries(fr[:k], 0.05)[-1] == pytest.approx(full[k - 1], abs=1e-12)


def test_obf_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="increase"):
        obf_boundaries([0.5, 0.4], 0.05)


def test_inflation_factor_by_monte_carlo() -> None:
    # The drift reaching 80 % power with 5 looks, checked by simulation of the same design.
    r = inflation_factor(0.05, 0.8, 5)
    fr = np.linspace(0.2, 1.0, 5)
    b = obf_boundaries(fr, 0.05)
    drift = math.sqrt(r) * (stats.norm.ppf(0.95) + stats.norm.ppf(0.8))
    assert crossing_probability(fr, b, drift, draws=200_000) == pytest.approx(0.8, abs=0.004)
    assert 1.0 < r < 1.06


def test_confidence_sequence_time_uniform_coverage_seeded() -> None:
    # 4,000 seeded random walks of 200 looks of 50 units each: the two-sided 95 % sequence
    # must cover 0 at every look at once in ≥ 95 % of walks (it is conservative).
    rng = np.random.default_rng(7)
    walks, looks, per = 4000, 200, 50
    sums = np.cumsum(rng.standard_normal((walks, looks)) * math.sqrt(per), axis=1)
    n = per * np.arange(1, looks + 1)
    z = sums / np.sqrt(n)
    c = cs_boundary(n / 5000, 0.05)
    miss = (np.abs(z) >= c).any(axis=1).mean()
    assert miss <= 0.05
    # ...while a fixed 1.96 checked at every look misses far more often (the peeking problem).
    assert (np.abs(z) >= 1.96).any(axis=1).mean() > 0.25


def test_confidence_sequence_formula_hand_value() -> None:
    # α = 0.05, u = 1: K = −2 ln α + ln(1 − 2 ln α) = 5.9915 + 1.9446; c = √((K+1)/K·(5.9915 +
    # ln(K+1))).
    k = -2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))
    c = math.sqrt((k + 1) / k * (-2 * math.log(0.05) + math.log(k + 1)))
    assert cs_boundary(1.0, 0.05) == pytest.approx(c, rel=1e-12)


def test_sequential_look_rules_and_reasons() -> None:
    look = sequential_look(0.031, 0.01, [1000, 2000, 2900], planned_n=5000)
    assert look.rule == OBF and look.look == 3 and look.looks_expected == 5
    b = obf_boundaries([0.2, 0.4, 0.58], 0.05)[-1]
    assert look.boundary == pytest.approx(b)
    assert look.better == (b <= 3.1)
    assert look.ci_low == pytest.approx(0.031 - b * 0.01)
    text = look.describe()
    assert text.startswith("O'Brien–Fleming boundary at look 3 of ~5 (information 58%)")
    assert "z = 3.1" in text
    beyond = sequential_look(0.031, 0.01, [1000, 6000], planned_n=5000)
    assert beyond.rule == CS and beyond.boundary == pytest.approx(cs_boundary(1.2, 0.1))
    no_plan = sequential_look(0.031, 0.01, [1000])
    assert no_plan.rule == CS and no_plan.information is None
    fixed = sequential_look(0.031, 0.01, [1000, 3000], planned_n=5000, analysis="fixed")
    assert fixed.rule == SINGLE and fixed.boundary == pytest.approx(stats.norm.ppf(0.95))


def test_sequential_look_lower_is_better_flips_sides() -> None:
    hi = sequential_look(-0.05, 0.01, [3000], planned_n=3000)
    lo = sequential_look(-0.05, 0.01, [3000], planned_n=3000, lower_is_better=True)
    assert hi.worse and not hi.better
    assert lo.better and not lo.worse
    assert lo.ci_low < -0.05 < lo.ci_high and lo.ci_high < 0


def _look(c: BinaryStats, v: BinaryStats, history, planned, **kw):
    est, se = estimate_and_se(c, v)
    return sequential_look(est, se, history, planned_n=planned, **kw)


def test_decide_sequential_ship_names_the_rule() -> None:
    c, v = BinaryStats(10_000, 1000), BinaryStats(10_000, 1150)
    d = decide(analyze_binary(c, v), sequential=_look(c, v, [5000, 10_000], 10_000))
    assert d.action == SHIP
    assert d.reasons[0].startswith("O'Brien–Fleming boundary at look 2 of ~2 (information 100%)")


def test_decide_sequential_early_look_keeps_running_where_bayes_would_ship() -> None:
    # At 10 % of the plan a 99.5 % P(better) is not enough: the OBF boundary is ~5.
    c, v = BinaryStats(2000, 200), BinaryStats(2000, 250)
    r = analyze_binary(c, v)
    assert r.prob_variant_better > 0.99 and decide(r).action == SHIP
    d = decide(r, sequential=_look(c, v, [2000], 20_000))
    assert d.action == KEEP_RUNNING and "not yet enough evidence" in d.reasons[0]


def test_decide_guardrail_stop_needs_sequential_evidence() -> None:
    c, v = BinaryStats(10_000, 1000), BinaryStats(10_000, 1000)
    gc, gv = BinaryStats(10_000, 500), BinaryStats(10_000, 600)  # complaints +1 pp
    g = guardrail_check(gc, gv, tolerance=0.002, lower_is_better=True, name="complaints")
    primary = _look(c, v, [10_000], 10_000, alpha_worse=0.025)
    harmed = _look(gc, gv, [10_000], 10_000, alpha_worse=0.025, lower_is_better=True)
    d = decide(analyze_binary(c, v), [g], sequential=primary, guardrail_looks=[harmed])
    assert d.action == STOP and d.reasons[0].startswith("Guardrail complaints")
    assert "α 2.50% after Bonferroni" in d.reasons[0]
    # The same point estimate with a tenth of the data: probably harmed, not credibly: no stop.
    gc, gv = BinaryStats(1000, 50), BinaryStats(1000, 60)
    g = guardrail_check(gc, gv, tolerance=0.002, lower_is_better=True, name="complaints")
    weak = _look(gc, gv, [1000], 10_000, alpha_worse=0.025, lower_is_better=True)
    assert g.prob_worse >= 0.5 and not weak.worse
    d = decide(analyze_binary(c, v), [g], sequential=primary, guardrail_looks=[weak])
    assert d.action == KEEP_RUNNING


def test_decide_refuses_below_minimum_units() -> None:
    c, v = BinaryStats(MIN_UNITS_PER_ARM - 1, 5), BinaryStats(500, 400)
    d = decide(analyze_binary(c, v))
    assert d.action == KEEP_RUNNING and f"at least {MIN_UNITS_PER_ARM} per arm" in d.reasons[0]


def test_nps_loss_limit_is_on_the_nps_scale() -> None:
    # Identical evidence (a lift of 4 NPS points, same spread) at control NPS 6 and at 0: the
    # limit is 0.5 NPS points in both, so both decide alike (a limit relative to the control's
    # NPS would be 0.06 and 0 points, and NPS 0 could never ship).
    from experiments.stats import CategoryCounts, analyze_nps
    from experiments.stats.decision import NPS_LOSS_LIMIT, default_loss_threshold

    at6 = analyze_nps(CategoryCounts(3300, 4000, 2700), CategoryCounts(3500, 4000, 2500))
    at0 = analyze_nps(CategoryCounts(3000, 4000, 3000), CategoryCounts(3200, 4000, 2800))
    assert default_loss_threshold(at6) == default_loss_threshold(at0) == NPS_LOSS_LIMIT
    assert decide(at6).action == decide(at0).action == SHIP
    assert default_loss_threshold(at6, mde=3.0) == pytest.approx(0.3)


def test_daily_looks_aa_false_ship_at_most_5_percent_vectorised() -> None:
    # Modest version of benchmarks/calibration.py: 2,000 seeded A/A experiments, 30 daily looks,
    # 500-5,000 units/day/arm. The sequential rule ships ≤ 5 % (+2 Monte Carlo SE); the naive
    # daily P(better) ≥ 95 % rule ships over 20 %.
    from experiments.stats.calibration import binary_daily_z, look_boundaries, peeking_rates

    rng = np.random.default_rng(20261130)
    per_day = rng.integers(500, 5001, 2000)
    z = binary_daily_z(rng, 2000, 30, per_day, 0.10, 0.10)[0]
    rates = peeking_rates(z, look_boundaries(1.0, 30, 30.0, 0.05), 1.6448536)
    seq = rates["sequential"]
    assert seq.rate <= 0.05 + 2 * seq.se
    assert rates["naive daily P>95%"].rate > 0.2
