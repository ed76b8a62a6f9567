"""Sample-ratio mismatch: Pearson chi-square of the observed split against the planned weights."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.special import chdtrc

from experiments.stats.results import SrmResult

SRM_THRESHOLD = 0.001


def srm_check(
    counts: Sequence[int],
    weights: Sequence[float] | None = None,
    *,
    threshold: float = SRM_THRESHOLD,
) -> SrmResult:
    """Chi-square goodness of fit; mismatch when p < threshold (default 0.001).

    weights are the planned split (any positive scale, e.g. 50,50 or 1,1); default equal.
    """
    counts = [int(c) for c in counts]
    if len(counts) < 2:
        raise ValueError(f"SRM needs at least two arms' counts, got {len(counts)}")
    if any(c < 0 for c in counts):
        raise ValueError(f"counts must be zero or more, got {counts}")
    weights = [1.0] * len(counts) if weights is None else [float(w) for w in weights]
    if len(weights) != len(counts):
        raise ValueError(f"{len(weights)} weights for {len(counts)} arms: give one weight per arm")
    if any(not (w > 0 and math.isfinite(w)) for w in weights):
        raise ValueError(f"weights must be positive numbers, got {weights}")
    total = sum(counts)
    share = [w / sum(weights) for w in weights]
    expected = tuple(total * s for s in share)
    dof = len(counts) - 1
    if total == 0:
        return SrmResult(
            tuple(counts),
            expected,
            0.0,
            dof,
            1.0,
            False,
            threshold,
            message="no units assigned yet: nothing to check",
        )
    chi2 = sum((o - e) ** 2 / e for o, e in zip(counts, expected, strict=True))
    p = float(chdtrc(dof, chi2))
    mismatch = p < threshold
    message = None
    if mismatch:
        message = (
            f"sample-ratio mismatch: the split {counts} is unlikely under the planned "
            f"{[round(s * 100, 1) for s in share]} % (p = {p:.2g}); check assignment and logging"
        )
    return SrmResult(tuple(counts), expected, float(chi2), dof, p, mismatch, threshold, message)
