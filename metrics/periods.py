"""Period over period: each KPI against the equal-length window just before, and whether it is real.

prob_real is the posterior probability that the change has the sign it shows:
- rates (shares, churn, channel mix): independent Beta(1 + x, 1 + n − x) posteriors (uniform
  prior) for the two periods; P(p_now > p_before) from the A/B engine (experiments.stats);
- NPS and means: normal approximation, Φ(|Δ| / √(se_now² + se_before²)), also the engine's;
- quantiles (medians, p90): no standard error is computed, so prob_real is None.
`noise` is True when prob_real < 0.9 or unknown: the page shows such a delta muted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import polars as pl

from experiments.stats.binary import prob_b_beats_a
from experiments.stats.marginals import BetaMarginal, NormalMarginal, prob_diff_greater
from metrics.catalogue import CATALOGUE, applicable_kpis
from metrics.kpi_query import KpiRequest, query_detail, query_many_detail
from metrics.settings import load_settings
from metrics.store import Store

NOISE_BELOW = 0.9
_RATE_AGGS = ("ratio", "mix", "monthly_churn")


def prob_real_rate(x_now: float, n_now: int, x_before: float, n_before: int) -> float:
    """Posterior probability that the rate moved in the direction the point estimates show.

    Each period's rate is Beta(1 + x, 1 + n − x) (uniform prior); P(now > before) is the
    engine's (experiments.stats.binary.prob_b_beats_a), the same as an experiment's P(better).
    """
    before = BetaMarginal(1 + x_before, 1 + n_before - x_before)
    p_up = prob_b_beats_a(before, BetaMarginal(1 + x_now, 1 + n_now - x_now))
    delta = x_now / n_now - x_before / n_before
    if delta > 0:
        return p_up
    if delta < 0:
        return 1.0 - p_up
    return 0.5


def prob_real_normal(delta: float, se_now: float, se_before: float) -> float:
    """P(the change has the sign it shows) under normal approximations of both periods.

    The engine's P(Y − X > 0) for X ~ N(0, se_before²), Y ~ N(|Δ|, se_now²), which is
    Φ(|Δ| / √(se_now² + se_before²)); 1 for a non-zero change with zero spread, 0.5 for none.
    """
    if delta == 0:
        return 0.5
    if se_now == 0 and se_before == 0:
        return 1.0
    before, now = NormalMarginal(0.0, se_before), NormalMarginal(abs(delta), se_now)
    return float(prob_diff_greater(before, now, 0.0))


def last_full_month(first: date, last: date) -> tuple[date, date]:
    """[start, end) of the last calendar month fully covered by days first..last (inclusive);
    the whole extent when it covers less than one full month (the Overview's default)."""
    nxt = (last.replace(day=28) + timedelta(days=4)).replace(day=1)
    end = nxt if nxt - timedelta(days=1) == last else last.replace(day=1)
    start = (end - timedelta(days=1)).replace(day=1)
    if start < first:
        return first, last + timedelta(days=1)
    return start, end


def default_period(store: Store) -> tuple[date, date] | None:
    """The Overview's default period: the last full month of the data in business days."""
    from metrics.dimensions import date_extent

    extent = date_extent(store)
    return None if extent is None else last_full_month(*extent)


def previous_window(date_from: date, date_to: date) -> tuple[date, date]:
    """The equal-length window immediately before [date_from, date_to)."""
    return date_from - (date_to - date_from), date_from


def _requests(
    kpis: Iterable[str],
    date_from: date | None,
    date_to: date | None,
    filters: Mapping[str, Iterable[str]] | None,
) -> tuple[KpiRequest, KpiRequest]:
    if date_from is None or date_to is None:
        raise ValueError("compare_periods needs both date_from and date_to")
    now = KpiRequest(
        kpis=tuple(kpis), date_from=date_from, date_to=date_to, filters=dict(filters or {})
    )
    p_from, p_to = previous_window(date_from, date_to)
    before = KpiRequest(kpis=now.kpis, date_from=p_from, date_to=p_to, filters=dict(filters or {}))
    return now, before


def compare_periods(
    store: Store,
    kpis: Iterable[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    filters: Mapping[str, Iterable[str]] | None = None,
) -> pl.DataFrame:
    """Each KPI now vs the previous equal-length window.

    Columns: kpi, value, n, ci_low, ci_high, target, status, p_meets, p_misses, small_sample,
    reason (of the current window; reason: why a KPI has no data, see kpi_query), prev_value, prev_n, delta (value − prev_value), prob_real, noise, and the
    implicit dimension columns (channel for channel_mix, satisfaction_band for
    churn_by_satisfaction). Both dates are required; kpis empty = all that fit the filters.
    """
    now_req, before_req = _requests(kpis, date_from, date_to, filters)
    now, before = query_many_detail(store, [now_req, before_req], load_settings(store))
    return _compare(now, before)


def overview(
    store: Store,
    date_from: date,
    date_to: date,
    filters: Mapping[str, Iterable[str]] | None = None,
    by: str = "channel",
    kpis: Iterable[str] = (),
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The Overview page's queries in one go: (compare_periods frame, current period by `by`).

    Same frames as compare_periods(...) and query_kpis(KpiRequest(by=(by,), ...)), computed
    with one scan per source for the three (see kpi_query.query_many).
    """
    now_req, before_req = _requests(kpis, date_from, date_to, filters)
    fits = set(applicable_kpis((by,), tuple(dict(filters or {}))))
    breakdown_req = KpiRequest(
        kpis=tuple(k for k in now_req.kpis if k in fits),
        by=(by,),
        date_from=date_from,
        date_to=date_to,
        filters=dict(filters or {}),
    )
    now, before, breakdown = query_many_detail(
        store, [now_req, before_req, breakdown_req], load_settings(store)
    )
    return _compare(now, before), breakdown.drop("se", "x")


def _compare(now: pl.DataFrame, before: pl.DataFrame) -> pl.DataFrame:
    keys = ["kpi"] + [c for c in ("channel", "satisfaction_band") if c in now.columns]
    for c in keys:
        if c not in before.columns:
            before = before.with_columns(pl.lit(None, dtype=pl.Utf8).alias(c))
    prev = before.select(
        *keys,
        pl.col("value").alias("prev_value"),
        pl.col("n").alias("prev_n"),
        pl.col("se").alias("prev_se"),
        pl.col("x").alias("prev_x"),
    )
    joined = now.join(prev, on=keys, how="left", nulls_equal=True)
    rows = []
    for r in joined.to_dicts():
        kpi = CATALOGUE[r["kpi"]]
        agg = kpi.measure.aggregation
        delta = prob = None
        if r["value"] is not None and r["prev_value"] is not None:
            delta = r["value"] - r["prev_value"]
            if agg in _RATE_AGGS:
                prob = prob_real_rate(r["x"], r["n"], r["prev_x"], r["prev_n"])
            elif r["se"] is not None and r["prev_se"] is not None and min(r["n"], r["prev_n"]) >= 2:
                # One answer per period has no spread to judge a change by.
                prob = prob_real_normal(delta, r["se"], r["prev_se"])
        r.update(
            delta=delta,
            prob_real=prob,
            noise=prob is None or prob < NOISE_BELOW,
            prev_n=r["prev_n"] or 0,
        )
        rows.append(r)
    columns = [
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
        "prev_value",
        "prev_n",
        "delta",
        "prob_real",
        "noise",
        *keys[1:],
    ]
    schema = {
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
        "prev_value": pl.Float64,
        "prev_n": pl.Int64,
        "delta": pl.Float64,
        "prob_real": pl.Float64,
        "noise": pl.Boolean,
        **{c: pl.Utf8 for c in keys[1:]},
    }
    return pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], schema=schema)


def sparkline(
    store: Store,
    kpi: str,
    date_from: date | None = None,
    date_to: date | None = None,
    filters: Mapping[str, Iterable[str]] | None = None,
    grain: str = "week",
) -> pl.DataFrame:
    """period, value, n of one KPI at `grain` (for the Overview card's small trend line)."""
    frame = query_detail(
        store,
        KpiRequest(
            kpis=(kpi,),
            grain=grain,
            date_from=date_from,
            date_to=date_to,
            filters=dict(filters or {}),
        ),
    )
    return frame.select(
        "period", "value", "n", *[c for c in ("channel", "satisfaction_band") if c in frame.columns]
    )
