"""Planning from the store's own traffic: baseline, sample size per arm, duration, assurance.

The baseline and the unit-level spread of the primary metric are read from the last four
weeks of data; the sample size comes from the engine's planning formulas (binary: on the
rate; every other family: on the unit-level standard deviation, which for a ratio is the
delta-method spread from the engine's `ratio_moments`) for the rule that will decide: one-sided
at α per treatment arm (Bonferroni over arms), then inflated for O'Brien–Fleming boundaries
over one look a day for the expected duration (`sequential_sample_size`). The expected
duration divides the units needed by the eligible units per day (customers with an event the
metric counts, over the same four weeks). Assurance is the probability that the engine's
sequential rule says *ship* at the planned end (looked at daily) when the true effect equals the
MDE: exact simulation of the counts for binary metrics (engine `assurance_binary`), a seeded
simulation of the arms' sufficient statistics for the others, each analysed by the engine and
decided by `decide`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np

from experiments.metric_defs import ExperimentMetric, get_metric
from experiments.readout_sql import baseline_stats, eligible_units_per_day
from metrics.catalogue import MIN_SAMPLE_DEFAULT
from metrics.settings import load_settings
from metrics.store import Store

LOOKBACK_DAYS = 28


class PlanningError(ValueError):
    """The store has too little data to plan this metric (with what is missing)."""


@dataclass(frozen=True)
class PlanEstimate:
    metric: str
    label: str
    family: str
    lower_is_better: bool
    baseline: float  # the metric's value over the lookback
    unit_sd: float  # per-unit standard deviation on the metric's scale (nan for binary)
    mde: float  # absolute, metric units, in the direction of "better"
    mde_relative: float
    n_per_arm: int
    n_total: int
    eligible_per_day: float
    expected_days: float
    assurance: float
    assurance_se: float
    lookback: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    n_single_look: int = 0  # one-sided single-look size per arm, before the sequential inflation
    looks: int = 1  # daily looks the sequential inflation plans for
    alpha_per_arm: float = 0.05  # one-sided, after Bonferroni over treatment arms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"notes": list(self.notes)}


def _baseline(
    metric: ExperimentMetric, b: dict[str, float], min_n: int = MIN_SAMPLE_DEFAULT
) -> tuple[float, float]:
    """(baseline value, per-unit sd) of the metric from the lookback's unit-level sums; at
    least `min_n` units (the KPIs' minimum sample, the kpi.min_n setting)."""
    from experiments.stats import CategoryCounts, MeanStats, RatioStats, nps_moments
    from experiments.stats.ratio import ratio_moments

    n = int(b.get("n", 0))
    if n < min_n:
        raise PlanningError(
            f"only {n} units have {metric.name} data in the last {LOOKBACK_DAYS} days; at least "
            f"{min_n} are needed to plan from the store's own traffic"
        )
    if metric.family == "nps":
        counts = CategoryCounts(int(b["promoters"]), int(b["passives"]), int(b["detractors"]))
        mean, var = nps_moments(counts)
        return mean, math.sqrt(var * counts.n)
    if metric.family == "binary":
        rate = b["sx"] / n
        return rate, math.sqrt(rate * (1 - rate))
    if metric.family == "mean":
        s = MeanStats(n, b["sx"], b["sxx"])
        return s.mean, math.sqrt(s.variance)
    r = RatioStats(
        n=n, sum_y=b["sx"], sum_x=b["sy"], sum_y2=b["sxx"], sum_x2=b["syy"], sum_xy=b["sxy"]
    )
    mean, var = ratio_moments(r)
    return mean, math.sqrt(var * n)


def plan_experiment(
    store: Store,
    primary_metric: str,
    mde: float,
    *,
    mde_relative: bool = False,
    split: Sequence[float] = (0.5, 0.5),
    alpha: float = 0.05,
    power: float = 0.8,
    simulations: int = 400,
    seed: int = 0,
) -> PlanEstimate:
    """Sample size per arm, expected duration and assurance for detecting `mde`.

    mde is in the metric's units (0.03 = 3 points of FCR) or, with mde_relative, a fraction
    of the baseline (0.05 = 5 %). Its sign is ignored: the improvement is taken in the
    metric's good direction. alpha is the one-sided chance of shipping a null variant, split
    over the treatment arms.
    """
    from experiments.stats import sample_size_binary, sample_size_mean
    from experiments.stats.planning import MAX_PLANNED_LOOKS, sequential_sample_size
    from experiments.stats.sequential import ship_alpha

    settings = load_settings(store)
    metric = get_metric(primary_metric, settings)
    if not (mde > 0 and math.isfinite(mde)):
        raise PlanningError(f"the MDE must be a positive number, got {mde!r}")
    if len(split) < 2 or any(s <= 0 for s in split):
        raise PlanningError(f"split {list(split)} must have at least two positive shares")
    b = baseline_stats(store, metric, LOOKBACK_DAYS)
    base, sd = _baseline(metric, b, settings.min_n)
    if mde_relative:
        if base == 0:
            raise PlanningError(
                f"{metric.name} is 0 over the lookback: a relative MDE is undefined"
            )
        abs_mde = abs(base) * mde
    else:
        abs_mde = mde
    rel = abs_mde / abs(base) if base else math.nan
    signed = -abs_mde if metric.lower_is_better else abs_mde
    notes: list[str] = []
    alpha_arm = ship_alpha(len(split) - 1, alpha)
    if metric.family == "binary":
        if not 0 < base < 1:
            raise PlanningError(f"{metric.name} baseline is {base:.3g}: no variation to detect")
        n_fixed = sample_size_binary(
            base, signed / base, alpha=alpha_arm, power=power, two_sided=False
        )
    else:
        if not sd > 0:
            raise PlanningError(f"{metric.name} has no variation across units in the lookback")
        n_fixed = sample_size_mean(sd, abs_mde, alpha=alpha_arm, power=power, two_sided=False)
    share = [s / sum(split) for s in split]
    traffic = eligible_units_per_day(store, metric, LOOKBACK_DAYS)
    per_day = traffic["per_day"]
    # One look a day: the inflation is planned for the days the single-look size would take.
    fixed_days = math.ceil(n_fixed / min(share)) / per_day if per_day > 0 else math.inf
    looks = max(1, math.ceil(fixed_days)) if math.isfinite(fixed_days) else 1
    n_per_arm = sequential_sample_size(n_fixed, looks=looks, alpha=alpha_arm, power=power)
    n_total = math.ceil(n_per_arm / min(share))
    days = n_total / per_day if per_day > 0 else math.inf
    if metric.family in ("ratio", "nps"):
        notes.append(
            "units are customers; the spread per customer is the delta-method spread of the "
            "ratio over the last four weeks"
        )
    # Beyond MAX_PLANNED_LOOKS equal looks the crossing chance changes by < 0.5 %, while each
    # extra look costs a boundary recursion: the assurance is computed at the capped count.
    assurance, se = _assurance(
        metric,
        base,
        sd,
        signed,
        n_per_arm,
        simulations,
        seed,
        looks=min(looks, MAX_PLANNED_LOOKS),
        alpha=alpha_arm,
    )
    return PlanEstimate(
        metric=metric.name,
        label=metric.display_label,
        family=metric.family,
        lower_is_better=metric.lower_is_better,
        baseline=base,
        unit_sd=sd,
        mde=abs_mde,
        mde_relative=rel,
        n_per_arm=int(n_per_arm),
        n_total=int(n_total),
        eligible_per_day=per_day,
        expected_days=days,
        assurance=assurance,
        assurance_se=se,
        lookback=traffic | {"baseline_units": b["n"]},
        notes=tuple(notes),
        n_single_look=int(n_fixed),
        looks=int(looks),
        alpha_per_arm=alpha_arm,
    )


def _assurance(
    metric: ExperimentMetric,
    base: float,
    sd: float,
    signed_mde: float,
    n: int,
    simulations: int,
    seed: int,
    *,
    looks: int = 1,
    alpha: float = 0.05,
) -> tuple[float, float]:
    from experiments.stats import SHIP, MeanStats, analyze_mean, assurance_binary, decide
    from experiments.stats.sequential import estimate_and_se, sequential_look

    if metric.family == "binary":
        r = assurance_binary(
            base,
            signed_mde / base,
            n,
            lower_is_better=metric.lower_is_better,
            simulations=simulations,
            seed=seed,
            looks=looks,
            alpha=alpha,
        )
        return r.prob_ship, r.std_error
    # Sequential: the z of the mean difference is a Brownian path with drift δ/se(n); the
    # chance it crosses the engine's boundaries at some daily look is computed exactly by the
    # boundaries' own recursion (no simulation error).
    if looks > 1:
        from experiments.stats.sequential import crossing_probability

        fr = np.arange(1, looks + 1) / looks
        bounds = [
            sequential_look(1.0, 1.0, list(fr[: k + 1] * n), planned_n=n, alpha=alpha).boundary
            for k in range(looks)
        ]
        drift = abs(signed_mde) / (sd * math.sqrt(2 / n))
        return crossing_probability(fr, bounds, drift), 0.0
    # One look: each arm's sufficient statistics at n units, the mean normal (CLT at planning
    # sizes) and (n−1)s²/σ² chi-square; the engine analyses them and decide() applies its rule.
    rng = np.random.default_rng(seed)
    ships = 0
    for _ in range(simulations):
        arms = []
        for mu in (base, base + signed_mde):
            mean = rng.normal(mu, sd / math.sqrt(n))
            var = sd * sd * rng.chisquare(n - 1) / (n - 1)
            arms.append(MeanStats(n, mean * n, var * (n - 1) + n * mean * mean))
        res = analyze_mean(
            arms[0], arms[1], lower_is_better=metric.lower_is_better, intervals=False
        )
        est, se = estimate_and_se(arms[0], arms[1])
        look = sequential_look(
            est, se, [n], planned_n=n, alpha=alpha, lower_is_better=metric.lower_is_better
        )
        ships += decide(res, sequential=look).action == SHIP
    p = ships / simulations
    return p, math.sqrt(p * (1 - p) / simulations)


# Durations outside these bounds are flagged: under a day misses the daily cycle of contacts,
# over a year the population and the product change under the experiment.
MIN_DAYS, MAX_DAYS = 1.0, 365.0


@dataclass(frozen=True)
class PlanCheck:
    """Problems of a plan before it is saved: errors block saving, warnings are shown."""

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def parse_split(text: str) -> list[float]:
    """'0.5, 0.5' -> [0.5, 0.5]; a ValueError says what was expected."""
    try:
        return [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(
            f"split {text!r}: expected comma-separated numbers such as 0.5, 0.5"
        ) from None


def parse_guardrails(text: str) -> list[dict[str, Any]]:
    """'csat: 0.02, aht: 30' -> [{metric, tolerance}, ...]; metric names are checked on save."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        metric, sep, tol = part.partition(":")
        try:
            if not sep:
                raise ValueError
            out.append({"metric": metric.strip(), "tolerance": float(tol)})
        except ValueError:
            raise ValueError(
                f"guardrail {part!r}: expected metric: tolerance, such as csat: 0.02"
            ) from None
    return out


def format_guardrails(guardrails: Sequence[Any]) -> str:
    """The text parse_guardrails reads, for an editor's initial value."""
    return ", ".join(f"{g.metric}: {g.tolerance:g}" for g in guardrails)


def split_problems(variants: Sequence[str], split: Sequence[float]) -> list[str]:
    """Why a split cannot be used for these variants (empty when it can)."""
    if len(split) != len(variants):
        return [
            f"split {', '.join(f'{s:g}' for s in split)} gives {len(split)} shares for "
            f"{len(variants)} variants ({', '.join(variants)}); give one share per variant"
        ]
    if any(not (math.isfinite(s) and s > 0) for s in split):
        return [f"split {', '.join(f'{s:g}' for s in split)}: every share must be above 0"]
    total = math.fsum(split)
    if abs(total - 1) > 1e-6:
        return [
            f"split {', '.join(f'{s:g}' for s in split)} adds up to {total:g}: the shares of "
            "the units per variant must add up to 1"
        ]
    return []


def check_plan(
    variants: Sequence[str],
    split: Sequence[float],
    start: date | None,
    end: date | None,
    estimate: PlanEstimate | None = None,
) -> PlanCheck:
    """The plan's split, window and duration against each other and the store's traffic.

    The end date is honoured: when the window is shorter than the expected duration, the
    warning says how many units per arm the window reaches at the current traffic.
    """
    errors = split_problems(variants, split)
    warnings: list[str] = []
    window_days = None
    if start and end:
        window_days = (end - start).days + 1
        if end < start:
            errors.append(f"the end date {end} is before the start date {start}")
        elif window_days > MAX_DAYS:
            errors.append(
                f"the window {start} to {end} is {window_days} days; more than "
                f"{MAX_DAYS:.0f} days is not a plan an experiment can keep to"
            )
    if estimate is not None and math.isfinite(estimate.expected_days):
        days = estimate.expected_days
        if days > MAX_DAYS:
            warnings.append(
                f"reaching {estimate.n_total:,} units takes about {days:,.0f} days at "
                f"{estimate.eligible_per_day:.1f} eligible customers per day: more than a "
                "year. Plan a larger effect (MDE) or a metric more units have"
            )
        elif days < MIN_DAYS:
            warnings.append(
                f"{estimate.n_total:,} units arrive in {days * 24:.1f} hours: under a day "
                "misses the daily and weekly cycle of contacts; run at least a full week"
            )
        if window_days is not None and 0 < window_days < days and not errors:
            share = min(split) / math.fsum(split)
            reach = int(estimate.eligible_per_day * window_days * share)
            warnings.append(
                f"the window {start} to {end} is {window_days} days, but {estimate.n_total:,} "
                f"units need about {math.ceil(days)} days: by the end date about {reach:,} "
                f"per arm, not {estimate.n_per_arm:,}. Move the end date or raise the MDE"
            )
    elif estimate is not None:
        warnings.append("no eligible traffic in the last four weeks: the duration is unknown")
    return PlanCheck(tuple(errors), tuple(warnings))
