"""Period over period: each KPI against the equal-length window just before, and whether it is real.

prob_real is the posterior probability that the change has the sign it shows:
- rates (shares, churn, channel mix): independent Beta(1 + x, 1 + n − x) posteriors (uniform
  prior) for the two periods; P(p_now > p_before) from the A/B engine (experiments.stats);
- NPS and means: normal approximation, Φ(|Δ| / √(se_now² + se_before²)), also the engine's;
- quantiles (medians, p90): no standard error is computed, so prob_real is None.
`noise` is True when prob_real < 0.9 or unknown: the page shows such a delta muted.

The comparison window is selectable (COMPARISONS): the equal-length window just before, the
same dates one calendar month earlier, or one year earlier. Calendar arithmetic is on business
days (dates in the business time zone); a month end maps to the month end, so whole months
compare with whole months (February 2028 with February 2027). Named periods ("last_month")
count back from the last business day with data. A series' first or last period that the
chosen range or the data covers only in part is marked `partial`.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

import polars as pl

from experiments.stats.binary import prob_b_beats_a
from experiments.stats.marginals import BetaMarginal, NormalMarginal, prob_diff_greater
from metrics.catalogue import CATALOGUE, applicable_kpis
from metrics.kpi_query import KpiRequest, query_detail, query_many_detail
from metrics.settings import load_settings, local_midnight_utc
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


# The comparison windows a page offers: the window just before, one month, one year back.
COMPARISONS: tuple[str, ...] = ("previous", "month", "year")
# Named periods a link may carry (?period=last_month), counted back from the data's last day.
NAMED_PERIODS: tuple[str, ...] = (
    "last_month",
    "this_month",
    "last_quarter",
    "this_quarter",
    "last_year",
    "this_year",
    "last_7_days",
    "last_30_days",
    "last_12_months",
)
_GRAIN_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def shift_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months: a month end stays a month end (31 Mar -> 28 or
    29 Feb, 28 Feb 2029 -> 29 Feb 2028), any other day keeps its number, clamped to the
    target month's length (30 Jan 2026 + 1 month -> 28 Feb 2026)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, last if _is_month_end(day) else min(day.day, last))


def comparison_window(date_from: date, date_to: date, kind: str = "previous") -> tuple[date, date]:
    """The window [from, to) that [date_from, date_to) is compared with.

    previous: the equal-length window just before; month / year: the same days one calendar
    month / twelve months earlier (its first and last day shifted by shift_months, so a whole
    month maps to the whole earlier month whatever their lengths).
    """
    if date_from >= date_to:
        raise ValueError(f"the period must not be empty: {date_from} .. {date_to} (exclusive)")
    if kind == "previous":
        return previous_window(date_from, date_to)
    months = {"month": -1, "year": -12}.get(kind)
    if months is None:
        raise ValueError(f"unknown comparison {kind!r}; expected one of {', '.join(COMPARISONS)}")
    last = date_to - timedelta(days=1)
    return shift_months(date_from, months), shift_months(last, months) + timedelta(days=1)


def window_instants(window: tuple[date, date], time_zone: str) -> tuple[datetime, datetime]:
    """A window of business days as the UTC instants that bound it (how the store is queried):
    local midnight of its first day and of the day after its last, in `time_zone`."""
    return local_midnight_utc(window[0], time_zone), local_midnight_utc(window[1], time_zone)


def period_start(day: date, grain: str) -> date:
    """The first day of the `grain` period holding `day` (ISO weeks start on Monday)."""
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    months = _GRAIN_MONTHS.get(grain)
    if months is None:
        raise ValueError(f"unknown grain {grain!r}; expected day, week, month, quarter or year")
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def period_end(start: date, grain: str) -> date:
    """The day after the `grain` period starting on `start` (exclusive end)."""
    if grain == "day":
        return start + timedelta(days=1)
    if grain == "week":
        return start + timedelta(days=7)
    months = _GRAIN_MONTHS.get(grain)
    if months is None:
        raise ValueError(f"unknown grain {grain!r}; expected day, week, month, quarter or year")
    return shift_months(start, months)  # start is the 1st: no month-end rule applies


def named_period(name: str, last_day: date) -> tuple[date, date]:
    """[from, to) of a named period, counted back from `last_day` (the data's last business
    day): this_* is the calendar period holding it (up to and including it), last_* the whole
    calendar period before; last_N_days / last_12_months end with it."""
    end = last_day + timedelta(days=1)
    which, _, grain = name.partition("_")
    if which in ("this", "last") and grain in _GRAIN_MONTHS:
        start = period_start(last_day, grain)
        if which == "this":
            return start, end
        return shift_months(start, -_GRAIN_MONTHS[grain]), start
    if name == "last_7_days":
        return end - timedelta(days=7), end
    if name == "last_30_days":
        return end - timedelta(days=30), end
    if name == "last_12_months":
        return shift_months(end, -12) if end.day == 1 else end - timedelta(days=365), end
    raise ValueError(f"unknown period {name!r}; expected one of {', '.join(NAMED_PERIODS)}")


def mark_partial(
    series: pl.DataFrame,
    grain: str,
    date_from: date | None,
    date_to: date | None,
    extent: tuple[date, date] | None,
) -> pl.DataFrame:
    """`series` (a `period` column at `grain`) with `partial`: True for a period that the
    range [date_from, date_to) or the data (extent: first and last business day, inclusive)
    covers only in part; such a value is not comparable with a whole period's."""
    lo = [d for d in (date_from, extent[0] if extent else None) if d is not None]
    hi = [d for d in (date_to, extent[1] + timedelta(days=1) if extent else None) if d is not None]
    covered_from, covered_to = (max(lo) if lo else None), (min(hi) if hi else None)
    flags = []
    for start in series["period"].to_list():
        if start is None:  # a KPI without data (kpi_query's reason row) has no period
            flags.append(False)
            continue
        end = period_end(start, grain)
        flags.append(
            (covered_from is not None and start < covered_from)
            or (covered_to is not None and end > covered_to)
        )
    return series.with_columns(pl.Series("partial", flags, dtype=pl.Boolean))


def kpi_series(store: Store, request: KpiRequest) -> pl.DataFrame:
    """query_kpis for a request with a grain, plus `partial` (see mark_partial) judged against
    the request's dates and the store's data extent."""
    from metrics.dimensions import date_extent
    from metrics.kpi_query import query_kpis

    if request.grain is None:
        raise ValueError("kpi_series needs a grain (day, week, month, quarter or year)")
    frame = query_kpis(store, request)
    return mark_partial(
        frame, request.grain, request.date_from, request.date_to, date_extent(store)
    )


def _requests(
    kpis: Iterable[str],
    date_from: date | None,
    date_to: date | None,
    filters: Mapping[str, Iterable[str]] | None,
    comparison: str = "previous",
) -> tuple[KpiRequest, KpiRequest]:
    if date_from is None or date_to is None:
        raise ValueError("compare_periods needs both date_from and date_to")
    now = KpiRequest(
        kpis=tuple(kpis), date_from=date_from, date_to=date_to, filters=dict(filters or {})
    )
    p_from, p_to = comparison_window(date_from, date_to, comparison)
    # Only the comparison window's values are read (_compare): no quantile grids for it.
    before = KpiRequest(
        kpis=now.kpis,
        date_from=p_from,
        date_to=p_to,
        filters=dict(filters or {}),
        intervals=False,
    )
    return now, before


def compare_periods(
    store: Store,
    kpis: Iterable[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    filters: Mapping[str, Iterable[str]] | None = None,
    comparison: str = "previous",
) -> pl.DataFrame:
    """Each KPI now vs the comparison window (COMPARISONS; default the equal-length window
    just before).

    Columns: kpi, value, n, ci_low, ci_high, target, status, p_meets, p_misses, small_sample,
    reason (of the current window; reason: why a KPI has no data, see kpi_query), prev_value,
    prev_n, delta (value − prev_value), prob_real, noise, and the implicit dimension columns
    (channel for channel_mix, satisfaction_band for churn_by_satisfaction). Both dates are required; kpis empty = all that fit the filters.
    """
    now_req, before_req = _requests(kpis, date_from, date_to, filters, comparison)
    now, before = query_many_detail(store, [now_req, before_req], load_settings(store))
    return _compare(now, before)


def overview(
    store: Store,
    date_from: date,
    date_to: date,
    filters: Mapping[str, Iterable[str]] | None = None,
    by: str = "channel",
    kpis: Iterable[str] = (),
    comparison: str = "previous",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The Overview page's queries in one go: (compare_periods frame, current period by `by`).

    Same frames as compare_periods(...) and query_kpis(KpiRequest(by=(by,), ...)), computed
    with shared scans for the three (see kpi_query.query_many; the contacts' quantiles: one
    statement for the current period with its breakdown, one for the comparison window, whose
    quantiles are computed at their levels only: no interval or status is read of it).
    """
    now_req, before_req = _requests(kpis, date_from, date_to, filters, comparison)
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
