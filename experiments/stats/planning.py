"""Planning: sample size per arm for a relative MDE, and Bayesian assurance by seeded simulation."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from experiments.stats.binary import analyze_binary
from experiments.stats.decision import SHIP, decide
from experiments.stats.inputs import BinaryStats
from experiments.stats.results import AssuranceResult


def _z(alpha: float, power: float, two_sided: bool) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power!r}")
    return float(ndtri(1 - alpha / 2 if two_sided else 1 - alpha) + ndtri(power))


def sample_size_binary(
    baseline: float, mde: float, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True
) -> int:
    """Units per arm to detect a relative change `mde` of a rate `baseline`.

    n = (z_{1−α/2} + z_{1−β})² · (p₁(1−p₁) + p₂(1−p₂)) / (p₂ − p₁)², p₂ = p₁(1 + mde): the
    usual unpooled normal approximation (Chow, Shao & Wang, Sample Size Calculations in
    Clinical Research, 2nd ed., §4.2). 10 % baseline, +10 %: 14,749 per arm.
    """
    if not 0 < baseline < 1:
        raise ValueError(f"baseline must be a rate between 0 and 1, got {baseline!r}")
    p1, p2 = baseline, baseline * (1 + mde)
    if mde == 0 or not 0 < p2 < 1:
        raise ValueError(
            f"mde must be a non-zero relative change keeping the rate in (0, 1); "
            f"baseline {baseline} × (1 + {mde}) = {p2:g}"
        )
    z = _z(alpha, power, two_sided)
    return math.ceil(z * z * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2)


def sample_size_mean(
    sd: float, mde_abs: float, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True
) -> int:
    """Units per arm for an absolute change of a mean with standard deviation sd: 2σ²(z+z)²/δ²."""
    if not sd > 0 or mde_abs == 0:
        raise ValueError(f"sd must be positive and mde_abs non-zero, got sd={sd}, mde={mde_abs}")
    z = _z(alpha, power, two_sided)
    return math.ceil(2 * sd * sd * z * z / mde_abs**2)


def assurance_binary(
    baseline: float,
    mde: float,
    n_per_arm: int,
    *,
    lower_is_better: bool = False,
    prob_threshold: float = 0.95,
    loss_threshold: float | None = None,
    simulations: int = 1000,
    seed: int = 0,
) -> AssuranceResult:
    """P(decide() says ship at n_per_arm) when the true rates are baseline and baseline·(1+mde)."""
    if n_per_arm < 1 or simulations < 1:
        raise ValueError("n_per_arm and simulations must be at least 1")
    p2 = baseline * (1 + mde)
    if not (0 < baseline < 1 and 0 < p2 < 1):
        raise ValueError(f"rates must stay in (0, 1): {baseline} and {p2}")
    rng = np.random.default_rng(seed)
    xs_c = rng.binomial(n_per_arm, baseline, simulations)
    xs_v = rng.binomial(n_per_arm, p2, simulations)
    ships = 0
    for xc, xv in zip(xs_c, xs_v, strict=True):
        r = analyze_binary(
            BinaryStats(n_per_arm, int(xc)),
            BinaryStats(n_per_arm, int(xv)),
            lower_is_better=lower_is_better,
            intervals=False,
        )
        d = decide(r, prob_threshold=prob_threshold, loss_threshold=loss_threshold)
        ships += d.action == SHIP
    p = ships / simulations
    return AssuranceResult(n_per_arm, p, math.sqrt(p * (1 - p) / simulations), simulations, seed)
