"""Sample size against a hand computation, assurance against normal-theory power, calibration."""

from __future__ import annotations

import math

import pytest

from experiments.stats import assurance_binary, sample_size_binary, sample_size_mean
from experiments.stats.calibration import binary_calibration, mean_calibration, nps_calibration


def test_sample_size_binary_10pct_baseline_10pct_mde_is_14749():
    # By hand with z-table values: z_0.975 = 1.959964, z_0.8 = 0.841621, sum 2.801585,
    # squared 7.848879; p1q1 + p2q2 = 0.1·0.9 + 0.11·0.89 = 0.1879; δ = 0.11 − 0.10 = 0.01,
    # δ² = 0.0001 → n = 7.848879 · 0.1879 / 0.0001 = 14,748.04 → 14,749 (rounded up).
    by_hand = 7.848879 * 0.1879 / 0.0001
    assert by_hand == pytest.approx(14_748.04, abs=0.05)
    assert sample_size_binary(0.10, 0.10) == math.ceil(by_hand) == 14_749


def test_sample_size_binary_one_sided_and_power_90():
    # z_0.95 = 1.644854, z_0.9 = 1.281552: (2.926406)² · (0.0475 + 0.0399) / 0.0001.
    n = sample_size_binary(0.05, -0.2 + 0.4, alpha=0.05, power=0.9, two_sided=False)
    by_hand = 2.926406**2 * (0.05 * 0.95 + 0.06 * 0.94) / 0.01**2
    assert n == math.ceil(by_hand)


def test_sample_size_mean_matches_hand_formula():
    # 2σ²(z+z)²/δ² with σ = 120 s, δ = 10 s: 2·14400·7.848879/100 = 2260.48 → 2261.
    assert sample_size_mean(120.0, 10.0) == 2261


def test_sample_size_rejects_rate_out_of_range():
    with pytest.raises(ValueError, match="between 0 and 1"):
        sample_size_binary(1.5, 0.1)
    with pytest.raises(ValueError, match="non-zero"):
        sample_size_binary(0.5, 1.5)


def test_assurance_at_planned_size_near_one_sided_power():
    n = sample_size_binary(0.10, 0.10)
    a = assurance_binary(0.10, 0.10, n, simulations=600, seed=4)
    # Ship needs P(better) ≥ 0.95 ≈ a one-sided 5 % test: power Φ(2.8016 − 1.6449) = 0.876.
    # The expected-loss limit (1 % of the control rate) barely binds; allow 3.5 SE ≈ 0.047.
    assert a.prob_ship == pytest.approx(0.876, abs=0.047)
    assert a.n_per_arm == n


@pytest.mark.slow
def test_calibration_binary_aa_rules_fire_about_5pct_and_intervals_cover_95pct():
    r = binary_calibration(simulations=2000)
    assert 0.035 <= r.one_sided_rate <= 0.065  # ship rule: P(better) > 0.95
    assert 0.035 <= r.two_sided_rate <= 0.065  # P(better) > 0.975 or < 0.025
    assert 0.935 <= r.coverage <= 0.965


@pytest.mark.slow
def test_calibration_mean_aa_small_n_rules_and_coverage():
    r = mean_calibration(simulations=2000)
    assert 0.035 <= r.one_sided_rate <= 0.065
    assert 0.035 <= r.two_sided_rate <= 0.065
    assert 0.935 <= r.coverage <= 0.965


@pytest.mark.slow
def test_calibration_binary_ab_intervals_cover_true_lift():
    r = binary_calibration(0.10, 0.12, simulations=2000)
    assert 0.935 <= r.coverage <= 0.965


def test_calibration_nps_aa_rules_and_coverage():
    r = nps_calibration(simulations=2000)  # ~1 s: NPS analyses are closed form
    assert 0.035 <= r.one_sided_rate <= 0.065
    assert 0.035 <= r.two_sided_rate <= 0.065
    assert 0.935 <= r.coverage <= 0.965
