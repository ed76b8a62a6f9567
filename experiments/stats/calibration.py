"""Seeded A/A (and A/B) simulations: how often the 95 % rules fire and how often intervals cover.

Under A/A, P(variant better) is close to uniform, so the one-sided ship rule P(better) > 0.95 fires
about 5 % of the time, as does the two-sided rule P(better) > 0.975 or < 0.025; the tempting
"P > 0.95 or P < 0.05" would fire about 10 %. Intervals are equal-tailed 95 % intervals of the
absolute lift, checked against the true difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from experiments.stats.binary import analyze_binary
from experiments.stats.continuous import analyze_mean
from experiments.stats.inputs import BinaryStats, CategoryCounts, MeanStats
from experiments.stats.nps import analyze_nps
from experiments.stats.results import ComparisonResult


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


def _summarise(
    family: str, seed: int, truth: float, results: Sequence[ComparisonResult]
) -> CalibrationResult:
    """The rules' firing rates and the intervals' coverage over one simulation's results."""
    probs = np.array([r.prob_variant_better for r in results])
    lows = np.array([r.absolute_lift.ci_low for r in results])
    highs = np.array([r.absolute_lift.ci_high for r in results])
    return CalibrationResult(
        family,
        len(results),
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
    results = [
        analyze_binary(BinaryStats(n, int(a)), BinaryStats(n, int(b)))
        for a, b in zip(xc, xv, strict=True)
    ]
    return _summarise("binary", seed, p_variant - p_control, results)


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
    results = []
    for _ in range(simulations):
        c = rng.normal(mu_control, sd, n)
        v = rng.normal(mu_variant, sd, n)
        results.append(
            analyze_mean(
                MeanStats(n, float(c.sum()), float((c * c).sum())),
                MeanStats(n, float(v.sum()), float((v * v).sum())),
            )
        )
    return _summarise("mean", seed, mu_variant - mu_control, results)


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
    results = [
        analyze_nps(CategoryCounts(*map(int, c)), CategoryCounts(*map(int, v)))
        for c, v in zip(cc, vv, strict=True)
    ]
    truth = 100 * (
        (shares_variant[0] - shares_variant[2]) - (shares_control[0] - shares_control[2])
    )
    return _summarise("nps", seed, truth, results)


# -- peeking: daily looks under the sequential rule, vectorised over simulations -------------
@dataclass(frozen=True)
class RateEstimate:
    """A simulated rate with its Monte Carlo standard error."""

    rate: float
    se: float
    simulations: int

    def __str__(self) -> str:
        return f"{self.rate:6.2%} ± {self.se:.2%}"


def _rate(hits: np.ndarray | np.bool_) -> RateEstimate:
    p = float(np.mean(hits))
    return RateEstimate(p, float(np.sqrt(p * (1 - p) / hits.size)), int(hits.size))


def look_boundaries(
    per_day: float,
    days: int,
    planned_n: float | None,
    alpha: float,
    *,
    analysis: str = "sequential",
) -> np.ndarray:
    """The engine's ship boundary at each of `days` daily looks of `per_day` units per arm.

    Each look goes through experiments.stats.sequential.sequential_look with the history of
    the looks before it, exactly as the readout and `cx ab --batch` do.
    """
    from experiments.stats.sequential import sequential_look

    n = per_day * np.arange(1, days + 1, dtype=float)
    out = []
    for k in range(days):
        hist = n[: k + 1] if analysis == "sequential" else n[k : k + 1]
        look = sequential_look(
            1.0, 1.0, hist, planned_n=planned_n, alpha=alpha, alpha_worse=alpha, analysis=analysis
        )
        out.append(look.boundary)
    return np.asarray(out)


def binary_daily_z(
    rng: np.random.Generator,
    sims: int,
    days: int,
    per_day: np.ndarray,
    p_control: float,
    p_variant: float,
    arms: int = 2,
) -> np.ndarray:
    """z of each treatment arm vs control at each daily look: shape (arms − 1, sims, days).

    Each arm's cumulative count is binomial; z = (E[p_v] − E[p_c]) / √(sd_c² + sd_v²) from the
    Beta(1 + x, 1 + n − x) posteriors, as experiments.stats.sequential.estimate_and_se.
    """
    n = per_day[:, None] * np.arange(1, days + 1)[None, :]
    rates = [p_control] + [p_variant] * (arms - 1)
    post = []
    for p in rates:
        x = np.cumsum(rng.binomial(per_day[:, None], p, (sims, days)), axis=1)
        a, b = 1.0 + x, 1.0 + n - x
        s = a + b
        post.append((a / s, np.sqrt(a * b / (s * s * (s + 1)))))
    (mc, sc), rest = post[0], post[1:]
    return np.stack([(mv - mc) / np.hypot(sc, sv) for mv, sv in rest])


def lognormal_daily_z(
    rng: np.random.Generator,
    sims: int,
    days: int,
    per_day: int,
    sigma: float,
    lift: float = 0.0,
) -> np.ndarray:
    """z of the original-scale mean difference of lognormal data at each daily look.

    The engine's posterior of a mean is Student-t(x̄, s²/n, n − 1), sd = scale·√(ν/(ν − 2)).
    Unit values are drawn day by day (sims × per_day at a time) and summed.
    """
    stats = []
    for mult in (1.0, 1.0 + lift):
        s1 = np.zeros((sims, days))
        s2 = np.zeros((sims, days))
        for d in range(days):
            y = mult * rng.lognormal(0.0, sigma, (sims, per_day))
            s1[:, d], s2[:, d] = y.sum(axis=1), (y * y).sum(axis=1)
        stats.append((np.cumsum(s1, axis=1), np.cumsum(s2, axis=1)))
    n = per_day * np.arange(1, days + 1)[None, :]
    out = []
    for s1, s2 in stats:
        mean = s1 / n
        var = (s2 - s1 * s1 / n) / (n - 1)
        out.append((mean, np.sqrt(var / n * (n - 1) / (n - 3))))
    (mc, sc), (mv, sv) = out
    return (mv - mc) / np.hypot(sc, sv)


def first_crossing(z: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Index of the first look where z ≥ its boundary (−1: never), along the last axis."""
    hit = z >= bounds
    first = np.argmax(hit, axis=-1)
    return np.where(hit.any(axis=-1), first, -1)


def peeking_rates(z: np.ndarray, bounds: np.ndarray, fixed: float) -> dict[str, RateEstimate]:
    """Ship rates: sequential rule, naive daily P(better) ≥ 95 %, one look at the end."""
    return {
        "sequential": _rate(first_crossing(z, bounds) >= 0),
        "naive daily P>95%": _rate((z >= fixed).any(axis=-1)),
        "single look at end": _rate(z[..., -1] >= fixed),
    }


def log_scale_coverage(
    sigma: float, n: int, simulations: int = 20_000, seed: int = 20261130
) -> tuple[RateEstimate, RateEstimate]:
    """(modified Cox, plug-in s²) coverage of the 95 % interval of a lognormal arm's mean.

    Sufficient statistics are simulated exactly: ȳ ~ N(0, σ²/n), (n−1)s²/σ² ~ χ²_{n−1}.
    """
    from scipy.special import ndtri

    from experiments.stats.continuous import log_scale_sd

    rng = np.random.default_rng(seed)
    m = rng.normal(0.0, sigma / np.sqrt(n), simulations)
    v = sigma**2 * rng.chisquare(n - 1, simulations) / (n - 1)
    eta, truth, z = m + v / 2, sigma**2 / 2, float(ndtri(0.975))
    cox = np.abs(eta - truth) <= z * log_scale_sd(n, v)
    plug_in = np.abs(eta - truth) <= z * np.sqrt(v / n)
    return _rate(cox), _rate(plug_in)


def cuped_new_units(
    share_new: float, n: int = 5000, simulations: int = 200, seed: int = 20261131
) -> dict[str, float]:
    """Variance reduction of CUPED with the missing indicator vs with missing coded as 0.

    Returning units: y = 1 + 0.9x + ε with x ~ Gamma(2, 2) pre-period; new units: y = 5 + ε,
    no pre-period. A/A: also the share of 95 % intervals of the adjusted lift covering 0.
    """
    from experiments.stats.continuous import analyze_mean
    from experiments.stats.cuped import covariate_stats, cuped

    rng = np.random.default_rng(seed)
    red_ind: list[float] = []
    red_zero: list[float] = []
    cover: list[bool] = []
    for _ in range(simulations):
        arms = []
        for _arm in range(2):
            x = rng.gamma(2.0, 2.0, n)
            new = rng.random(n) < share_new
            y = np.where(new, 5.0, 1.0 + 0.9 * x) + rng.normal(0.0, 2.0, n)
            arms.append((y, x, new))
        raw = sum(np.var(y, ddof=1) for y, _, _ in arms)
        with_ind = cuped(*(covariate_stats(y, x, new) for y, x, new in arms))
        zero = cuped(*(covariate_stats(y, np.where(new, 0.0, x)) for y, x, new in arms))
        red_ind.append(float(1 - (with_ind[0].variance + with_ind[1].variance) / raw))
        red_zero.append(float(1 - (zero[0].variance + zero[1].variance) / raw))
        r = analyze_mean(with_ind[0], with_ind[1])
        cover.append(r.absolute_lift.ci_low <= 0 <= r.absolute_lift.ci_high)
    return {
        "share_new": share_new,
        "reduction_indicator": float(np.mean(red_ind)),
        "reduction_zero_coded": float(np.mean(red_zero)),
        "aa_coverage": float(np.mean(cover)),
    }
