"""The per-customer frequency / recency / T / monetary summary, aggregated in DuckDB."""

from __future__ import annotations

from datetime import date

import polars as pl

from metrics.churn import query_frame
from metrics.clv_models import ClvModelError
from metrics.store import Store

# Days per model time unit. Weeks follow the paper; T and recency are in this unit.
UNIT_DAYS: dict[str, float] = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}


def rfm_summary(store: Store, *, unit: str = "week", as_of: date | None = None) -> pl.DataFrame:
    """One row per invoiced customer: frequency, recency, T, monetary, segment.

    A purchase is an invoicing day (same-day invoices are summed, as the CDNOW summary
    does); frequency = purchase days - 1 (repeat purchases), recency = first to last
    purchase, T = first purchase to `as_of` (inclusive cut-off, default the last invoice
    date), monetary = mean amount of the repeat purchases (0 when there are none).
    Aggregated in DuckDB; only one row per customer comes back.
    """
    if unit not in UNIT_DAYS:
        raise ClvModelError(f"unit must be one of {sorted(UNIT_DAYS)}, got {unit!r}")
    cur = store.cursor()
    if as_of is None:
        row = cur.execute("SELECT max(CAST(issued_at AS DATE)) FROM invoices").fetchall()
        as_of = row[0][0]
        if as_of is None:
            return _empty_rfm()
    sql = """
        WITH daily AS (
            SELECT customer_id, CAST(issued_at AS DATE) AS d, SUM(amount) AS amount
            FROM invoices
            WHERE CAST(issued_at AS DATE) <= ?
            GROUP BY customer_id, CAST(issued_at AS DATE)
        ), ranked AS (
            SELECT customer_id, d, amount,
                   ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY d) AS k
            FROM daily
        )
        SELECT r.customer_id,
               COALESCE(c.segment, 'unknown') AS segment,
               CAST(COUNT(*) - 1 AS DOUBLE) AS frequency,
               date_diff('day', MIN(r.d), MAX(r.d)) / ? AS recency,
               date_diff('day', MIN(r.d), CAST(? AS DATE)) / ? AS T,
               COALESCE(AVG(CASE WHEN r.k > 1 THEN r.amount END), 0.0) AS monetary
        FROM ranked r LEFT JOIN customers c USING (customer_id)
        GROUP BY r.customer_id, COALESCE(c.segment, 'unknown')
        ORDER BY r.customer_id
    """
    days = UNIT_DAYS[unit]
    df = query_frame(store, sql, [as_of, days, as_of, days])
    return df if df.height else _empty_rfm()


def _empty_rfm() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "customer_id": pl.Utf8,
            "segment": pl.Utf8,
            "frequency": pl.Float64,
            "recency": pl.Float64,
            "T": pl.Float64,
            "monetary": pl.Float64,
        }
    )
