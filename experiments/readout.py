"""Read an experiment out of the store: sufficient statistics in DuckDB, inference by the engine.

`analyze(store, experiment_id)` runs the aggregate queries of experiments.readout_sql and
feeds their sums to the engine (experiments.stats): the primary metric, each guardrail's
non-inferiority verdict, the sample-ratio check, CUPED on the primary metric, the
decision with its reasons, and P(better) / the lift interval cumulated by assignment day.
The decision is peeking-safe (experiments.stats.sequential): every day of the cumulative
series counts as a look, the information fraction is the effective units per arm over the
plan's (planned_n split by the plan's shares), and each day carries the sequential interval
and the rule that set it. analysis="fixed" (argument, or "analysis" in the stored plan)
reads the experiment out as one pre-registered look.
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
from experiments.readout_sql import (
    SEGMENT_DIMS,
    Window,
    columns,
    query_point_in_time,
    query_stats,
)
from experiments.registry import Experiment, get_experiment
from experiments.stats.inputs import (
    BinaryStats,
    CategoryCounts,
    CovariateStats,
    MeanStats,
    RatioStats,
)
from experiments.stats.results import ComparisonResult
from experiments.stats.sequential import (
    FIXED,
    SEQUENTIAL,
    SequentialLook,
    effective_n,
    estimate_and_se,
    sequential_look,
    ship_alpha,
    stop_alpha,
)
from metrics.settings import load_settings
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


def covariate_input(
    metric: ExperimentMetric, row: dict[str, Any], new: dict[str, Any] | None = None
) -> CovariateStats | None:
    """Per-arm sums of the metric and its pre-period value, for CUPED (binary / mean only).

    new: the same arm's sums over its units without a full pre-period (new customers), which
    become the missing-pre-period indicator's sums (Σm, Σm·y, Σm·x).
    Ratio metrics would need CUPED on the delta-method linearisation, which the engine does
    not offer; they are reported without CUPED.
    """
    if not metric.cuped or metric.family not in ("binary", "mean"):
        return None
    m = metric.name
    extra = {}
    if new is not None and int(new.get("n") or 0) > 0:
        extra = dict(
            sum_m=float(new["n"]),
            sum_my=float(new[f"{m}__sx"]),
            sum_mx=float(new[f"{m}__spx"]),
        )
    return CovariateStats(
        n=int(row["n"]),
        sum_y=float(row[f"{m}__sx"]),
        sum_y2=float(row[f"{m}__sxx"]),
        sum_x=float(row[f"{m}__spx"]),
        sum_x2=float(row[f"{m}__spxpx"]),
        sum_xy=float(row[f"{m}__sxpx"]),
        **extra,
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
    sequential: SequentialLook | None = None  # the peeking-safe test at this look

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
            "sequential": self.sequential.to_dict() if self.sequential is not None else None,
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
    analysis: str = SEQUENTIAL
    planned_n_per_arm: float | None = None  # effective units per arm the plan expects
    information_basis: str | None = None  # "units" (planned_n), "days" (planned dates), None

    @property
    def rule(self) -> str | None:
        """Which rule decided: O'Brien–Fleming, confidence sequence or single look."""
        s = self.primary.sequential
        return s.rule if s is not None else None

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
            "analysis": self.analysis,
            "rule": self.rule,
            "planned_n_per_arm": self.planned_n_per_arm,
            "information_basis": self.information_basis,
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


def planned_per_arm(exp: Experiment, control: str, variant: str) -> float | None:
    """Effective units per arm the plan expects for control vs variant (None without a plan).

    The registry's planned_n counts every arm; each arm's share comes from the plan's split.
    """
    if not exp.planned_n:
        return None
    total = sum(exp.split)
    share = dict(zip(exp.variants, exp.split, strict=True))
    return effective_n(
        exp.planned_n * share[control] / total, exp.planned_n * share[variant] / total
    )


def _look(
    stats: tuple[Any, Any] | None,
    n_history: Sequence[float],
    *,
    planned: float | None,
    lower_is_better: bool,
    analysis: str,
    alpha: float,
    alpha_worse: float,
) -> SequentialLook | None:
    """The engine's sequential test of (control, variant) stats, or None without an estimate."""
    if stats is None or not n_history or n_history[-1] <= 0:
        return None
    try:
        est, se = estimate_and_se(*stats)
    except (ValueError, TypeError):
        return None
    if not (math.isfinite(est) and math.isfinite(se)):
        return None
    return sequential_look(
        est,
        se,
        n_history,
        planned_n=planned,
        alpha=alpha,
        alpha_worse=alpha_worse,
        lower_is_better=lower_is_better,
        analysis=analysis,
    )


def analyze(
    store: Store,
    experiment_id: str,
    *,
    variant: str | None = None,
    cuped: bool = True,
    cumulative: bool = True,
    analysis: str | None = None,
) -> Readout:
    """The full readout of one experiment (variant defaults to the first non-control arm).

    analysis: "sequential" (default: every day a look, O'Brien–Fleming within the plan,
    confidence sequence beyond it or without one) or "fixed" (one pre-registered look);
    None reads "analysis" from the stored plan.
    """
    from experiments.stats import decide, guardrail_check, srm_check

    exp = get_experiment(store, experiment_id)
    analysis = analysis or str(exp.plan.get("analysis") or SEQUENTIAL)
    if analysis not in (SEQUENTIAL, FIXED):
        raise ReadoutError(
            f"analysis {analysis!r} is not known; expected {SEQUENTIAL!r} or {FIXED!r}"
        )
    control = exp.control
    variant = variant or exp.variants[1]
    if variant not in exp.variants[1:]:
        raise ReadoutError(
            f"variant {variant!r} is not a treatment arm of {experiment_id}; expected one of "
            f"{', '.join(exp.variants[1:])}"
        )
    # Read under the settings in force, as the KPIs are (CES as agreement: higher is better).
    settings = load_settings(store)
    primary = get_metric(exp.primary_metric, settings)
    # Only the primary metric is CUPED-adjusted: the guardrails need no pre-period sums.
    guards = [(replace(get_metric(g.metric, settings), cuped=False), g) for g in exp.guardrails]
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

    planned = planned_per_arm(exp, control, variant)
    # Without a planned sample size the plan's duration sets the information fraction: look k
    # on day d of D planned days is at t = d/D (calendar-time spending, Lan & DeMets 1983).
    start = None
    basis = "units" if planned is not None else None
    if planned is None and exp.start_date and exp.end_date and cumulative:
        start, planned = exp.start_date, float((exp.end_date - exp.start_date).days + 1)
        basis = "days"
    # Multiplicity: shipping is tested per treatment arm at α/(arms − 1); the stop tests
    # (primary worse, each guardrail harmed) share α by Bonferroni.
    alpha = ship_alpha(len(exp.variants) - 1)
    alpha_worse = stop_alpha(len(guards))
    series = (
        _cumulative(
            primary,
            _rows(df, "day"),
            control,
            variant,
            planned=planned,
            analysis=analysis,
            alpha=alpha,
            alpha_worse=alpha_worse,
            increments=query_point_in_time(store, experiment_id, [primary], window),
            start=start,
        )
        if cumulative
        else []
    )
    n_now = effective_n(int(c_row["n"]), int(v_row["n"]))
    if start is not None and series:
        n_history = [d["clock"] for d in series]
        if analysis != SEQUENTIAL:
            n_history = n_history[-1:]
    else:
        if start is not None:  # no series to clock the looks: no plan to use
            planned, basis = None, None
        n_history = [d["n_effective"] for d in series] if analysis == SEQUENTIAL else []
        if not n_history or n_history[-1] != n_now:
            n_history.append(n_now)
    look_kw: dict[str, Any] = dict(
        planned=planned, analysis=analysis, alpha=alpha, alpha_worse=alpha_worse
    )

    p_result = compare(primary, c_row, v_row)
    p_read = MetricReadout(
        primary.name,
        primary.display_label,
        primary.family,
        "primary",
        primary.lower_is_better,
        p_result,
    )
    adjusted = None
    if cuped:
        new_rows: tuple[Any, Any] = (None, None)
        if primary.cuped and primary.family in ("binary", "mean"):
            new_df = query_stats(
                store, experiment_id, [primary], window, by_day=False, new_units_only=True
            )
            new_rows = (_arm(new_df, control), _arm(new_df, variant))
        p_read.cuped, p_read.cuped_variance_reduction, adjusted = _cuped(
            primary, c_row, v_row, new_rows
        )
    raw_stats = _stats_pair(primary, c_row, v_row)
    p_read.sequential = _look(
        adjusted if p_read.cuped is not None else raw_stats,
        n_history,
        lower_is_better=primary.lower_is_better,
        **look_kw,
    )
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
                sequential=_look(
                    _stats_pair(metric, c_row, v_row),
                    n_history,
                    lower_is_better=metric.lower_is_better,
                    **look_kw,
                ),
            )
        )
    decision_input = p_read.cuped if p_read.cuped is not None else p_result
    if p_read.sequential is None:
        decision = decide(decision_input, guardrails=[g.guardrail for g in g_reads], srm=srm)
    else:
        decision = decide(
            decision_input,
            guardrails=[g.guardrail for g in g_reads],
            srm=srm,
            sequential=p_read.sequential,
            guardrail_looks=[g.sequential for g in g_reads],
            mde=exp.mde,
        )
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
        analysis=analysis,
        planned_n_per_arm=planned if basis == "units" else None,
        information_basis=basis,
    )


def _stats_pair(metric: ExperimentMetric, c_row: dict, v_row: dict) -> tuple[Any, Any] | None:
    try:
        return engine_input(metric, c_row), engine_input(metric, v_row)
    except (ValueError, KeyError):
        return None


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


def _cuped(
    metric: ExperimentMetric,
    c_row: dict,
    v_row: dict,
    new_rows: tuple[Any, Any] = (None, None),
) -> tuple[Any, float | None, tuple[MeanStats, MeanStats] | None]:
    """The engine's CUPED-adjusted comparison, the share of variance it removed, the stats.

    The reduction is 1 − (Var(Y') pooled over arms) / (Var(Y) pooled), read from the engine's
    adjusted and unadjusted MeanStats.
    """
    from experiments.stats import analyze_mean, cuped

    a = covariate_input(metric, c_row, new_rows[0])
    b = covariate_input(metric, v_row, new_rows[1])
    if a is None or b is None or a.n < 3 or b.n < 3:
        return None, None, None
    adj_c, adj_v, _theta = cuped(a, b)
    result = analyze_mean(adj_c, adj_v, lower_is_better=metric.lower_is_better)
    raw = [MeanStats(s.n, s.sum_y, s.sum_y2) for s in (a, b)]
    before = sum(r.variance * (r.n - 1) for r in raw)
    after = sum(r.variance * (r.n - 1) for r in (adj_c, adj_v))
    reduction = 1 - after / before if before > 0 else None
    return result, reduction, (adj_c, adj_v)


def _cumulative(
    metric: ExperimentMetric,
    days: pl.DataFrame,
    control: str,
    variant: str,
    *,
    planned: float | None = None,
    analysis: str = SEQUENTIAL,
    alpha: float = 0.05,
    alpha_worse: float = 0.05,
    increments: pl.DataFrame | None = None,
    start: date | None = None,
) -> list[dict[str, Any]]:
    """Per day, P(better), the lift interval and the sequential test as they stood that day.

    With `increments` (readout_sql.query_point_in_time) the series is point in time: day D
    counts the units assigned by D with the outcomes observed by D. Without, units assigned
    by D with all their outcomes to date (sums are additive over assignment days).
    With `start` the looks are clocked in days since start (1 on the first day), `planned`
    then being the planned days; otherwise in effective units per arm. Each day is a look: seq_ci_low / seq_ci_high are
    the sequential interval at that look's boundary (rule names the boundary), so a chart of
    the series shows what the decision rule saw on each day.
    """
    if days.is_empty():
        return []
    metric_cols = columns(metric, cuped=False)
    value_cols = ["n", *metric_cols]
    arms = [control, variant]
    if increments is None:
        wide = days.filter(pl.col("variant").is_in(arms)).select(["variant", "day", *value_cols])
    else:
        # Point in time: units counted on their assignment day, outcomes on the day observed.
        units = days.filter(pl.col("variant").is_in(arms)).select(
            "variant", "day", pl.col("n").cast(pl.Float64)
        )
        inc = increments.filter(pl.col("variant").is_in(arms))
        missing = [c for c in metric_cols if c not in inc.columns]
        inc = inc.with_columns([pl.lit(0.0).alias(c) for c in missing]).select(
            ["variant", "day", *metric_cols]
        )
        wide = units.join(inc, on=["variant", "day"], how="full", coalesce=True).with_columns(
            [pl.col(c).fill_null(0.0) for c in value_cols]
        )
    wide = wide.sort("day")
    all_days = wide.select("day").unique().sort("day")
    out = []
    acc = {v: {c: 0.0 for c in value_cols} for v in (control, variant)}
    by_day = {(r["variant"], r["day"]): r for r in wide.to_dicts()}
    history: list[float] = []
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
        n_eff = effective_n(c_row["n"], v_row["n"])
        clock = float((day - start).days + 1) if start is not None else n_eff
        if clock <= 0 or (history and clock <= history[-1]):
            clock = history[-1] if history else n_eff
        history.append(clock)
        look = (
            _look(
                _stats_pair(metric, c_row, v_row),
                history if analysis == SEQUENTIAL else [clock],
                planned=planned,
                lower_is_better=metric.lower_is_better,
                analysis=analysis,
                alpha=alpha,
                alpha_worse=alpha_worse,
            )
            if n_eff > 0
            else None
        )
        out.append(
            {
                "day": day.isoformat() if isinstance(day, date) else str(day),
                "n_control": int(c_row["n"]),
                "n_variant": int(v_row["n"]),
                "n_effective": n_eff,
                "clock": clock,
                "prob_variant_better": res.prob_variant_better,
                "lift": res.absolute_lift.mean,
                "ci_low": res.absolute_lift.ci_low,
                "ci_high": res.absolute_lift.ci_high,
                "relative_lift": res.relative_lift.mean,
                "seq_ci_low": look.ci_low if look else math.nan,
                "seq_ci_high": look.ci_high if look else math.nan,
                "rule": look.rule if look else None,
                "information": look.information if look else None,
                "boundary": look.boundary if look else math.nan,
                "z": look.z if look else math.nan,
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
    m = get_metric(metric or exp.primary_metric, load_settings(store))
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
