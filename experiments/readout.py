"""Read an experiment out of the store: sufficient statistics in DuckDB, inference by the engine.

`analyze(store, experiment_id)` runs the aggregate queries of experiments.readout_sql and
feeds their sums to the engine (experiments.stats): the primary metric, each guardrail's
non-inferiority verdict, the sample-ratio check, CUPED on the primary metric, the
decision with its reasons, and P(better) / the lift interval cumulated by assignment day.
No statistics are computed here; this module only maps aggregates to engine inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import polars as pl

from experiments.metric_defs import ExperimentMetric, get_metric
from experiments.readout_sql import SEGMENT_DIMS, Window, columns, query_stats
from experiments.registry import Experiment, get_experiment
from experiments.stats.inputs import (
    BinaryStats,
    CategoryCounts,
    CovariateStats,
    MeanStats,
    RatioStats,
)
from experiments.stats.results import ComparisonResult
from metrics.store import Store


class ReadoutError(ValueError):
    """The experiment cannot be read out (no assignments, unknown variant ...)."""


# -- aggregate row -> engine input ---------------------------------------------------------
def engine_input(metric: ExperimentMetric, row: dict[str, Any]) -> Any:
    """The engine's frozen input for one group's aggregate row."""
    m, n = metric.name, int(row["n"])
    if metric.family == "nps":
        return CategoryCounts(
            int(row[f"{m}__promoters"]), int(row[f"{m}__passives"]), int(row[f"{m}__detractors"])
        )
    if metric.family == "binary":
        return BinaryStats(n, int(round(row[f"{m}__sx"])))
    if metric.family == "mean":
        return MeanStats(n, float(row[f"{m}__sx"]), float(row[f"{m}__sxx"]))
    # Ratio Σnumerator / Σdenominator: the engine's RatioStats names them y / x.
    return RatioStats(
        n=n,
        sum_y=float(row[f"{m}__sx"]),
        sum_x=float(row[f"{m}__sy"]),
        sum_y2=float(row[f"{m}__sxx"]),
        sum_x2=float(row[f"{m}__syy"]),
        sum_xy=float(row[f"{m}__sxy"]),
    )


def compare(
    metric: ExperimentMetric,
    control: dict[str, Any],
    variant: dict[str, Any],
    *,
    intervals: bool = True,
) -> ComparisonResult:
    """The engine's comparison of variant vs control on `metric`."""
    from experiments.stats.binary import analyze_binary
    from experiments.stats.continuous import analyze_mean
    from experiments.stats.nps import analyze_nps
    from experiments.stats.ratio import analyze_ratio

    a, b = engine_input(metric, control), engine_input(metric, variant)
    lower = metric.lower_is_better
    if metric.family == "nps":
        return analyze_nps(a, b, intervals=intervals)
    if metric.family == "binary":
        return analyze_binary(a, b, lower_is_better=lower, intervals=intervals)
    if metric.family == "mean":
        return analyze_mean(a, b, lower_is_better=lower, intervals=intervals)
    return analyze_ratio(a, b, lower_is_better=lower, intervals=intervals)


def covariate_input(metric: ExperimentMetric, row: dict[str, Any]) -> CovariateStats | None:
    """Per-arm sums of the metric and its pre-period value, for CUPED (binary / mean only).

    Ratio metrics would need CUPED on the delta-method linearisation, which the engine does
    not offer; they are reported without CUPED.
    """
    if not metric.cuped or metric.family not in ("binary", "mean"):
        return None
    m = metric.name
    return CovariateStats(
        n=int(row["n"]),
        sum_y=float(row[f"{m}__sx"]),
        sum_y2=float(row[f"{m}__sxx"]),
        sum_x=float(row[f"{m}__spx"]),
        sum_x2=float(row[f"{m}__spxpx"]),
        sum_xy=float(row[f"{m}__sxpx"]),
    )


# -- results -------------------------------------------------------------------------------
@dataclass
class MetricReadout:
    metric: str
    label: str
    family: str
    role: str  # primary | guardrail
    lower_is_better: bool
    result: ComparisonResult
    tolerance: float | None = None
    guardrail: Any = None  # engine GuardrailResult
    cuped: Any = None  # engine CUPED result (ComparisonResult-like) or None
    cuped_variance_reduction: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {
            "metric": self.metric,
            "label": self.label,
            "family": self.family,
            "role": self.role,
            "lower_is_better": self.lower_is_better,
            "result": self.result.to_dict(),
            "tolerance": self.tolerance,
            "guardrail": self.guardrail.to_dict() if self.guardrail is not None else None,
        }
        if self.role == "primary":
            d["cuped"] = _to_dict(self.cuped)
            d["cuped_variance_reduction"] = self.cuped_variance_reduction
        return d


def _to_dict(obj: Any) -> Any:
    if obj is None:
        return None
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return obj


@dataclass
class Readout:
    experiment: Experiment
    window: dict[str, Any]
    control: str
    variant: str
    n_by_variant: dict[str, int]
    srm: Any
    primary: MetricReadout
    guardrails: list[MetricReadout]
    decision: Any
    cumulative: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    posterior: dict[str, Any] = field(default_factory=dict)

    @property
    def prob_variant_better(self) -> float:
        return self.primary.result.prob_variant_better

    def metric_rows(self) -> list[dict[str, Any]]:
        """One row per metric (primary, then guardrails) for tables: values, lift, verdict."""
        rows = []
        for m in (self.primary, *self.guardrails):
            res, g = m.result, m.guardrail
            rows.append(
                {
                    "role": m.role,
                    "metric": m.label,
                    self.control: res.control.mean,
                    self.variant: res.variant.mean,
                    "lift": res.absolute_lift.mean,
                    "ci_low": res.absolute_lift.ci_low,
                    "ci_high": res.absolute_lift.ci_high,
                    "P(better)": res.prob_variant_better,
                    "tolerance": m.tolerance,
                    "P(harm beyond tolerance)": g.prob_worse if g is not None else None,
                    "guardrail": "" if g is None else ("holds" if g.passed else "not shown safe"),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment.to_dict(),
            "window": self.window,
            "control": self.control,
            "variant": self.variant,
            "n_by_variant": self.n_by_variant,
            "srm": _to_dict(self.srm),
            "primary": self.primary.to_dict(),
            "guardrails": [g.to_dict() for g in self.guardrails],
            "decision": _to_dict(self.decision),
            "cumulative": self.cumulative,
            "messages": self.messages,
            "posterior": self.posterior,
        }


# -- analysis ------------------------------------------------------------------------------
def _window(store: Store, exp: Experiment) -> Window:
    return Window.from_dates(exp.start_date, exp.end_date)


def _rows(df: pl.DataFrame, grouping: str) -> pl.DataFrame:
    return df.filter(pl.col("grouping") == grouping)


def _arm(df: pl.DataFrame, variant: str) -> dict[str, Any] | None:
    rows = df.filter(pl.col("variant") == variant).to_dicts()
    return rows[0] if rows else None


def _zero_row(df: pl.DataFrame, variant: str) -> dict[str, Any]:
    row = {c: 0.0 for c in df.columns if "__" in c}
    return row | {"n": 0, "variant": variant}


def analyze(
    store: Store,
    experiment_id: str,
    *,
    variant: str | None = None,
    cuped: bool = True,
    cumulative: bool = True,
) -> Readout:
    """The full readout of one experiment (variant defaults to the first non-control arm)."""
    from experiments.stats import decide, guardrail_check, srm_check

    exp = get_experiment(store, experiment_id)
    control = exp.control
    variant = variant or exp.variants[1]
    if variant not in exp.variants[1:]:
        raise ReadoutError(
            f"variant {variant!r} is not a treatment arm of {experiment_id}; expected one of "
            f"{', '.join(exp.variants[1:])}"
        )
    primary = get_metric(exp.primary_metric)
    # Only the primary metric is CUPED-adjusted: the guardrails need no pre-period sums.
    guards = [(replace(get_metric(g.metric), cuped=False), g) for g in exp.guardrails]
    metrics = [primary] + [m for m, _ in guards]
    window = _window(store, exp)
    df = query_stats(store, experiment_id, metrics, window, by_day=cumulative, cuped=cuped)
    overall = _rows(df, "all")
    if overall.is_empty():
        raise ReadoutError(
            f"experiment {experiment_id!r} has no assignments in its window "
            f"({exp.start_date or 'open'} to {exp.end_date or 'open'})"
        )
    messages: list[str] = []
    n_by_variant = {v: 0 for v in exp.variants}
    for r in overall.to_dicts():
        if r["variant"] in n_by_variant:
            n_by_variant[r["variant"]] = int(r["n"])
        else:
            messages.append(
                f"{int(r['n'])} units are assigned to {r['variant']!r}, which is not a variant "
                "of the plan; they are left out"
            )
    srm = srm_check([n_by_variant[v] for v in exp.variants], list(exp.split))
    c_row = _arm(overall, control) or _zero_row(df, control)
    v_row = _arm(overall, variant) or _zero_row(df, variant)

    p_result = compare(primary, c_row, v_row)
    p_read = MetricReadout(
        primary.name,
        primary.display_label,
        primary.family,
        "primary",
        primary.lower_is_better,
        p_result,
    )
    if cuped:
        p_read.cuped, p_read.cuped_variance_reduction = _cuped(primary, c_row, v_row)
    g_reads = []
    for metric, tol in guards:
        res = compare(metric, c_row, v_row)
        verdict = guardrail_check(
            engine_input(metric, c_row),
            engine_input(metric, v_row),
            tolerance=tol.tolerance,
            relative=tol.relative,
            lower_is_better=metric.lower_is_better,
            name=metric.name,
        )
        g_reads.append(
            MetricReadout(
                metric.name,
                metric.display_label,
                metric.family,
                "guardrail",
                metric.lower_is_better,
                res,
                tolerance=tol.tolerance,
                guardrail=verdict,
            )
        )
    decision_input = p_read.cuped if p_read.cuped is not None else p_result
    decision = decide(decision_input, guardrails=[g.guardrail for g in g_reads], srm=srm)
    series = _cumulative(primary, _rows(df, "day"), control, variant) if cumulative else []
    posterior = posterior_curves(primary, c_row, v_row)
    return Readout(
        experiment=exp,
        window={
            "start": window.start.date().isoformat() if exp.start_date else None,
            "end": exp.end_date.isoformat() if exp.end_date else None,
        },
        control=control,
        variant=variant,
        n_by_variant=n_by_variant,
        srm=srm,
        primary=p_read,
        guardrails=g_reads,
        decision=decision,
        cumulative=series,
        messages=messages,
        posterior=posterior,
    )


def posterior_curves(
    metric: ExperimentMetric, c_row: dict, v_row: dict, points: int = 121
) -> dict[str, Any]:
    """Densities of each arm's posterior and of the lift: the engine's curves as plain lists.

    experiments.stats.curves draws them (also for the calculator page); {} when an arm has
    no posterior density to draw.
    """
    from experiments.stats.curves import posterior_curves as engine_curves

    try:
        c = engine_curves(engine_input(metric, c_row), engine_input(metric, v_row), points=points)
    except (ValueError, TypeError):
        return {}
    if c is None or not all(math.isfinite(v) for v in (*c.x, *c.lift_x)):
        return {}
    return {
        "x": list(c.x),
        "control": list(c.control),
        "variant": list(c.variant),
        "lift_x": list(c.lift_x),
        "lift": list(c.lift),
    }


def _cuped(metric: ExperimentMetric, c_row: dict, v_row: dict) -> tuple[Any, float | None]:
    """The engine's CUPED-adjusted comparison and the share of variance it removed.

    The reduction is 1 − (Var(Y') pooled over arms) / (Var(Y) pooled), read from the engine's
    adjusted and unadjusted MeanStats.
    """
    from experiments.stats import analyze_mean, cuped

    a, b = covariate_input(metric, c_row), covariate_input(metric, v_row)
    if a is None or b is None or a.n < 3 or b.n < 3:
        return None, None
    adj_c, adj_v, _theta = cuped(a, b)
    result = analyze_mean(adj_c, adj_v, lower_is_better=metric.lower_is_better)
    raw = [MeanStats(s.n, s.sum_y, s.sum_y2) for s in (a, b)]
    before = sum(r.variance * (r.n - 1) for r in raw)
    after = sum(r.variance * (r.n - 1) for r in (adj_c, adj_v))
    reduction = 1 - after / before if before > 0 else None
    return result, reduction


def _cumulative(
    metric: ExperimentMetric, days: pl.DataFrame, control: str, variant: str
) -> list[dict[str, Any]]:
    """P(better) and the lift interval for units assigned up to each day (sums are additive)."""
    if days.is_empty():
        return []
    value_cols = ["n"] + columns(metric, cuped=False)
    wide = (
        days.filter(pl.col("variant").is_in([control, variant]))
        .select(["variant", "day", *value_cols])
        .sort("day")
    )
    all_days = wide.select("day").unique().sort("day")
    out = []
    acc = {v: {c: 0.0 for c in value_cols} for v in (control, variant)}
    by_day = {(r["variant"], r["day"]): r for r in wide.to_dicts()}
    for (day,) in all_days.iter_rows():
        for v in (control, variant):
            r = by_day.get((v, day))
            if r:
                for c in value_cols:
                    acc[v][c] += float(r[c] or 0)
        c_row, v_row = acc[control], acc[variant]
        try:
            res = compare(metric, c_row, v_row)
        except ValueError:
            continue
        out.append(
            {
                "day": day.isoformat() if isinstance(day, date) else str(day),
                "n_control": int(c_row["n"]),
                "n_variant": int(v_row["n"]),
                "prob_variant_better": res.prob_variant_better,
                "lift": res.absolute_lift.mean,
                "ci_low": res.absolute_lift.ci_low,
                "ci_high": res.absolute_lift.ci_high,
                "relative_lift": res.relative_lift.mean,
            }
        )
    return out


# Two-sided 95 % normal quantile: reads a segment's interval back as a standard error.
Z95 = 1.959963984540054


@dataclass(frozen=True)
class SegmentEstimate:
    """One segment's unpooled lift (variant − control, metric units) from the engine."""

    dimension: str
    level: str
    n_control: int
    n_variant: int
    lift: float
    ci_low: float
    ci_high: float
    prob_variant_better: float

    @property
    def se(self) -> float:
        # The engine's 95 % interval, read back as a normal standard error.
        return (self.ci_high - self.ci_low) / (2 * Z95)

    @property
    def usable(self) -> bool:
        return all(math.isfinite(v) for v in (self.lift, self.ci_low, self.ci_high)) and self.se > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"se": self.se}


def segment_comparisons(
    store: Store,
    experiment_id: str,
    *,
    metric: str | None = None,
    dims: Sequence[str] = SEGMENT_DIMS,
    variant: str | None = None,
) -> list[SegmentEstimate]:
    """Unpooled lift per segment level of each dimension (engine comparison per segment)."""
    exp = get_experiment(store, experiment_id)
    m = get_metric(metric or exp.primary_metric)
    control, variant = exp.control, variant or exp.variants[1]
    df = query_stats(
        store,
        experiment_id,
        [m],
        _window(store, exp),
        by_day=False,
        segments=tuple(dims),
        cuped=False,
    )
    out = []
    for dim in dims:
        part = _rows(df, dim)
        levels = sorted({r for r in part["level"].to_list() if r is not None})
        for level in levels:
            rows = part.filter(pl.col("level") == level)
            c_row = _arm(rows, control) or _zero_row(df, control)
            v_row = _arm(rows, variant) or _zero_row(df, variant)
            try:
                res = compare(m, c_row, v_row)
            except ValueError:
                continue
            out.append(
                SegmentEstimate(
                    dimension=dim,
                    level=str(level),
                    n_control=int(c_row["n"]),
                    n_variant=int(v_row["n"]),
                    lift=_f(res.absolute_lift.mean),
                    ci_low=_f(res.absolute_lift.ci_low),
                    ci_high=_f(res.absolute_lift.ci_high),
                    prob_variant_better=_f(res.prob_variant_better),
                )
            )
    return out


def _f(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan
