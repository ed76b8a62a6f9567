"""Result dataclasses of the A/B engine; `to_dict()` gives the JSON shape of `cx ab --json`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

NAN = math.nan


@dataclass(frozen=True)
class Interval:
    """A posterior mean and its equal-tailed credible interval."""

    mean: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ArmSummary:
    """Posterior of one arm's metric (rate, mean, NPS points, ratio) and its sample size."""

    n: int
    mean: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ExpectedLoss:
    """Expected loss of choosing each arm, E[max(other − chosen, 0)] in metric units.

    With lower-is-better the loss is how much higher (worse) the chosen arm is expected to be.
    """

    control: float = NAN
    variant: float = NAN

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ComparisonResult:
    """Variant vs control on one metric.

    - absolute_lift: variant − control in metric units (sign not flipped by lower_is_better).
    - relative_lift: variant / control − 1; its `mean` is the ratio of the posterior means
      E[variant]/E[control] − 1, because the posterior mean of the ratio need not exist
      (e.g. 0 conversions in control); its interval is from the exact ratio posterior.
    - prob_variant_better: P(variant > control), or P(variant < control) if lower_is_better.
    - prob_in_rope: P(|absolute lift| < rope) when a ROPE was given.
    - message: why figures are missing or need care (degenerate input), else None.
    """

    family: str
    lower_is_better: bool
    ci_level: float
    control: ArmSummary
    variant: ArmSummary
    prob_variant_better: float = NAN
    expected_loss: ExpectedLoss = field(default_factory=ExpectedLoss)
    absolute_lift: Interval = field(default_factory=Interval)
    relative_lift: Interval = field(default_factory=Interval)
    rope: float | None = None
    prob_in_rope: float | None = None
    message: str | None = None

    def to_dict(self) -> dict:
        return {
            "family": self.family,
            "lower_is_better": self.lower_is_better,
            "ci_level": self.ci_level,
            "control": self.control.to_dict(),
            "variant": self.variant.to_dict(),
            "prob_variant_better": self.prob_variant_better,
            "expected_loss": self.expected_loss.to_dict(),
            "absolute_lift": self.absolute_lift.to_dict(),
            "relative_lift": self.relative_lift.to_dict(),
            "rope": self.rope,
            "prob_in_rope": self.prob_in_rope,
            "message": self.message,
        }


@dataclass(frozen=True)
class MultiArmResult:
    """Several arms: P(each arm is best) and the expected loss of choosing each."""

    family: str
    lower_is_better: bool
    arms: tuple[str, ...]
    prob_best: tuple[float, ...]
    expected_loss: tuple[float, ...]
    means: tuple[float, ...]
    draws: int
    seed: int
    message: str | None = None

    def to_dict(self) -> dict:
        return {
            "family": self.family,
            "lower_is_better": self.lower_is_better,
            "arms": [
                {"name": a, "prob_best": p, "expected_loss": loss, "mean": m}
                for a, p, loss, m in zip(
                    self.arms, self.prob_best, self.expected_loss, self.means, strict=True
                )
            ],
            "draws": self.draws,
            "seed": self.seed,
            "message": self.message,
        }


@dataclass(frozen=True)
class SrmResult:
    """Sample-ratio mismatch check: chi-square of the observed split against the planned one."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    dof: int
    p_value: float
    mismatch: bool
    threshold: float = 0.001
    message: str | None = None

    def to_dict(self) -> dict:
        return asdict(self) | {"observed": list(self.observed), "expected": list(self.expected)}


@dataclass(frozen=True)
class GuardrailResult:
    """Non-inferiority: P(variant worse than control by more than the tolerance)."""

    name: str
    tolerance: float
    relative: bool
    threshold: float
    prob_worse: float
    passed: bool
    lower_is_better: bool = False
    message: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# A reason as a key and its values, for a UI that words it in its own language: values are
# (kind, value) with kind "prob" (0..1, one decimal in %), "pct0" / "pct2" (in % with 0 / 2
# decimals), "num" (three significant digits), "int", "text", or
# "note" (a nested reason, e.g. the sequential boundary that decided).
ReasonNote = tuple[str, dict[str, tuple[str, Any]]]


@dataclass(frozen=True)
class Decision:
    """ship / keep running / stop, with the reasons in words (English) and, in `notes`, the
    same reasons as keys and values (one note per reason, in order) for other languages."""

    action: str
    reasons: tuple[str, ...]
    notes: tuple[ReasonNote, ...] = ()

    def to_dict(self) -> dict:
        return {"action": self.action, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class AssuranceResult:
    """Probability the decision rule reaches `ship` at n_per_arm when the true effect is the MDE."""

    n_per_arm: int
    prob_ship: float
    std_error: float
    simulations: int
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)
