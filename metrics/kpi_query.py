"""Public KPI query API: a request (KPIs × dims × grain × dates × filters) -> a Polars frame.

    query_kpis(store, KpiRequest(kpis=("nps",), by=("channel",), grain="month",
               date_from=date(2026, 1, 1), date_to=date(2026, 7, 1),
               filters={"channel": ("phone", "chat")}))

Columns: kpi, value, n, ci_low, ci_high, target, status, p_meets, p_misses, small_sample,
reason, one column per `by`
dimension (plus `channel` when channel_mix is asked for and `satisfaction_band` for
churn_by_satisfaction: those KPIs are always broken down by it), and `period` (date of the
period start) when grain is set. date_from is inclusive, date_to exclusive, on the event's own
time (contact opened_at, survey answered_at; churn: calendar months overlapping the range), in
business days: both dates and periods are cut in the business time zone (setting).

Intervals (95 %): Wilson score for shares (csat, fcr, rates, channel_mix, churn); normal for
means (mean ± 1.96·sd/√n) and for NPS (Var = [(p+d) − (p−d)²]/n); distribution-free order-
statistic intervals for quantiles. status / p_meets / p_misses: metrics.targets.judge.
Absent is not zero: a KPI whose inputs no loaded file supplied (metrics.supplied) is one row
with value, status and verdict null, n 0 and `reason` saying which column no file had
("no loaded file had a bot column (contacts.bot_handled)"), whatever the by/grain; `reason`
is null for every other row.
All aggregation runs in the engine (DuckDB, or Spark: metrics.engine); Python only turns the
per-group sums into values.

query_many(store, [request, ...]) answers several requests with shared scans (GROUPING SETS
and window labels; see compiler.plan); metrics.periods.overview uses it for the Overview.
Bad names raise KpiRequestError (a ValueError) listing the valid ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import polars as pl

from metrics.catalogue import (
    ALL_DIMENSIONS,
    CATALOGUE,
    GRAINS,
    KPI_NAMES,
    SATISFACTION_BANDS,
    Kpi,
    applicable_kpis,
    kpi_levels,
    point_levels,
)
from metrics.compiler import CompiledQuery, plan
from metrics.engine import engine_for
from metrics.settings import KpiSettings, load_settings
from metrics.store import Store
from metrics.supplied import NoData, no_data_reasons
from metrics.targets import (
    SCOPE_DIMS,
    Spread,
    Target,
    effective_direction,
    grid_quantile,
    judge,
    load_targets,
    near_tolerance,
    target_key,
)

Z95 = 1.959963984540054

PUBLIC_COLUMNS: tuple[str, ...] = (
    "kpi",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "target",
    "status",
    "p_meets",
    "p_misses",
    "small_sample",
    "reason",
)


class KpiRequestError(ValueError):
    """A request naming an unknown KPI, dimension, grain or filter; says what is valid."""


Filters = tuple[tuple[str, tuple[str, ...]], ...]


def _normalise_filters(filters: Any) -> Filters:
    if filters is None:
        return ()
    items = filters.items() if isinstance(filters, Mapping) else filters
    out = []
    for dim, values in items:
        vals = (values,) if isinstance(values, str) else tuple(values)
        if vals:  # an empty selection means "no filter" (the UI's "all")
            out.append((str(dim), tuple(str(v) for v in vals)))
    return tuple(sorted(out))


def _as_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class KpiRequest:
    """What to compute. Hashable (filters are stored as a sorted tuple of (dim, values)).

    kpis: names from the catalogue; empty = every KPI that supports `by` and `filters`.
    by: dimensions to break down by. grain: None, "day", "week", "month", "quarter" or "year".
    date_from (inclusive) / date_to (exclusive). filters: {dim: (value, ...)}; an empty
    value list means no filter on that dimension. intervals: False when only the values are
    read (a comparison window's): quantiles then come without interval and status, which
    spares the engine their grids.
    """

    kpis: tuple[str, ...] = ()
    by: tuple[str, ...] = ()
    grain: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    filters: Filters | Mapping[str, Iterable[str]] = field(default=())
    intervals: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "kpis", _as_tuple(self.kpis))
        object.__setattr__(self, "by", _as_tuple(self.by))
        object.__setattr__(self, "filters", _normalise_filters(self.filters))
        problems = self.problems()
        if problems:
            raise KpiRequestError("; ".join(problems))
        if not self.kpis:
            object.__setattr__(
                self, "kpis", applicable_kpis(self.by, tuple(d for d, _ in self.filter_items))
            )

    @property
    def filter_items(self) -> Filters:
        """The filters as __post_init__ normalised them: sorted (dimension, values) pairs."""
        return cast(Filters, self.filters)

    @property
    def filter_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.filter_items)

    def problems(self) -> list[str]:
        """Everything wrong with the request, each with the valid choices."""
        out: list[str] = []
        unknown = [k for k in self.kpis if k not in CATALOGUE]
        if unknown:
            out.append(f"unknown KPI {', '.join(unknown)}; valid KPIs: {', '.join(KPI_NAMES)}")
        filter_dims = tuple(d for d, _ in self.filter_items)
        for label, dims in (("dimension", self.by), ("filter dimension", filter_dims)):
            bad = [d for d in dims if d not in ALL_DIMENSIONS]
            if bad:
                out.append(f"unknown {label} {', '.join(bad)}; valid: {', '.join(ALL_DIMENSIONS)}")
        if len(set(self.by)) != len(self.by):
            out.append(f"dimension repeated in by: {', '.join(self.by)}")
        if self.grain is not None and self.grain not in GRAINS:
            out.append(f"unknown grain {self.grain!r}; valid: {', '.join(GRAINS)}")
        if self.date_from and self.date_to and self.date_from >= self.date_to:
            out.append(
                f"date_from {self.date_from} must be before date_to {self.date_to} (exclusive)"
            )
        for k in self.kpis:
            kpi = CATALOGUE.get(k)
            if kpi is None:
                continue
            bad = [
                d
                for d in (*self.by, *filter_dims)
                if d in ALL_DIMENSIONS and d not in kpi.dimensions
            ]
            if bad:
                out.append(
                    f"{k} cannot be cut or filtered by {', '.join(dict.fromkeys(bad))} "
                    f"(allowed: {', '.join(kpi.dimensions)})"
                )
        return out


def _wilson(x: float, n: int) -> tuple[float, float]:
    p = x / n
    z2 = Z95 * Z95
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At x = 0 or x = n the bound is exactly 0 or 1 (not 1e-20 of rounding).
    lo = 0.0 if x <= 0 else max(0.0, centre - half)
    hi = 1.0 if x >= n else min(1.0, centre + half)
    return lo, hi


def _finish(kpi: Kpi, row: Mapping[str, Any]) -> dict[str, Any]:
    """value, n, CI, se, successes and spread of one KPI in one group, from its sufficient
    statistics."""
    k = kpi.name
    agg = kpi.measure.aggregation
    n = int(row.get(f"{k}__n") or 0)
    out: dict[str, Any] = {
        "value": None,
        "n": n,
        "ci_low": None,
        "ci_high": None,
        "se": None,
        "x": None,
        "spread": None,
    }
    if n == 0:
        return out
    if agg in ("ratio", "mix", "monthly_churn"):
        x = float(row.get(f"{k}__x") or 0)
        out["value"] = x / n
        out["x"] = x
        out["ci_low"], out["ci_high"] = _wilson(x, n)
        out["se"] = math.sqrt(out["value"] * (1 - out["value"]) / n)
        out["spread"] = Spread("beta", n, value=out["value"], x=x)
    elif agg == "nps":
        p = float(row[f"{k}__p"] or 0) / n
        d = float(row[f"{k}__d"] or 0) / n
        value = 100.0 * (p - d)
        se = 100.0 * math.sqrt(max(0.0, (p + d) - (p - d) ** 2) / n)
        out.update(
            value=value,
            se=se,
            ci_low=max(-100.0, value - Z95 * se),
            ci_high=min(100.0, value + Z95 * se),
            spread=Spread("normal", n, value=value, se=se),
        )
    elif agg == "mean":
        mean = float(row[f"{k}__mean"])
        sd = row.get(f"{k}__sd")
        out["value"] = mean
        if sd is not None and n >= 2 and not math.isnan(sd):
            se = float(sd) / math.sqrt(n)
            out.update(se=se, ci_low=mean - Z95 * se, ci_high=mean + Z95 * se)
            out["spread"] = Spread("normal", n, value=mean, se=se)
    elif agg == "quantile":
        if kpi.measure.q is None:  # catalogue.validate requires it; narrows the type
            raise ValueError(f"{kpi.name}: a quantile KPI needs its level q")
        q = float(kpi.measure.q)
        values, points = row.get(f"{k}__g"), row.get(f"{k}__v")
        if points is not None and None not in points:  # the value alone (see KpiRequest)
            out["value"] = float(dict(zip(point_levels(kpi), points, strict=True))[q])
        elif values is not None and None not in values:
            grid = tuple(zip(kpi_levels(kpi), (float(v) for v in values), strict=True))
            half = Z95 * math.sqrt(q * (1 - q) / n)
            out.update(
                value=grid_quantile(grid, q),
                ci_low=grid_quantile(grid, q - half),
                ci_high=grid_quantile(grid, q + half),
            )
            out["spread"] = Spread("quantile", n, value=out["value"], q=q, grid=grid)
    if kpi.scale is not None and out["ci_low"] is not None:
        # A normal interval may overshoot a bounded scale (e.g. an index above 100).
        lo, hi = kpi.scale
        out["ci_low"] = min(max(out["ci_low"], lo), hi)
        out["ci_high"] = min(max(out["ci_high"], lo), hi)
    return out


def _target_for(
    kpi: Kpi,
    cell: Mapping[str, Any],
    filters: dict[str, tuple[str, ...]],
    targets: dict[str, Target],
) -> float | None:
    """The target in force for one cell: a band's; else one scoped to the cell's channel or
    team (a breakdown value or a single-valued filter); else the KPI's own, unless the cell
    is cut by a dimension the KPI's benchmark says nothing about (target_not_by)."""
    if kpi.band_targets:
        band = cell.get(kpi.implicit_dim or "")
        t = targets.get(target_key(kpi.name, band)) if band is not None else None
        return t.value if t else None
    for dim in SCOPE_DIMS:
        value = cell.get(dim)
        if value is None and len(filters.get(dim, ())) == 1:
            value = filters[dim][0]
        if value is not None:
            t = targets.get(target_key(kpi.name, scope=(dim, value)))
            if t is not None and t.value is not None:
                return t.value
    for dim in kpi.target_not_by:
        # A whole-operation benchmark says nothing about one slice of that dimension.
        if cell.get(dim) is not None or dim in filters:
            return None
    t = targets.get(kpi.name)
    return t.value if t else None


def _run(store: Store, q: CompiledQuery) -> list[dict[str, Any]]:
    # One row per group (aggregates only), from the store's DuckDB or the Spark engine.
    return engine_for(store).query(q.sql, q.params).to_dicts()


# One piece of a request's answer: (kpis, dims of its grouping set, result rows).
Piece = tuple[tuple[str, ...], tuple[str, ...], list[dict[str, Any]]]


def query_detail(
    store: Store, request: KpiRequest, settings: KpiSettings | None = None
) -> pl.DataFrame:
    """query_kpis plus `se` (standard error of the value, where defined) and `x` (successes)."""
    return query_many_detail(store, [request], settings)[0]


def query_many_detail(
    store: Store, requests: list[KpiRequest], settings: KpiSettings | None = None
) -> list[pl.DataFrame]:
    """Several requests answered with as few scans as possible; frames as query_detail's.

    Requests with the same grain and filters share one statement per source: different
    `by` become GROUPING SETS and different (disjoint, bounded) date windows become a window
    label. The answers are exactly those of one query per request.
    """
    settings = settings or load_settings(store)
    targets = load_targets(store, settings)
    absent = no_data_reasons(store, {k for r in requests for k in r.kpis})
    pieces: list[list[Piece]] = [[] for _ in requests]
    for q, uses in plan(requests, settings):
        rows = _run(store, q)
        for use in uses:
            mine = [r for r in rows if _belongs(r, q, use.window, use.set)]
            pieces[use.request].append((use.kpis, use.set, mine))
    return [
        _assemble(req, p, settings, targets, absent)
        for req, p in zip(requests, pieces, strict=True)
    ]


def _belongs(row: Mapping[str, Any], q: CompiledQuery, window: int, dims: tuple[str, ...]) -> bool:
    if len(q.windows) > 1 and row.get("w__") != window:
        return False
    if len(q.sets) > 1:
        for d in q.dims:
            flag = row.get(f"g__{d}")
            if flag is not None and bool(flag) == (d in dims):
                return False
    return True


def _no_data_row(
    kpi: Kpi, why: NoData, cell: dict[str, Any], target: float | None, grain: str | None
) -> dict[str, Any]:
    """The one row of a KPI without inputs: no value, no verdict, the reason."""
    return {
        "kpi": kpi.name,
        **dict.fromkeys(("value", "ci_low", "ci_high", "status", "p_meets", "p_misses")),
        "n": 0,
        "target": target,
        "small_sample": True,  # n = 0 is under every minimum sample; never judged
        "reason": why.reason,
        **cell,
        **({"period": None} if grain else {}),
        "se": None,
        "x": None,
    }


def _assemble(
    request: KpiRequest,
    pieces: list[Piece],
    settings: KpiSettings,
    targets: dict[str, Target],
    absent: Mapping[str, NoData] | None = None,
) -> pl.DataFrame:
    absent = absent or {}
    filters = request.filter_map
    extra_dims: list[str] = []
    for _, dims, _ in pieces:
        for d in dims:
            if d not in request.by and d not in extra_dims:
                extra_dims.append(d)
    dim_cols = [*request.by, *extra_dims]
    grouped = bool(request.by) or request.grain is not None
    rows: list[dict[str, Any]] = []
    for kpi_name in request.kpis:
        if kpi_name in absent:
            kpi = CATALOGUE[kpi_name]
            cell = dict.fromkeys(dim_cols)
            target = _target_for(kpi, cell, filters, targets)
            rows.append(_no_data_row(kpi, absent[kpi_name], cell, target, request.grain))
    for names, dims, result in pieces:
        if not result and not dims and request.grain is None:
            result = [{}]  # no rows at all: still one row per KPI, with n = 0
        for kpi_name in names:
            if kpi_name in absent:
                continue  # one row with the reason, above
            kpi = CATALOGUE[kpi_name]
            direction = effective_direction(kpi, settings)
            min_n = kpi.min_sample(settings.min_n)
            for r in result:
                stats = _finish(kpi, r)
                if stats["n"] == 0 and (grouped or kpi.implicit_dim):
                    continue  # an empty cell of a breakdown is absent, not a row of nulls
                cell = {d: r.get(d) for d in dim_cols}
                target = _target_for(kpi, cell, filters, targets)
                tol = near_tolerance(kpi, target) if target is not None else 0.0
                verdict = (
                    judge(stats["spread"], target, direction, tol, min_n)
                    if kpi.judged and stats["spread"] is not None
                    else None
                )
                rows.append(
                    {
                        "kpi": kpi_name,
                        **{c: stats[c] for c in ("value", "n", "ci_low", "ci_high")},
                        "target": target,
                        "status": verdict.status if verdict else None,
                        "p_meets": verdict.p_meets if verdict else None,
                        "p_misses": verdict.p_misses if verdict else None,
                        "small_sample": stats["n"] < min_n,
                        "reason": None,
                        **cell,
                        **({"period": r.get("period")} if request.grain else {}),
                        "se": stats["se"],
                        "x": stats["x"],
                    }
                )
    schema: dict[str, Any] = {
        "kpi": pl.Utf8,
        "value": pl.Float64,
        "n": pl.Int64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "target": pl.Float64,
        "status": pl.Utf8,
        "p_meets": pl.Float64,
        "p_misses": pl.Float64,
        "small_sample": pl.Boolean,
        "reason": pl.Utf8,
        **{d: pl.Utf8 for d in dim_cols},
        **({"period": pl.Date} if request.grain else {}),
        "se": pl.Float64,
        "x": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return _sort(frame, request, dim_cols)


def _sort(frame: pl.DataFrame, request: KpiRequest, dim_cols: list[str]) -> pl.DataFrame:
    if frame.is_empty():
        return frame
    order = {name: i for i, name in enumerate(request.kpis)}
    keys = [pl.col("kpi").replace_strict(order, return_dtype=pl.Int32)]
    for d in dim_cols:
        if d == "satisfaction_band":
            rank = {b: i for i, b in enumerate(SATISFACTION_BANDS)}
            keys.append(pl.col(d).replace_strict(rank, default=None, return_dtype=pl.Int32))
        else:
            keys.append(pl.col(d))
    if request.grain:
        keys.append(pl.col("period"))
    return frame.sort(keys, nulls_last=True, maintain_order=True)


def query_kpis(store: Store, request: KpiRequest) -> pl.DataFrame:
    """The KPI values for `request` (see the module docstring for the columns)."""
    return query_detail(store, request).drop("se", "x")


def query_many(store: Store, requests: list[KpiRequest]) -> list[pl.DataFrame]:
    """query_kpis for each request, sharing scans between them (one statement per source
    for requests with the same grain and filters). Same frames, fewer passes over the data."""
    return [f.drop("se", "x") for f in query_many_detail(store, list(requests))]


def catalogue_frame() -> pl.DataFrame:
    """The catalogue as a table (for `cx kpis --list` and the pages' definitions)."""
    return pl.DataFrame(
        [
            {
                "kpi": k.name,
                "label": k.label,
                "definition": k.definition,
                "type": k.type,
                "unit": k.unit,
                "direction": k.direction,
                "target": k.target,
                "target_source": k.target_source,
                "interval": k.interval,
                "dimensions": ", ".join(k.dimensions),
                "min_n": k.min_sample(),
            }
            for k in CATALOGUE.values()
        ]
    )
