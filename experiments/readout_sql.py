"""SQL that turns an experiment's assignments and outcomes into sufficient statistics.

Only aggregates leave the database: per variant (and per assignment day, per segment) the
unit count and, for each metric, the sums, sums of squares and cross-products the engine
needs, plus the same for the pre-assignment value of the metric (CUPED covariate).

Each unit's outcomes are the events observed at or after its own `assigned_at` and before
the end of the experiment window; its pre-period is the PRE_PERIOD_DAYS before assignment.
The SQL is portable (explicit GROUP BY lists, CASE inside aggregates, GROUPING SETS,
window functions) so that it transpiles to Spark SQL with sqlglot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import polars as pl

from experiments.metric_defs import PRE_PERIOD_DAYS, REPEAT_COLUMNS, ExperimentMetric
from metrics.catalogue import NPS_DETRACTOR_MAX, NPS_PROMOTER_MIN
from metrics.engine import engine_for
from metrics.settings import KpiSettings, load_settings
from metrics.store import Store

SEGMENT_DIMS: tuple[str, ...] = ("channel", "segment", "age_band")
# Time column of each event source.
_TIME = {"contacts": "opened_at", "surveys": "answered_at"}
_ALIAS = {"contacts": "c", "surveys": "s"}

# The far past and far future stand in for an open window, so the SQL has one shape.
# The end stays before 2262-04-11, the last instant of nanosecond timestamps (pandas,
# which Spark client paths such as toPandas/createDataFrame(pandas) go through).
OPEN_START = datetime(1900, 1, 1)
OPEN_END = datetime(2200, 1, 1)
_ZERO, _ONE = "CAST(0 AS DOUBLE)", "CAST(1 AS DOUBLE)"
# The catalogue's default FCR window (metrics.settings.KpiSettings), in seconds.
DEFAULT_FCR_WINDOW_S = float(KpiSettings().sql_params()["fcr_window_s"])


def _fcr_window_s(store: Store) -> float:
    """The store's fcr_window_days setting in seconds: the catalogue's $fcr_window_s."""
    return float(load_settings(store).sql_params()["fcr_window_s"])


@dataclass(frozen=True)
class Window:
    """The experiment's window: units assigned and outcomes observed in [start, end)."""

    start: datetime = OPEN_START
    end: datetime = OPEN_END

    @classmethod
    def from_dates(cls, start: date | None, end: date | None) -> Window:
        # end_date is the last day of the experiment, so the window ends the day after.
        return cls(
            datetime.combine(start, datetime.min.time()) if start else OPEN_START,
            datetime.combine(end + timedelta(days=1), datetime.min.time()) if end else OPEN_END,
        )


def columns(metric: ExperimentMetric, *, cuped: bool = True) -> list[str]:
    """Names of the per-group aggregate columns the readout query returns for `metric`."""
    m = metric.name
    if metric.family == "nps":
        return [f"{m}__promoters", f"{m}__passives", f"{m}__detractors"]
    if metric.family == "ratio":
        cols = [f"{m}__sx", f"{m}__sy", f"{m}__sxx", f"{m}__syy", f"{m}__sxy"]
        if cuped and metric.cuped:
            cols += [
                f"{m}__spx",
                f"{m}__spy",
                f"{m}__spxpx",
                f"{m}__spypy",
                f"{m}__spxpy",
                f"{m}__sxpx",
                f"{m}__sxpy",
                f"{m}__sypx",
                f"{m}__sypy",
            ]
        return cols
    cols = [f"{m}__sx", f"{m}__sxx"]
    if cuped and metric.cuped:
        cols += [f"{m}__spx", f"{m}__spxpx", f"{m}__sxpx"]
    return cols


def _event_values(metric: ExperimentMetric) -> list[tuple[str, str]]:
    """(name, expression) of the metric's per-event values, as DOUBLE over the source row.

    The metric's `where` is folded in (an event it does not count is worth 0), so the join
    and the per-unit sums only need the event time and these values. DOUBLE on purpose:
    a literal 1.0 is a DECIMAL in DuckDB, and SUM over DECIMAL or INTEGER accumulates in
    128-bit integers, which measured slower over 1M units (benchmarks/readout.py); counts
    and sums of 0/1 stay exact in a double up to 2^53.
    """
    m, where = metric.name, metric.where
    if metric.family == "nps":
        x = metric.numerator
        cuts = {
            "p": f"{x} >= {NPS_PROMOTER_MIN}",
            "pa": f"{x} BETWEEN {NPS_DETRACTOR_MAX + 1} AND {NPS_PROMOTER_MIN - 1}",
            "d": f"{x} <= {NPS_DETRACTOR_MAX}",
        }
        return [
            (f"{m}__ev_{k}", f"CASE WHEN ({where}) AND {cond} THEN {_ONE} ELSE {_ZERO} END")
            for k, cond in cuts.items()
        ]
    out = [
        (
            f"{m}__ev_x",
            f"CASE WHEN ({where}) THEN CAST(COALESCE({metric.numerator}, 0) AS DOUBLE) "
            f"ELSE {_ZERO} END",
        )
    ]
    if metric.family == "ratio":
        out.append(
            (
                f"{m}__ev_y",
                f"CASE WHEN ({where}) THEN CAST(COALESCE({metric.denominator}, 0) AS DOUBLE) "
                f"ELSE {_ZERO} END",
            )
        )
    return out


def _unit_sums(metric: ExperimentMetric) -> list[str]:
    """Per-unit sums of the metric's event values: post-assignment (and pre-period)."""
    m, post, pre = metric.name, "e.event_at >= a.assigned_at", "e.event_at < a.assigned_at"
    if metric.family == "nps":
        return [
            f"SUM(CASE WHEN {post} THEN e.{m}__ev_{k} ELSE {_ZERO} END) AS {m}__{k}"
            for k in ("p", "pa", "d")
        ]
    keys = ["x", "y"] if metric.family == "ratio" else ["x"]
    out = [f"SUM(CASE WHEN {post} THEN e.{m}__ev_{k} ELSE {_ZERO} END) AS {m}__{k}" for k in keys]
    if metric.cuped:
        out += [
            f"SUM(CASE WHEN {pre} THEN e.{m}__ev_{k} ELSE {_ZERO} END) AS {m}__p{k}" for k in keys
        ]
    return out


def _aggregates(metric: ExperimentMetric, *, cuped: bool) -> list[str]:
    m = metric.name
    if metric.family == "nps":
        return [
            f"SUM({m}__p) AS {m}__promoters",
            f"SUM({m}__pa) AS {m}__passives",
            f"SUM({m}__d) AS {m}__detractors",
        ]
    out = [f"SUM({m}__x) AS {m}__sx"]
    if metric.family == "ratio":
        out += [
            f"SUM({m}__y) AS {m}__sy",
            f"SUM({m}__x * {m}__x) AS {m}__sxx",
            f"SUM({m}__y * {m}__y) AS {m}__syy",
            f"SUM({m}__x * {m}__y) AS {m}__sxy",
        ]
        if cuped and metric.cuped:
            out += [
                f"SUM({m}__px) AS {m}__spx",
                f"SUM({m}__py) AS {m}__spy",
                f"SUM({m}__px * {m}__px) AS {m}__spxpx",
                f"SUM({m}__py * {m}__py) AS {m}__spypy",
                f"SUM({m}__px * {m}__py) AS {m}__spxpy",
                f"SUM({m}__x * {m}__px) AS {m}__sxpx",
                f"SUM({m}__x * {m}__py) AS {m}__sxpy",
                f"SUM({m}__y * {m}__px) AS {m}__sypx",
                f"SUM({m}__y * {m}__py) AS {m}__sypy",
            ]
        return out
    out.append(f"SUM({m}__x * {m}__x) AS {m}__sxx")
    if cuped and metric.cuped:
        out += [
            f"SUM({m}__px) AS {m}__spx",
            f"SUM({m}__px * {m}__px) AS {m}__spxpx",
            f"SUM({m}__x * {m}__px) AS {m}__sxpx",
        ]
    return out


def _grouping(by_day: bool, segments: Sequence[str]) -> tuple[str, str]:
    """SELECT list of the group columns and the GROUP BY clause.

    Per day without segments is a plain GROUP BY variant, day: the per-arm totals are the
    sums of the days (sums are additive), added in `query_stats`, which is cheaper than a
    second grouping set over every unit.
    """
    if by_day and not segments:
        select = "'day' AS grouping, variant, assigned_day AS day, CAST(NULL AS VARCHAR) AS level"
        return select, "GROUP BY variant, assigned_day"
    sets = ["(variant)"]
    if by_day:
        sets.append("(variant, assigned_day)")
    sets += [f"(variant, seg_{d})" for d in segments]
    group_cols = ["assigned_day"] if by_day else []
    group_cols += [f"seg_{d}" for d in segments]
    grouping = "'all'"
    for col in reversed(group_cols):
        label = "day" if col == "assigned_day" else col.removeprefix("seg_")
        grouping = f"CASE WHEN GROUPING({col}) = 0 THEN '{label}' ELSE {grouping} END"
    level = "NULL"
    for col in reversed([f"seg_{d}" for d in segments]):
        level = f"CASE WHEN GROUPING({col}) = 0 THEN {col} ELSE {level} END"
    day = "assigned_day" if by_day else "CAST(NULL AS DATE)"
    select = f"{grouping} AS grouping, variant, {day} AS day, CAST({level} AS VARCHAR) AS level"
    return select, "GROUP BY GROUPING SETS (" + ", ".join(sets) + ")"


# A unit whose customer signed up within the pre-period before assignment has no (full)
# pre-period: CUPED gives such units their own intercept (missing-pre-period indicator).
_NEW_UNIT = (
    "EXISTS (SELECT 1 FROM customers k0 WHERE k0.customer_id = assignments.unit_id "
    f"AND k0.signup_date > CAST(assignments.assigned_at AS DATE) - INTERVAL {PRE_PERIOD_DAYS} DAY)"
)


def _units_cte(segments: Sequence[str], new_units_only: bool = False) -> list[str]:
    """The assigned units with their assignment day and (if asked) segment attributes.

    new_units_only: only units without a full pre-period (see _NEW_UNIT), for CUPED's
    missing-pre-period indicator.
    """
    seg_cols, joins, ctes = [], [], []
    dims_from_customers = [d for d in segments if d != "channel"]
    if dims_from_customers:
        joins.append("LEFT JOIN customers k ON k.customer_id = x.unit_id")
        seg_cols += [f"COALESCE(k.{d}, 'unknown') AS seg_{d}" for d in dims_from_customers]
    if "channel" in segments:
        # The unit's most used channel before assignment: a pre-treatment attribute, so the
        # treatment cannot move a unit between segments.
        ctes.append(
            "ch_n AS (SELECT x.unit_id, c.channel, COUNT(*) AS k FROM x "
            "JOIN contacts c ON c.customer_id = x.unit_id "
            f"WHERE c.opened_at < x.assigned_at AND c.opened_at >= x.assigned_at - INTERVAL "
            f"{PRE_PERIOD_DAYS} DAY GROUP BY x.unit_id, c.channel)"
        )
        ctes.append(
            "ch AS (SELECT unit_id, channel FROM (SELECT unit_id, channel, ROW_NUMBER() OVER "
            "(PARTITION BY unit_id ORDER BY k DESC, channel) AS r FROM ch_n) ranked "
            "WHERE r = 1)"
        )
        joins.append("LEFT JOIN ch ON ch.unit_id = x.unit_id")
        seg_cols.append("COALESCE(ch.channel, 'no prior contact') AS seg_channel")
    base = (
        "x AS (SELECT unit_id, variant, assigned_at, CAST(assigned_at AS DATE) AS assigned_day "
        "FROM assignments WHERE experiment_id = $experiment_id "
        "AND assigned_at >= $window_start AND assigned_at < $window_end"
        + (f" AND {_NEW_UNIT}" if new_units_only else "")
        + ")"
    )
    a = (
        "a AS (SELECT x.*"
        + "".join(f", {c}" for c in seg_cols)
        + " FROM x "
        + " ".join(joins)
        + ")"
    )
    return [base, *ctes, a]


def repeats_relation(
    units: str,
    lower: str,
    upper: str,
    fcr_window_s: float,
    needed: Sequence[str] = REPEAT_COLUMNS,
) -> str:
    """Contacts with the catalogue's repeat-check columns, as a parenthesised subquery.

    repeat_after / repeat_before: another contact by the same customer on the same issue
    type opened within `fcr_window_s` seconds after / before this one, ends included (the
    catalogue's definition, metrics/compiler.py `_repeats_cte`, there as a self-join). A
    RANGE frame over the contact's epoch counts the contacts in [t, t + N] (or [t − N, t]),
    itself and ties included, so "more than one" means another contact. Only contacts of
    `units` (a condition on customer_id) opened in [lower − N, upper + N) are read: the
    frame needs nothing further away from the events that count. The window is a number
    from the validated settings (a frame offset cannot be a bound parameter). Only the
    `needed` columns are computed (FCR reads repeat_after, the repeat rate repeat_before).
    """
    w = float(fcr_window_s)
    if not (w > 0 and w < 1e10):
        raise ValueError(f"the FCR window must be a positive number of seconds, got {w!r}")
    margin = math.ceil(w / 86400.0) + 1
    order = "PARTITION BY cc.customer_id, cc.issue_type ORDER BY EPOCH(cc.opened_at)"
    known = "cc.customer_id IS NOT NULL AND cc.issue_type IS NOT NULL"
    frames = {
        "repeat_after": f"CURRENT ROW AND {w!r} FOLLOWING",
        "repeat_before": f"{w!r} PRECEDING AND CURRENT ROW",
    }
    cols = "".join(
        f", {known} AND COUNT(*) OVER ({order} RANGE BETWEEN {frames[c]}) > 1 AS {c}"
        for c in REPEAT_COLUMNS
        if c in needed
    )
    return (
        f"(SELECT cc.*{cols} FROM contacts cc "
        f"WHERE {units} AND cc.opened_at >= {lower} - INTERVAL {margin} DAY "
        f"AND cc.opened_at < {upper} + INTERVAL {margin} DAY)"
    )


def _events_cte(
    source: str, ms: Sequence[ExperimentMetric], lower: str, fcr_window_s: float
) -> str:
    """`e`: the events of `source` in [lower, $window_end) of the units in `a`, reduced to
    what the sums need (unit, time, the metrics' values); contacts carry the catalogue's
    repeat-check columns when a metric needs them."""
    alias, time_col = _ALIAS[source], _TIME[source]
    table = source
    if any(m.needs_repeats for m in ms):
        table = repeats_relation(
            "cc.customer_id IN (SELECT unit_id FROM a)",
            lower,
            "$window_end",
            fcr_window_s,
            [c for m in ms for c in m.repeat_columns],
        )
    values = [f"{expr} AS {name}" for m in ms for name, expr in _event_values(m)]
    return (
        f"e AS (SELECT {alias}.customer_id, {alias}.{time_col} AS event_at, "
        f"{', '.join(values)} FROM {table} {alias} "
        f"WHERE {alias}.{time_col} >= {lower} AND {alias}.{time_col} < $window_end)"
    )


def readout_statements(
    metrics: Sequence[ExperimentMetric],
    *,
    by_day: bool = True,
    segments: Sequence[str] = (),
    cuped: bool = True,
    fcr_window_s: float = DEFAULT_FCR_WINDOW_S,
    new_units_only: bool = False,
) -> list[str]:
    """The readout as a few aggregate queries: one over the units, one per event source.

    A unit without events adds nothing to any sum, so each source is aggregated on its own
    (events -> per unit -> per group) and never joined back to all units; only the unit
    count n comes from the units query. (One query over contacts UNION ALL surveys was
    measured slower: every stacked row then updates every metric's per-unit sum.)
    Parameters: $experiment_id, $window_start, $window_end (timestamps, end exclusive).
    Every result has the columns grouping ("all", "day" or a segment dimension), variant,
    day, level; the units query adds n and the customer-level metrics' sums, each source
    query its metrics' `columns()`.
    """
    unknown = [d for d in segments if d not in SEGMENT_DIMS]
    if unknown:
        raise ValueError(f"unknown segment dimension(s) {unknown}; expected {SEGMENT_DIMS}")
    select, group_by = _grouping(by_day, segments)
    units = _units_cte(segments, new_units_only)
    # One group per unit; its variant, day and segments are grouped on too (functionally
    # dependent on the unit, and cheaper than carrying them as ANY_VALUE aggregates).
    carried = ["a.variant", "a.assigned_day"] + [f"a.seg_{d}" for d in segments]

    churn = [m for m in metrics if m.source == "customers"]
    unit_cols = []
    for m in churn:
        horizon = f"a.assigned_at + INTERVAL {m.horizon_days or 36500} DAY"
        unit_cols.append(
            f"CASE WHEN k2.churned_at >= a.assigned_day AND k2.churned_at < {horizon} "
            f"AND k2.churned_at < $window_end THEN {_ONE} ELSE {_ZERO} END AS {m.name}__x"
        )
    join = " LEFT JOIN customers k2 ON k2.customer_id = a.unit_id" if churn else ""
    statements = [
        "WITH " + ",\n".join(units) + ",\n"
        f"u AS (SELECT a.*{''.join(f', {c}' for c in unit_cols)} FROM a{join})\n"
        f"SELECT {select}, COUNT(*) AS n"
        + "".join(f", {agg}" for m in churn for agg in _aggregates(m, cuped=cuped))
        + f"\nFROM u {group_by}"
    ]
    event_metrics = [m for m in metrics if m.source in _TIME]
    if not event_metrics:
        return statements
    # With CUPED off no pre-period sum is returned, so none is computed.
    if not cuped:
        event_metrics = [replace(m, cuped=False) for m in event_metrics]
    for source in ("contacts", "surveys"):
        ms = [m for m in event_metrics if m.source == source]
        if not ms:
            continue
        pre = any(m.cuped for m in ms)
        # A constant bound on the scan as well, so it skips events far outside the window.
        const_lower = f"$window_start - INTERVAL {PRE_PERIOD_DAYS} DAY" if pre else "$window_start"
        lower = f"a.assigned_at - INTERVAL {PRE_PERIOD_DAYS} DAY" if pre else "a.assigned_at"
        events = _events_cte(source, ms, const_lower, fcr_window_s)
        sums = [s for m in ms for s in _unit_sums(m)]
        statements.append(
            "WITH " + ",\n".join([*units, events]) + ",\n"
            f"u AS (SELECT a.unit_id, {', '.join(carried)}, {', '.join(sums)} FROM a "
            f"JOIN e ON e.customer_id = a.unit_id WHERE e.event_at >= {lower} "
            f"GROUP BY a.unit_id, {', '.join(carried)})\n"
            f"SELECT {select}, "
            + ", ".join(agg for m in ms for agg in _aggregates(m, cuped=cuped))
            + f"\nFROM u {group_by}"
        )
    return statements


def readout_sql(
    metrics: Sequence[ExperimentMetric],
    *,
    by_day: bool = True,
    segments: Sequence[str] = (),
    cuped: bool = True,
    fcr_window_s: float = DEFAULT_FCR_WINDOW_S,
) -> str:
    """All readout statements as one script (for review and the Spark transpile test)."""
    statements = readout_statements(
        metrics, by_day=by_day, segments=segments, cuped=cuped, fcr_window_s=fcr_window_s
    )
    return ";\n".join(statements)


def query_stats(
    store: Store,
    experiment_id: str,
    metrics: Sequence[ExperimentMetric],
    window: Window,
    *,
    by_day: bool = True,
    segments: Sequence[str] = (),
    cuped: bool = True,
    new_units_only: bool = False,
) -> pl.DataFrame:
    """Run the readout query; one row per (grouping, variant, day/level) with its aggregates.

    The repeat check of FCR and the repeat-contact rate uses the store's fcr_window_days
    setting, as the catalogue does. new_units_only: the same sums over the units without a
    full pre-period only.
    """
    window_s = _fcr_window_s(store)
    statements = readout_statements(
        metrics,
        by_day=by_day,
        segments=segments,
        cuped=cuped,
        fcr_window_s=window_s,
        new_units_only=new_units_only,
    )
    run = _runner(store, experiment_id, window)
    keys = ["grouping", "variant", "day", "level"]
    frames = [run(sql) for sql in statements]
    df = frames[0]
    for part in frames[1:]:
        # Groups with no events are missing from a source's result: they add zeros.
        df = df.join(part, on=keys, how="left", nulls_equal=True)
    value_cols = [c for c in df.columns if "__" in c]
    df = df.with_columns([pl.col(c).cast(pl.Float64).fill_null(0.0) for c in value_cols])
    if by_day and not segments:
        totals = (
            df.group_by("variant")
            .agg(pl.col(["n", *value_cols]).sum())
            .with_columns(
                grouping=pl.lit("all"), day=pl.lit(None, pl.Date), level=pl.lit(None, pl.String)
            )
            .select(df.columns)
            .with_columns(pl.col("n").cast(df.schema["n"]))
        )
        df = pl.concat([totals, df])
    return df


def _runner(store: Store, experiment_id: str, window: Window) -> Callable[[str], pl.DataFrame]:
    """Runs one readout statement on the store's engine with the experiment's parameters."""
    params = {
        "experiment_id": experiment_id,
        "window_start": window.start,
        "window_end": window.end,
    }
    engine = engine_for(store)
    # Assignments live in the local store; a Spark engine receives this experiment's.
    uploads = {"assignments": lambda: _assignments(store, experiment_id)}
    return lambda sql: engine.query(sql, params, uploads=uploads)


def _assignments(store: Store, experiment_id: str) -> pl.DataFrame:
    """One experiment's assignments from the local store (what the readout joins with)."""
    return (
        store.cursor()
        .sql(
            "SELECT experiment_id, unit_id, variant, assigned_at FROM assignments "
            "WHERE experiment_id = $experiment_id",
            params={"experiment_id": experiment_id},
        )
        .pl()
    )


def _row(store: Store, sql: str, params: dict | None = None) -> tuple:
    """The one row of an aggregate fact-table query, run in the engine."""
    return engine_for(store).query(sql, params).row(0)


def eligible_units_per_day(store: Store, metric: ExperimentMetric, days: int = 28) -> dict:
    """Customers with an event the metric counts, per day, over the last `days` of data.

    Returns {"units": distinct customers, "days": days, "per_day": units / days,
    "from": first day, "to": last day}. The window ends at the source's latest event, so a
    store of historical data plans against its own traffic, not today's empty calendar.
    """
    source = metric.source if metric.source != "customers" else "contacts"
    time_col = _TIME[source]
    where = metric.where if metric.source == source else "TRUE"
    (last,) = _row(store, f"SELECT max({time_col}) AS last FROM {source}")
    if last is None:
        return {"units": 0, "days": days, "per_day": 0.0, "from": None, "to": None}
    start = last - timedelta(days=days)
    (units,) = _row(
        store,
        f"SELECT COUNT(DISTINCT customer_id) AS units FROM {source} "
        f"WHERE {time_col} > $start AND {time_col} <= $last AND ({where})",
        {"start": start, "last": last},
    )
    return {
        "units": int(units),
        "days": days,
        "per_day": units / days,
        "from": start.date(),
        "to": last.date(),
    }


def baseline_stats(store: Store, metric: ExperimentMetric, days: int = 28) -> dict[str, float]:
    """Unit-level sums of `metric` over the last `days` of data (for planning baselines).

    Keys: n (customers with an event), sx, sy, sxx, syy, sxy for ratio/mean/binary metrics,
    or promoters/passives/detractors for NPS.
    """
    source: str = metric.source if metric.source != "customers" else "contacts"
    time_col = _TIME[source]
    (last,) = _row(store, f"SELECT max({time_col}) AS last FROM {source}")
    if last is None:
        return {"n": 0.0}
    start = last - timedelta(days=days)
    if metric.source == "customers":
        # Churn baseline: share of customers active at the start who churned within the horizon.
        horizon = metric.horizon_days or 30
        row = _row(
            store,
            "SELECT COUNT(*) AS n, SUM(CASE WHEN churned_at < CAST($at AS DATE) + INTERVAL "
            f"{int(horizon)} DAY THEN 1 ELSE 0 END) AS x FROM customers "
            "WHERE signup_date <= CAST($at AS DATE) AND (churned_at IS NULL OR churned_at >= "
            "CAST($at AS DATE))",
            {"at": start - timedelta(days=horizon)},
        )
        n, x = float(row[0] or 0), float(row[1] or 0)
        return {"n": n, "sx": x, "sxx": x}
    num, den = f"COALESCE({metric.numerator}, 0)", f"COALESCE({metric.denominator}, 0)"
    params = {"start": start, "last": last}
    if metric.needs_repeats:
        window_s = _fcr_window_s(store)
        rel = repeats_relation("TRUE", "$start", "$last", window_s, metric.repeat_columns)
        source = rel + " AS contacts_rep"
    if metric.family == "nps":
        row = _row(
            store,
            f"SELECT SUM(CASE WHEN nps >= {NPS_PROMOTER_MIN} THEN 1 ELSE 0 END) AS p, "
            f"SUM(CASE WHEN nps BETWEEN {NPS_DETRACTOR_MAX + 1} AND {NPS_PROMOTER_MIN - 1} "
            f"THEN 1 ELSE 0 END) AS pa, "
            f"SUM(CASE WHEN nps <= {NPS_DETRACTOR_MAX} THEN 1 ELSE 0 END) AS d FROM {source} "
            f"WHERE {time_col} > $start AND {time_col} <= $last AND ({metric.where})",
            params,
        )
        p, pa, d = (float(v or 0) for v in row)
        return {"n": p + pa + d, "promoters": p, "passives": pa, "detractors": d}
    row = _row(
        store,
        "SELECT COUNT(*) AS n, SUM(x) AS sx, SUM(y) AS sy, SUM(x * x) AS sxx, "
        "SUM(y * y) AS syy, SUM(x * y) AS sxy FROM ("
        f"SELECT customer_id, SUM({num}) AS x, SUM({den}) AS y FROM {source} "
        f"WHERE {time_col} > $start AND {time_col} <= $last AND ({metric.where}) "
        "GROUP BY customer_id) t",
        params,
    )
    keys = ("n", "sx", "sy", "sxx", "syy", "sxy")
    return {k: float(v or 0) for k, v in zip(keys, row, strict=True)}


# -- point in time: what was visible on each day ---------------------------------------------
def point_in_time_statements(
    metrics: Sequence[ExperimentMetric], fcr_window_s: float = DEFAULT_FCR_WINDOW_S
) -> list[str]:
    """Per (variant, day) the change of each metric's sums on that day, as it happened.

    The cumulative series must show on day D the units assigned by D with their outcomes
    observed by D (not today's outcomes). Sums of per-unit values are not additive over event
    days once squared, so each unit's running total is carried: for every (unit, day) with an
    event, `cum` holds the unit's totals to the end of that day and `prev` to the day before.
    The metric's own aggregates (Σx, Σx², Σxy ...) over `cum` minus the same over `prev` are
    the day's increments; summed over days up to D they give the sums as of D. Units enter
    with value 0 on their assignment day (the unit count comes from the by-day grouping).
    Parameters as `readout_statements`; rows: part ('cum' | 'prev'), variant, day, columns.
    """
    plain = [replace(m, cuped=False) for m in metrics]
    units = _units_cte(())
    statements = []
    churn = [m for m in plain if m.source == "customers"]
    for m in churn:
        # A churned unit's 0/1 flips to 1 on its churn day (within the horizon and window).
        horizon = f"a.assigned_at + INTERVAL {m.horizon_days or 36500} DAY"
        cond = (
            f"k2.churned_at >= a.assigned_day AND k2.churned_at < {horizon} "
            "AND k2.churned_at < $window_end"
        )
        statements.append(
            "WITH " + ",\n".join(units) + ",\n"
            f"cum AS (SELECT a.variant, CAST(k2.churned_at AS DATE) AS day, {_ONE} AS {m.name}__x "
            f"FROM a JOIN customers k2 ON k2.customer_id = a.unit_id WHERE {cond}),\n"
            f"prev AS (SELECT variant, day, {_ZERO} AS {m.name}__x FROM cum)\n"
            f"SELECT 'cum' AS part, variant, day, "
            + ", ".join(_aggregates(m, cuped=False))
            + " FROM cum GROUP BY variant, day\nUNION ALL\n"
            "SELECT 'prev' AS part, variant, day, "
            + ", ".join(_aggregates(m, cuped=False))
            + " FROM prev GROUP BY variant, day"
        )
    for source in ("contacts", "surveys"):
        ms = [m for m in plain if m.source == source]
        if not ms:
            continue
        events = _events_cte(source, ms, "$window_start", fcr_window_s)
        sums = [s for m in ms for s in _unit_sums(m)]
        names = [s.rsplit(" AS ", 1)[1] for s in sums]
        running = ", ".join(
            f"SUM({n}) OVER (PARTITION BY unit_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS {n}"
            for n in names
        )
        before = ", ".join(
            f"SUM({n}) OVER (PARTITION BY unit_id ORDER BY day ROWS UNBOUNDED PRECEDING) - {n} "
            f"AS {n}"
            for n in names
        )
        aggs = ", ".join(agg for m in ms for agg in _aggregates(m, cuped=False))
        statements.append(
            "WITH " + ",\n".join([*units, events]) + ",\n"
            f"d AS (SELECT a.unit_id, a.variant, CAST(e.event_at AS DATE) AS day, "
            f"{', '.join(sums)} FROM a JOIN e ON e.customer_id = a.unit_id "
            "WHERE e.event_at >= a.assigned_at "
            "GROUP BY a.unit_id, a.variant, CAST(e.event_at AS DATE)),\n"
            f"cum AS (SELECT variant, day, {running} FROM d),\n"
            f"prev AS (SELECT variant, day, {before} FROM d)\n"
            f"SELECT 'cum' AS part, variant, day, {aggs} FROM cum GROUP BY variant, day\n"
            "UNION ALL\n"
            f"SELECT 'prev' AS part, variant, day, {aggs} FROM prev GROUP BY variant, day"
        )
    return statements


def query_point_in_time(
    store: Store, experiment_id: str, metrics: Sequence[ExperimentMetric], window: Window
) -> pl.DataFrame:
    """Per (variant, day): the increments of every metric column on that day (see above).

    Columns: variant, day and `columns(metric, cuped=False)` of each metric; a day with no
    event of a source has zeros there. Add the by-day unit counts and cumulate to read the
    experiment as it stood on each day.
    """
    run = _runner(store, experiment_id, window)
    keys = ["variant", "day"]
    frames = []
    window_s = _fcr_window_s(store)
    for sql in point_in_time_statements(metrics, window_s):
        df = run(sql)
        value_cols = [c for c in df.columns if "__" in c]
        df = df.with_columns([pl.col(c).cast(pl.Float64).fill_null(0.0) for c in value_cols])
        cum = df.filter(pl.col("part") == "cum").drop("part")
        prev = df.filter(pl.col("part") == "prev").drop("part")
        delta = cum.join(prev, on=keys, how="left", suffix="__prev").select(
            keys + [(pl.col(c) - pl.col(f"{c}__prev").fill_null(0.0)).alias(c) for c in value_cols]
        )
        frames.append(delta)
    if not frames:
        return pl.DataFrame(schema={"variant": pl.String, "day": pl.Date})
    out = frames[0]
    for part in frames[1:]:
        out = out.join(part, on=keys, how="full", coalesce=True)
    value_cols = [c for c in out.columns if "__" in c]
    return out.with_columns([pl.col(c).fill_null(0.0) for c in value_cols]).sort(keys)
