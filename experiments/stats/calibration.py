"""Seeded A/A (and A/B) simulations: how often the 95 % rules fire and how often intervals cover.

Under A/A, P(variant better) is close to uniform, so the one-sided ship rule P(better) > 0.95 fires
about 5 % of the time, as does the two-sided rule P(better) > 0.975 or < 0.025; the tempting
"P > 0.95 or P < 0.05" would fire about 10 %. Intervals are equal-tailed 95 % intervals of the
absolute lift, checked against the true difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from experiments.stats.binary import analyze_binary
from experiments.stats.continuous import analyze_mean
from experiments.stats.inputs import BinaryStats, CategoryCounts, MeanStats
from experiments.stats.nps import analyze_nps


@dataclass(frozen=True)
class CalibrationResult:
    family: str
    simulations: int
    seed: int
    true_lift: float
    one_sided_rate: float  # share with P(better) > 0.95
    two_sided_rate: float  # share with P(better) > 0.975 or < 0.025
    coverage: float  # share of 95 % intervals containing the true lift

    def to_dict(self) -> dict:
        return asdict(self)


def _summarise(family, sims, seed, truth, probs, lows, highs) -> CalibrationResult:
    probs, lows, highs = map(np.asarray, (probs, lows, highs))
    return CalibrationResult(
        family,
        sims,
        seed,
        truth,
        float(np.mean(probs > 0.95)),
        float(np.mean((probs > 0.975) | (probs < 0.025))),
        float(np.mean((lows <= truth) & (truth <= highs))),
    )


def binary_calibration(
    p_control: float = 0.10,
    p_variant: float = 0.10,
    n: int = 2000,
    simulations: int = 2000,
    seed: int = 20261122,
) -> CalibrationResult:
    """Simulate binomial arms with the given true rates and analyse each with analyze_binary."""
    rng = np.random.default_rng(seed)
    xc = rng.binomial(n, p_control, simulations)
    xv = rng.binomial(n, p_variant, simulations)
    probs, lows, highs = [], [], []
    for a, b in zip(xc, xv, strict=True):
        r = analyze_binary(BinaryStats(n, int(a)), BinaryStats(n, int(b)))
        probs.append(r.prob_variant_better)
        lows.append(r.absolute_lift.ci_low)
        highs.append(r.absolute_lift.ci_high)
    return _summarise("binary", simulations, seed, p_variant - p_control, probs, lows, highs)


def mean_calibration(
    mu_control: float = 300.0,
    mu_variant: float = 300.0,
    sd: float = 120.0,
    n: int = 50,
    simulations: int = 2000,
    seed: int = 20261123,
) -> CalibrationResult:
    """Simulate normal arms (small n, where the Student-t matters) and analyse with analyze_mean."""
    rng = np.random.default_rng(seed)
    probs, lows, highs = [], [], []
    for _ in range(simulations):
        c = rng.normal(mu_control, sd, n)
        v = rng.normal(mu_variant, sd, n)
        r = analyze_mean(
            MeanStats(n, float(c.sum()), float((c * c).sum())),
            MeanStats(n, float(v.sum()), float((v * v).sum())),
        )
        probs.append(r.prob_variant_better)
        lows.append(r.absolute_lift.ci_low)
        highs.append(r.absolute_lift.ci_high)
    return _summarise("mean", simulations, seed, mu_variant - mu_control, probs, lows, highs)


def nps_calibration(
    shares_control: tuple[float, float, float] = (0.40, 0.30, 0.30),
    shares_variant: tuple[float, float, float] = (0.40, 0.30, 0.30),
    n: int = 500,
    simulations: int = 2000,
    seed: int = 20261124,
) -> CalibrationResult:
    """Simulate multinomial (promoter, passive, detractor) answers and analyse with analyze_nps."""
    rng = np.random.default_rng(seed)
    cc = rng.multinomial(n, shares_control, simulations)
    vv = rng.multinomial(n, shares_variant, simulations)
    probs, lows, highs = [], [], []
    for c, v in zip(cc, vv, strict=True):
        r = analyze_nps(CategoryCounts(*map(int, c)), CategoryCounts(*map(int, v)))
        probs.append(r.prob_variant_better)
        lows.append(r.absolute_lift.ci_low)
        highs.append(r.absolute_lift.ci_high)
    truth = 100 * (
        (shares_variant[0] - shares_variant[2]) - (shares_control[0] - shares_control[2])
    )
    return _summarise("nps", simulations, seed, truth, probs, lows, highs)
