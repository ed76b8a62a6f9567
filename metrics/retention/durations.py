"""Customer lifetimes in whole months from the store, counted per group in the engine.

A customer's lifetime runs from signup_date to churned_at (an event) or to the data's end
(censored). The store only knows customers still present when its exports begin, so a
customer who signed up before that day is left-truncated: first seen after `entry` whole
months. Every model here (sBG, Kaplan-Meier, log-rank) uses the rows

    (group, entry, time, event, customers)

where time is the month of churn (the t-th month of tenure, t >= 1) for an event, or the
number of whole months completed for a censored customer. Only these counts leave DuckDB.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from metrics.catalogue import SATISFACTION_BANDS
from metrics.churn import DAYS_PER_MONTH, data_end, data_start, query_frame
from metrics.store import Store

# Dimension name -> (label for people, SQL expression over c / lc / ls). Identifiers only
# come from here, never from user text.
_BAND_CASE = (
    "CASE ls.csat "
    + " ".join(f"WHEN {i} THEN '{b}'" for i, b in enumerate(SATISFACTION_BANDS, start=1))
    + " ELSE 'no survey' END"
)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "all": ("all customers", "'all'"),
    "segment": ("segment", "COALESCE(c.segment, 'unknown')"),
    "tier": ("tier", "COALESCE(c.tier, 'unknown')"),
    "region": ("region", "COALESCE(c.region, 'unknown')"),
    "channel": ("channel of last contact", "COALESCE(lc.channel, 'no contact')"),
    "satisfaction": ("satisfaction band (last CSAT)", _BAND_CASE),
    "cohort": ("signup year", "CAST(year(c.signup_date) AS VARCHAR)"),
}

DURATION_SCHEMA = {
    "grp": pl.Utf8,
    "entry": pl.Int64,
    "time": pl.Int64,
    "event": pl.Boolean,
    "customers": pl.Int64,
}


def observation_window(store: Store) -> tuple[date, date] | None:
    """[first day of recorded activity, day after the last]: where lifetimes are observed."""
    end = data_end(store)
    if end is None:
        return None
    return data_start(store) or end, end


def _base_sql(dimension: str) -> str:
    if dimension not in DIMENSIONS:
        raise ValueError(
            f"unknown dimension {dimension!r}; expected one of: {', '.join(DIMENSIONS)}"
        )
    expr = DIMENSIONS[dimension][1]
    joins = ""
    if dimension == "channel":
        # The last contact before the customer left (or the data ended).
        joins += """
        LEFT JOIN (
            SELECT k.customer_id, arg_max(k.channel, k.opened_at) AS channel
            FROM contacts k JOIN customers c2 USING (customer_id)
            WHERE CAST(k.opened_at AS DATE) <= COALESCE(c2.churned_at, CAST($end AS DATE))
            GROUP BY k.customer_id
        ) lc ON lc.customer_id = c.customer_id"""
    if dimension == "satisfaction":
        joins += """
        LEFT JOIN (
            SELECT s.customer_id, arg_max(s.csat, s.answered_at) AS csat
            FROM surveys s JOIN customers c2 USING (customer_id)
            WHERE s.csat IS NOT NULL
              AND CAST(s.answered_at AS DATE) <= COALESCE(c2.churned_at, CAST($end AS DATE))
            GROUP BY s.customer_id
        ) ls ON ls.customer_id = c.customer_id"""
    return f"""
        SELECT {expr} AS grp, c.signup_date, c.churned_at, c.monthly_revenue,
               c.churned_at IS NOT NULL AND c.churned_at < CAST($end AS DATE) AS event,
               date_diff('day', c.signup_date, CAST($start AS DATE)) AS d_start,
               date_diff('day', c.signup_date,
                         least(COALESCE(c.churned_at, CAST($end AS DATE)), CAST($end AS DATE)))
                   AS d_stop
        FROM customers c {joins}
        WHERE c.signup_date IS NOT NULL AND c.signup_date < CAST($end AS DATE)
          AND (c.churned_at IS NULL OR c.churned_at >= CAST($start AS DATE))
    """


def lifetime_counts(store: Store, dimension: str = "all") -> pl.DataFrame:
    """Counts of customers per (group, entry, time, event), aggregated in DuckDB.

    Months are days / 30.44. An event in the t-th month has time = ceil(days / month)
    (at least 1); a censored customer has completed floor(days / month) months. Entry is
    the whole months completed before the data begins (0 for later signups).
    """
    win = observation_window(store)
    if win is None:
        return pl.DataFrame(schema=DURATION_SCHEMA)
    sql = f"""
        WITH b AS ({_base_sql(dimension)}), m AS (
            SELECT grp, event,
                   CAST(floor(greatest(d_start, 0) / $dpm) AS BIGINT) AS entry0,
                   CASE WHEN event THEN greatest(1, CAST(ceil(d_stop / $dpm) AS BIGINT))
                        ELSE CAST(floor(d_stop / $dpm) AS BIGINT) END AS time
            FROM b
        )
        SELECT grp, CASE WHEN event THEN least(entry0, time - 1) ELSE entry0 END AS entry,
               time, event, COUNT(*) AS customers
        FROM m
        WHERE event OR time > entry0
        GROUP BY ALL
        ORDER BY grp, entry, time, event
    """
    params = {"start": win[0], "end": win[1], "dpm": DAYS_PER_MONTH}
    df = store.cursor().sql(sql, params=params).pl()
    return df.cast({k: v for k, v in DURATION_SCHEMA.items()}).select(list(DURATION_SCHEMA))


def active_base(store: Store, dimension: str = "segment") -> pl.DataFrame:
    """Customers active at the data's end per (group, whole months completed), with revenue.

    Columns: grp, months, customers, revenue_sum (sum of monthly_revenue), with_revenue
    (customers that have a monthly_revenue). Feeds the residual value of today's base.
    """
    win = observation_window(store)
    schema = {
        "grp": pl.Utf8,
        "months": pl.Int64,
        "customers": pl.Int64,
        "revenue_sum": pl.Float64,
        "with_revenue": pl.Int64,
    }
    if win is None:
        return pl.DataFrame(schema=schema)
    sql = f"""
        WITH b AS ({_base_sql(dimension)})
        SELECT grp, CAST(floor(d_stop / $dpm) AS BIGINT) AS months, COUNT(*) AS customers,
               SUM(monthly_revenue) AS revenue_sum, COUNT(monthly_revenue) AS with_revenue
        FROM b WHERE NOT event
        GROUP BY ALL ORDER BY grp, months
    """
    params = {"start": win[0], "end": win[1], "dpm": DAYS_PER_MONTH}
    df = query_frame(store, sql, params)
    return df.select(pl.col(c).cast(t) for c, t in schema.items())
