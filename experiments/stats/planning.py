"""Planning: sample size per arm for the rule that will decide, and assurance by seeded simulation.

The readout ships on a one-sided test at α = 5 % per treatment arm (Bonferroni over arms) with
O'Brien–Fleming boundaries over daily looks, so the plan sizes for that: the one-sided fixed
sample size at α/arms, times the group-sequential inflation factor for the expected number of
looks (`sequential_sample_size`, computed by experiments.stats.sequential.inflation_factor).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from experiments.stats.binary import analyze_binary
from experiments.stats.decision import MIN_UNITS_PER_ARM, SHIP, decide
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


MAX_PLANNED_LOOKS = 60  # beyond ~60 equal looks the inflation factor changes by < 0.5 %


def sequential_sample_size(
    n_fixed: int, *, looks: int, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Units per arm so that O'Brien–Fleming with `looks` equal looks keeps `power`.

    n_fixed is the single-look, one-sided size at the same α and power; it is multiplied by
    the inflation factor (about 1.02-1.05 for 5-60 looks at α = 5 %).
    """
    from experiments.stats.sequential import inflation_factor

    if n_fixed < 1 or looks < 1:
        raise ValueError(f"n_fixed and looks must be at least 1, got {n_fixed}, {looks}")
    if looks == 1:
        return int(n_fixed)
    factor = inflation_factor(alpha, power, min(looks, MAX_PLANNED_LOOKS))
    return math.ceil(n_fixed * factor)


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
    looks: int | None = None,
    alpha: float = 0.05,
) -> AssuranceResult:
    """P(the decision rule says ship by n_per_arm) when the true rates are baseline·(1, 1+mde).

    looks=None: the fixed Bayesian rule at n_per_arm (P(better) ≥ prob_threshold and the loss
    limit, by `decide` on each simulated readout). looks=L: the sequential rule looked at L
    times at equal steps up to n_per_arm (the plan): the counts are simulated look by look and
    a simulation ships if its z (engine's estimate_and_se, vectorised) reaches the engine's
    boundary at any look.
    """
    if n_per_arm < 1 or simulations < 1:
        raise ValueError("n_per_arm and simulations must be at least 1")
    p2 = baseline * (1 + mde)
    if not (0 < baseline < 1 and 0 < p2 < 1):
        raise ValueError(f"rates must stay in (0, 1): {baseline} and {p2}")
    rng = np.random.default_rng(seed)
    if looks is not None:
        ships = _sequential_ships(
            baseline, p2, n_per_arm, looks, alpha, lower_is_better, rng, simulations
        )
    else:
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


def _sequential_ships(
    p1: float,
    p2: float,
    n: int,
    looks: int,
    alpha: float,
    lower_is_better: bool,
    rng: np.random.Generator,
    simulations: int,
) -> int:
    from experiments.stats.sequential import sequential_look

    cum_n = np.unique(np.round(n * np.arange(1, looks + 1) / looks).astype(int))
    cum_n = cum_n[cum_n > 0]
    steps = np.diff(cum_n, prepend=0)
    bounds = np.array(
        [
            sequential_look(1.0, 1.0, cum_n[: k + 1], planned_n=n, alpha=alpha).boundary
            for k in range(cum_n.size)
        ]
    )
    post = []
    for p in (p1, p2):
        x = np.cumsum(rng.binomial(steps[None, :], p, (simulations, steps.size)), axis=1)
        a, b = 1.0 + x, 1.0 + cum_n[None, :] - x
        s = a + b
        post.append((a / s, np.sqrt(a * b / (s * s * (s + 1)))))
    (mc, sc), (mv, sv) = post
    z = (mv - mc) / np.hypot(sc, sv) * (-1 if lower_is_better else 1)
    small = cum_n < MIN_UNITS_PER_ARM  # the rule takes no decision below the minimum
    return int(((z >= bounds) & ~small[None, :]).any(axis=1).sum())
