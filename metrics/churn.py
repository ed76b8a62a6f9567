"""Churn breakdowns the KPI catalogue does not hold: cohort retention, tenure, fees, channel.

The monthly churn rate and churn by satisfaction band are catalogue KPIs (`churn_rate`,
`churn_by_satisfaction` through metrics.kpi_query); this module covers the rest. Every
breakdown is aggregated in the engine (DuckDB or Spark, metrics.engine) with named
parameters and comes back one row per cell with its n and a small-sample flag (n below
MIN_SAMPLE, default 30, DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import polars as pl

from metrics.catalogue import CATALOGUE, MIN_SAMPLE_DEFAULT
from metrics.engine import engine_for
from metrics.store import Store

MIN_SAMPLE = MIN_SAMPLE_DEFAULT  # the catalogue's minimum sample (DESIGN.md)
DAYS_PER_MONTH = 365.25 / 12
TENURE_SPLIT_DAYS = 730  # "up to 2 years' tenure" (SEED_FACTS: 25 % think of switching)
FOLLOW_UP_DAYS = 90

# SEED_FACTS.md: share thinking of switching supplier when the invoice arrives, by
# satisfaction (Novus/Billogram); the catalogue holds it as churn_by_satisfaction's bands.
SWITCHING_REFERENCE: dict[str, float] = dict(CATALOGUE["churn_by_satisfaction"].band_targets)

# Columns of every breakdown frame.
BREAKDOWN_SCHEMA = {
    "dimension": pl.Utf8,
    "band": pl.Utf8,
    "n": pl.Int64,
    "churned": pl.Int64,
    "rate": pl.Float64,
    "rate_unit": pl.Utf8,
    "small_sample": pl.Boolean,
}


def query_frame(
    store: Store, sql: str, params: Sequence[object] | Mapping[str, object] | None = None
) -> pl.DataFrame:
    """Run one aggregate fact-table query and return it whole as a Polars frame.

    Named parameters ($name, a mapping) run in the engine (DuckDB, or Spark: metrics.engine);
    positional `?` parameters (a list) cannot be bound by name and run on the local DuckDB.
    """
    if params is None or isinstance(params, Mapping):
        return engine_for(store).query(sql, params)
    return store.cursor().sql(sql, params=list(params)).pl()


def data_end(store: Store) -> date | None:
    """The day after the last recorded activity (signup, churn, invoice, contact, survey).

    Windows end here (exclusive), so "the last 12 months" means the data's last 12 months,
    not the wall clock's.
    """
    sql = """
        SELECT max(d) FROM (
            SELECT max(signup_date) AS d FROM customers
            UNION ALL SELECT max(churned_at) FROM customers
            UNION ALL SELECT max(CAST(issued_at AS DATE)) FROM invoices
            UNION ALL SELECT max(CAST(opened_at AS DATE)) FROM contacts
            UNION ALL SELECT max(CAST(answered_at AS DATE)) FROM surveys
        )
    """
    last = query_frame(store, sql).item(0, 0)
    return None if last is None else last + timedelta(days=1)


def data_start(store: Store) -> date | None:
    """The first day with recorded activity (invoice, contact, survey), not signups.

    Signup dates reach back years before the exports begin; before this day a month with
    no recorded churn says nothing, so trends start here.
    """
    sql = """
        SELECT min(d) FROM (
            SELECT min(CAST(issued_at AS DATE)) AS d FROM invoices
            UNION ALL SELECT min(CAST(opened_at AS DATE)) FROM contacts
            UNION ALL SELECT min(CAST(answered_at AS DATE)) FROM surveys
            UNION ALL SELECT min(churned_at) FROM customers
        )
    """
    return query_frame(store, sql).item(0, 0)


def analysis_window(
    store: Store, as_of: date | None, window_months: int
) -> tuple[date, date] | None:
    """[start, end) of the last `window_months` before `as_of` (default: the data's end)."""
    end = as_of or data_end(store)
    if end is None:
        return None
    return add_months(end, -window_months), end


def add_months(d: date, months: int) -> date:
    """`d` shifted by whole months, the day clamped to the target month's length."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    # Clamp the day (31 March - 1 month = 28/29 February).
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _finish(df: pl.DataFrame) -> pl.DataFrame:
    if df.height == 0:
        return pl.DataFrame(schema=BREAKDOWN_SCHEMA)
    return df.with_columns(
        pl.col("n").cast(pl.Int64),
        pl.col("churned").cast(pl.Int64),
        (pl.col("n") < MIN_SAMPLE).alias("small_sample"),
    ).select(list(BREAKDOWN_SCHEMA))


def retention_by_cohort(
    store: Store, *, as_of: date | None = None, max_months: int = 12
) -> pl.DataFrame:
    """Share of each signup-month cohort still a customer k months after signing up.

    A customer counts at month k only once signup + k months is on or before `as_of`
    (default: the data's end), so young cohorts are not read as perfect retention.
    Columns: cohort (first of month), months (k), n (observable customers), retained,
    retention, small_sample.
    """
    end = as_of or data_end(store)
    if end is None:
        return pl.DataFrame(
            schema={
                "cohort": pl.Date,
                "months": pl.Int64,
                "n": pl.Int64,
                "retained": pl.Int64,
                "retention": pl.Float64,
                "small_sample": pl.Boolean,
            }
        )
    sql = """
        WITH c AS (
            SELECT signup_date, churned_at, CAST(date_trunc('month', signup_date) AS DATE) AS cohort
            FROM customers WHERE signup_date IS NOT NULL AND signup_date < $end
        ), grid AS (
            SELECT c.cohort, k.months, c.churned_at,
                   CAST(c.signup_date + INTERVAL 1 MONTH * k.months AS DATE) AS at_k
            FROM c CROSS JOIN generate_series(0, $max_months) AS k(months)
        )
        SELECT cohort, CAST(months AS BIGINT) AS months, COUNT(*) AS n,
               SUM(CASE WHEN churned_at IS NULL OR churned_at > at_k THEN 1 ELSE 0 END)
                   AS retained
        FROM grid WHERE at_k <= $end
        GROUP BY cohort, months
        ORDER BY cohort, months
    """
    df = query_frame(store, sql, {"end": end, "max_months": int(max_months)})
    return df.with_columns(
        pl.col("n").cast(pl.Int64),
        pl.col("retained").cast(pl.Int64),
        (pl.col("retained").cast(pl.Float64) / pl.col("n")).alias("retention"),
        (pl.col("n") < MIN_SAMPLE).alias("small_sample"),
    )


def churn_by_tenure(
    store: Store, *, as_of: date | None = None, window_months: int = 12
) -> pl.DataFrame:
    """Monthly churn rate for tenure up to 2 years vs longer, over the window.

    Each customer's days at risk in the window are split at their 2-year anniversary; a
    churn counts in the band of the tenure at which it happened. Rate = churns per
    customer-month at risk (comparable with the monthly churn KPI); n = customers who
    spent time in the band.
    """
    win = analysis_window(store, as_of, window_months)
    if win is None:
        return _finish(pl.DataFrame())
    w0, w1 = win
    sql = """
        WITH c AS (
            SELECT signup_date AS s,
                   signup_date + INTERVAL {split} DAY AS split,
                   least(COALESCE(churned_at, CAST($w1 AS DATE)), CAST($w1 AS DATE)) AS stop,
                   churned_at
            FROM customers WHERE signup_date IS NOT NULL AND signup_date < $w1
        ), parts AS (
            SELECT '≤ 2 years' AS band,
                   date_diff('day', greatest(s, CAST($w0 AS DATE)),
                             least(stop, CAST(split AS DATE))) AS days,
                   churned_at >= $w0 AND churned_at < $w1 AND churned_at < split AS churned
            FROM c
            UNION ALL
            SELECT '> 2 years',
                   date_diff('day', greatest(CAST(split AS DATE), CAST($w0 AS DATE)), stop),
                   churned_at >= $w0 AND churned_at < $w1 AND churned_at >= split
            FROM c
        )
        SELECT 'tenure' AS dimension, band,
               SUM(CASE WHEN days > 0 OR churned THEN 1 ELSE 0 END) AS n,
               SUM(CASE WHEN churned THEN 1 ELSE 0 END) AS churned,
               SUM(CASE WHEN days > 0 THEN days ELSE 0 END) AS days
        FROM parts GROUP BY band ORDER BY band DESC
    """.replace("{split}", str(int(TENURE_SPLIT_DAYS)))  # a code constant, not user input
    df = query_frame(store, sql, {"w0": w0, "w1": w1})
    df = df.with_columns(
        pl.when(pl.col("days") > 0)
        .then(pl.col("churned").cast(pl.Float64) / (pl.col("days") / DAYS_PER_MONTH))
        .otherwise(None)
        .alias("rate"),
        pl.lit("per customer-month").alias("rate_unit"),
    )
    return _finish(df)


def churn_after_invoice(store: Store, *, as_of: date | None = None) -> pl.DataFrame:
    """Share of invoices followed by the customer's churn within 90 days, by fee and reminders.

    One row per cell of two dimensions: "invoice fee" (none / charged) and "reminders"
    (0 / 1 / 2+). Only invoices issued while the customer was active and at least 90 days
    before the data's end count, so every invoice has its full follow-up. n = invoices.
    """
    end = as_of or data_end(store)
    if end is None:
        return _finish(pl.DataFrame())
    sql = """
        WITH i AS (
            SELECT CAST(i.issued_at AS DATE) AS d,
                   CASE WHEN COALESCE(i.fee, 0) > 0 THEN 'charged' ELSE 'none' END AS fee_band,
                   CASE WHEN COALESCE(i.reminders, 0) = 0 THEN '0'
                        WHEN i.reminders = 1 THEN '1' ELSE '2+' END AS reminder_band,
                   c.churned_at
            FROM invoices i JOIN customers c USING (customer_id)
            WHERE CAST(i.issued_at AS DATE) + INTERVAL {days} DAY < $end
              AND (c.churned_at IS NULL OR c.churned_at >= CAST(i.issued_at AS DATE))
        ), flagged AS (
            SELECT fee_band, reminder_band,
                   CASE WHEN churned_at IS NOT NULL
                         AND churned_at <= d + INTERVAL {days} DAY THEN 1 ELSE 0 END AS churned
            FROM i
        )
        SELECT 'invoice fee' AS dimension, fee_band AS band, COUNT(*) AS n,
               SUM(churned) AS churned
        FROM flagged GROUP BY fee_band
        UNION ALL
        SELECT 'reminders', reminder_band, COUNT(*), SUM(churned)
        FROM flagged GROUP BY reminder_band
        ORDER BY dimension, band
    """.replace("{days}", str(int(FOLLOW_UP_DAYS)))  # a code constant, not user input
    df = query_frame(store, sql, {"end": end})
    df = df.with_columns(
        (pl.col("churned").cast(pl.Float64) / pl.col("n")).alias("rate"),
        pl.lit("within 90 days").alias("rate_unit"),
    )
    return _finish(df)


def churn_by_last_channel(
    store: Store, *, as_of: date | None = None, window_months: int = 12
) -> pl.DataFrame:
    """Share churned in the window, by the channel of the customer's last contact before it.

    Customers active at some point in the window with at least one contact before their
    churn (or the window's end); the last such contact's channel is their band.
    """
    win = analysis_window(store, as_of, window_months)
    if win is None:
        return _finish(pl.DataFrame())
    w0, w1 = win
    sql = """
        WITH c AS (
            SELECT customer_id,
                   least(COALESCE(churned_at, CAST($w1 AS DATE)), CAST($w1 AS DATE)) AS stop,
                   churned_at >= $w0 AND churned_at < $w1 AS churned
            FROM customers
            WHERE (churned_at IS NULL OR churned_at >= $w0) AND signup_date < $w1
        ), last_contact AS (
            SELECT c.customer_id, c.churned,
                   arg_max(k.channel, k.opened_at) AS channel
            FROM c JOIN contacts k USING (customer_id)
            WHERE CAST(k.opened_at AS DATE) <= c.stop
            GROUP BY c.customer_id, c.churned
        )
        SELECT 'last contact channel' AS dimension, channel AS band, COUNT(*) AS n,
               SUM(CASE WHEN churned THEN 1 ELSE 0 END) AS churned
        FROM last_contact GROUP BY channel ORDER BY n DESC, channel
    """
    df = query_frame(store, sql, {"w0": w0, "w1": w1})
    df = df.with_columns(
        (pl.col("churned").cast(pl.Float64) / pl.col("n")).alias("rate"),
        pl.lit("churned in window").alias("rate_unit"),
    )
    return _finish(df)


def churn_breakdowns(store: Store, *, as_of: date | None = None) -> pl.DataFrame:
    """Tenure, invoice fee, reminders and last-contact channel breakdowns in one frame."""
    return pl.concat(
        [
            churn_by_tenure(store, as_of=as_of),
            churn_after_invoice(store, as_of=as_of),
            churn_by_last_channel(store, as_of=as_of),
        ],
        how="vertical",
    )
