"""One entry point over the metric families: pick the posterior and the analysis by input type."""

from __future__ import annotations

from typing import Any

from experiments.stats.binary import analyze_binary, binary_posterior
from experiments.stats.continuous import analyze_mean, mean_posterior
from experiments.stats.inputs import BinaryStats, CategoryCounts, MeanStats, RatioStats
from experiments.stats.marginals import Marginal
from experiments.stats.nps import analyze_nps, nps_posterior
from experiments.stats.ratio import analyze_ratio, ratio_posterior
from experiments.stats.results import ComparisonResult

Stats = BinaryStats | MeanStats | CategoryCounts | RatioStats


def _beta_prior(prior: tuple[float, ...] | None) -> tuple[float, float]:
    if not prior:
        return (1.0, 1.0)
    if len(prior) != 2:
        raise ValueError(f"prior must be two positive numbers (Beta a, b), got {prior!r}")
    return (prior[0], prior[1])


def _dirichlet_prior(prior: tuple[float, ...] | None) -> tuple[float, float, float]:
    if not prior:
        return (1.0, 1.0, 1.0)
    if len(prior) != 3:
        raise ValueError(f"prior must be three positive numbers (Dirichlet), got {prior!r}")
    return (prior[0], prior[1], prior[2])


def arm_posterior(stats: Stats, prior: tuple[float, ...] | None = None) -> Marginal:
    """Posterior of one arm's metric; raises ValueError when the arm has too little data."""
    if isinstance(stats, BinaryStats):
        return binary_posterior(stats, _beta_prior(prior))
    if isinstance(stats, MeanStats):
        return mean_posterior(stats)
    if isinstance(stats, CategoryCounts):
        return nps_posterior(stats, _dirichlet_prior(prior))
    if isinstance(stats, RatioStats):
        return ratio_posterior(stats)
    raise TypeError(f"unsupported statistics type {type(stats).__name__}")


def compare(
    control: Stats,
    variant: Stats,
    *,
    lower_is_better: bool = False,
    prior: tuple[float, ...] | None = None,
    ci: float = 0.95,
    rope: float | None = None,
    intervals: bool = True,
) -> ComparisonResult:
    """Analyse variant vs control with the family matching the input type."""
    if type(control) is not type(variant):
        raise TypeError(
            f"control and variant must be the same kind of statistics, got "
            f"{type(control).__name__} and {type(variant).__name__}"
        )
    kw: dict[str, Any] = dict(ci=ci, rope=rope, intervals=intervals)
    # Both arms are of one type (checked above); each test names both so the type narrows.
    if isinstance(control, BinaryStats) and isinstance(variant, BinaryStats):
        return analyze_binary(
            control, variant, prior=_beta_prior(prior), lower_is_better=lower_is_better, **kw
        )
    if isinstance(control, MeanStats) and isinstance(variant, MeanStats):
        return analyze_mean(control, variant, lower_is_better=lower_is_better, **kw)
    if isinstance(control, CategoryCounts) and isinstance(variant, CategoryCounts):
        if lower_is_better:
            raise ValueError("NPS is higher-is-better; lower_is_better does not apply")
        return analyze_nps(control, variant, prior=_dirichlet_prior(prior), **kw)
    if isinstance(control, RatioStats) and isinstance(variant, RatioStats):
        return analyze_ratio(control, variant, lower_is_better=lower_is_better, **kw)
    raise TypeError(f"unsupported statistics type {type(control).__name__}")
