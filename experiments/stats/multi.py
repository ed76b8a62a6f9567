"""Several variants: P(each arm is best) and the expected loss of choosing each, by seeded draws.

With k arms these are k-dimensional integrals; we use 200k seeded posterior draws per arm
(Monte Carlo standard error ≤ 0.0012 on each probability), which is exact enough for a decision
and keeps the result reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.stats.posteriors import Stats, arm_posterior
from experiments.stats.results import MultiArmResult

DEFAULT_DRAWS = 200_000


def analyze_multi(
    arms: Sequence[Stats],
    names: Sequence[str] | None = None,
    *,
    lower_is_better: bool = False,
    prior: tuple[float, ...] | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> MultiArmResult:
    """P(best) and expected loss E[best − chosen] (or chosen − best if lower is better)."""
    if len(arms) < 2:
        raise ValueError(f"need at least two arms, got {len(arms)}")
    names = tuple(names) if names is not None else tuple(f"arm {i}" for i in range(len(arms)))
    if len(names) != len(arms):
        raise ValueError(f"{len(names)} names for {len(arms)} arms")
    if len({type(a) for a in arms}) != 1:
        raise TypeError("all arms must be the same kind of statistics")
    family = {"BinaryStats": "binary", "MeanStats": "mean", "CategoryCounts": "nps"}.get(
        type(arms[0]).__name__, "ratio"
    )
    try:
        posts = [arm_posterior(a, prior) for a in arms]
    except ValueError as exc:
        k = len(arms)
        nan = (float("nan"),) * k
        return MultiArmResult(
            family,
            lower_is_better,
            names,
            nan,
            nan,
            nan,
            draws,
            seed,
            message=f"not enough data: {exc}",
        )
    rng = np.random.default_rng(seed)
    sample = np.stack([p.sample(rng, draws) for p in posts])
    best = sample.min(axis=0) if lower_is_better else sample.max(axis=0)
    winner = sample.argmin(axis=0) if lower_is_better else sample.argmax(axis=0)
    prob_best = tuple(float(np.mean(winner == i)) for i in range(len(arms)))
    gap = sample - best if lower_is_better else best - sample
    loss = tuple(float(v) for v in gap.mean(axis=1))
    return MultiArmResult(
        family, lower_is_better, names, prob_best, loss, tuple(p.mean for p in posts), draws, seed
    )
