"""Frozen sufficient-statistic inputs of the A/B engine; add two of a kind with `+` to pool groups."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


def _check(obj: object, name: str, *, integer: bool = False, nonneg: bool = True) -> None:
    """Validate one field and store it as a plain int or float (numpy, Decimal from SQL)."""
    value = getattr(obj, name)
    try:
        if isinstance(value, bool | str) or value is None:
            raise TypeError
        num = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(num):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if integer and not num.is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if nonneg and num < 0:
        raise ValueError(f"{name} must be zero or more, got {value!r}")
    object.__setattr__(obj, name, int(num) if integer else num)


def _add(a, b):
    if type(a) is not type(b):
        return NotImplemented
    return type(a)(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a)})


@dataclass(frozen=True)
class BinaryStats:
    """n units of which x converted (or resolved, churned, ...)."""

    n: int
    x: int

    def __post_init__(self) -> None:
        _check(self, "n", integer=True)
        _check(self, "x", integer=True)
        if self.x > self.n:
            raise ValueError(f"x (successes) must not exceed n (units): x={self.x}, n={self.n}")

    __add__ = _add

    @property
    def rate(self) -> float:
        return self.x / self.n if self.n else math.nan


@dataclass(frozen=True)
class MeanStats:
    """n, Σx and Σx² of a continuous metric; with log_scale the sums are of log x (x > 0)."""

    n: int
    sum: float
    sum_sq: float
    log_scale: bool = False

    def __post_init__(self) -> None:
        _check(self, "n", integer=True)
        _check(self, "sum", nonneg=False)
        _check(self, "sum_sq")
        # Cauchy-Schwarz: (Σx)² ≤ n·Σx²; allow rounding slack from the database.
        if self.sum**2 > self.n * self.sum_sq * (1 + 1e-9) + 1e-9:
            raise ValueError(
                f"sum_sq is too small for sum and n: (Σx)²={self.sum**2:g} > n·Σx²="
                f"{self.n * self.sum_sq:g}; pass the sum of squares, not the variance"
            )

    @classmethod
    def from_log_sums(cls, n: int, sum_log: float, sum_log_sq: float) -> MeanStats:
        """Stats of log x for skewed positive metrics; lifts are still reported on x's scale.

        A non-finite sum means some x was 0 (log 0 = −∞): such data are refused.
        """
        if not (math.isfinite(float(sum_log)) and math.isfinite(float(sum_log_sq))):
            raise ValueError(
                "the log-scale mean needs positive values: the sum of logs is not finite, so "
                "the data contain zeros; analyse them on the original scale"
            )
        return cls(n=n, sum=sum_log, sum_sq=sum_log_sq, log_scale=True)

    def __add__(self, other: MeanStats) -> MeanStats:
        if not isinstance(other, MeanStats):
            return NotImplemented
        if other.log_scale != self.log_scale:
            raise ValueError("cannot pool log-scale and original-scale MeanStats")
        return MeanStats(
            self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq, self.log_scale
        )

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1), clipped at 0 against rounding; nan below n = 2."""
        if self.n < 2:
            return math.nan
        return max((self.sum_sq - self.sum**2 / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class CategoryCounts:
    """NPS answers of one arm: promoters (9-10), passives (7-8), detractors (0-6)."""

    promoters: int
    passives: int
    detractors: int

    def __post_init__(self) -> None:
        for f in fields(self):
            _check(self, f.name, integer=True)

    __add__ = _add

    @property
    def n(self) -> int:
        return int(self.promoters + self.passives + self.detractors)

    @property
    def nps(self) -> float:
        return 100.0 * (self.promoters - self.detractors) / self.n if self.n else math.nan


@dataclass(frozen=True)
class RatioStats:
    """Unit-level sums for a ratio metric Σy/Σx (e.g. contacts y per customer-month x)."""

    n: int
    sum_y: float
    sum_x: float
    sum_y2: float
    sum_x2: float
    sum_xy: float

    def __post_init__(self) -> None:
        _check(self, "n", integer=True)
        for name in ("sum_y", "sum_x", "sum_xy"):
            _check(self, name, nonneg=False)
        _check(self, "sum_y2")
        _check(self, "sum_x2")

    __add__ = _add

    @property
    def ratio(self) -> float:
        return self.sum_y / self.sum_x if self.sum_x else math.nan


@dataclass(frozen=True)
class CovariateStats:
    """Per-arm sums of a metric y and its pre-period covariate x, for CUPED.

    m marks units with no pre-period (new customers; their x is recorded as 0): sum_m counts
    them, sum_my and sum_mx are Σy and Σx over them. Left at 0, every unit has a pre-period.
    """

    n: int
    sum_y: float
    sum_y2: float
    sum_x: float
    sum_x2: float
    sum_xy: float
    sum_m: float = 0.0
    sum_my: float = 0.0
    sum_mx: float = 0.0

    def __post_init__(self) -> None:
        _check(self, "n", integer=True)
        for name in ("sum_y", "sum_x", "sum_xy", "sum_my", "sum_mx"):
            _check(self, name, nonneg=False)
        _check(self, "sum_y2")
        _check(self, "sum_x2")
        _check(self, "sum_m")
        if self.sum_m > self.n:
            raise ValueError(
                f"sum_m (units without a pre-period) must not exceed n: {self.sum_m} > {self.n}"
            )

    __add__ = _add
