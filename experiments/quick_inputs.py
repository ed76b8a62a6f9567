"""The Quick calculator's typed numbers, checked and turned into engine inputs, never altered.

Each function returns the arm's sufficient statistics, or raises InputError with every
problem of that arm in words ("Control: successes (5,000) cannot exceed units (1,000)").
A number a person typed is rejected with a reason, never clamped or replaced by another.
"""

from __future__ import annotations

import math

from experiments.stats import BinaryStats, CategoryCounts, MeanStats


class InputError(ValueError):
    """Numbers that cannot describe an arm; `problems` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _count(arm: str, label: str, value: float, problems: list[str]) -> int:
    if not math.isfinite(value) or value != int(value):
        problems.append(f"{arm}: {label} must be a whole number (got {value:g})")
        return 0
    if value < 0:
        problems.append(f"{arm}: {label} cannot be negative (got {value:,.0f})")
    return int(value)


def binary_arm(arm: str, n: float, successes: float) -> BinaryStats:
    """n units of which `successes` converted."""
    problems: list[str] = []
    n_, x_ = _count(arm, "units (n)", n, problems), _count(arm, "successes", successes, problems)
    if not problems and x_ > n_:
        problems.append(f"{arm}: successes ({x_:,}) cannot exceed units ({n_:,})")
    if problems:
        raise InputError(problems)
    return BinaryStats(n_, x_)


def mean_arm(arm: str, n: float, mean: float, sd: float) -> MeanStats:
    """n units with this mean and standard deviation (Σx = n·mean, Σx² = (n−1)·sd² + n·mean²)."""
    problems: list[str] = []
    n_ = _count(arm, "units (n)", n, problems)
    if not math.isfinite(mean):
        problems.append(f"{arm}: the mean must be a number")
    if not math.isfinite(sd) or sd < 0:
        problems.append(f"{arm}: the standard deviation cannot be negative (got {sd:g})")
    if problems:
        raise InputError(problems)
    return MeanStats(n_, n_ * mean, max(n_ - 1, 0) * sd * sd + n_ * mean * mean)


def nps_arm(arm: str, promoters: float, passives: float, detractors: float) -> CategoryCounts:
    """Promoter, passive and detractor counts of one arm."""
    problems: list[str] = []
    counts = [
        _count(arm, label, v, problems)
        for label, v in (
            ("promoters", promoters),
            ("passives", passives),
            ("detractors", detractors),
        )
    ]
    if problems:
        raise InputError(problems)
    return CategoryCounts(*counts)
