"""Simple CLV per segment (ARPU × margin ÷ monthly churn) and the churn what-if.

CLV = ARPU × margin / c, the value of a customer whose monthly churn probability c stays
constant (expected lifetime 1/c months), undiscounted. The margin is a setting
(`clv.margin` in the settings table; default 0.30, a gross margin typical of subscription
services, to be replaced by the company's own). When no churn was observed, CLV is
undefined under this formula: the row carries clv = None and a message, never a
ZeroDivisionError or an infinite figure on a page.
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from metrics.auth import Actor
from metrics.churn import DAYS_PER_MONTH, MIN_SAMPLE, analysis_window, query_frame
from metrics.settings import write_settings
from metrics.store import Store

DEFAULT_MARGIN = 0.30
MARGIN_KEY = "clv.margin"
# The seed's churn targets (SEED_FACTS.md: churn -20-30 % vs baseline, McKinsey 2022).
WHAT_IF_REDUCTIONS: tuple[float, ...] = (0.20, 0.30)

SIMPLE_SCHEMA = {
    "segment": pl.Utf8,
    "customers": pl.Int64,
    "customer_months": pl.Float64,
    "churned": pl.Int64,
    "monthly_churn": pl.Float64,
    "arpu": pl.Float64,
    "arpu_source": pl.Utf8,
    "margin": pl.Float64,
    "clv": pl.Float64,
    "small_sample": pl.Boolean,
    "message": pl.Utf8,
}


def load_margin(store: Store) -> float:
    """The stored margin, or DEFAULT_MARGIN when unset or not a number in (0, 1]."""
    rows = (
        store.cursor().execute("SELECT value FROM settings WHERE key = ?", [MARGIN_KEY]).fetchall()
    )
    if not rows:
        return DEFAULT_MARGIN
    raw = rows[0][0]
    try:
        value = float(json.loads(raw) if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        return DEFAULT_MARGIN
    return value if 0 < value <= 1 else DEFAULT_MARGIN


def save_margin(store: Store, margin: float, *, actor: Actor | None = None) -> None:
    """Persist the margin; ValueError unless 0 < margin <= 1."""
    if not isinstance(margin, int | float) or not 0 < margin <= 1:
        raise ValueError(f"margin must be a share between 0 and 1 (e.g. 0.3), got {margin!r}")
    # Through the one settings writer (validation, one transaction, the audit's hook).
    write_settings(store, {MARGIN_KEY: float(margin)}, actor=actor)


def simple_clv(
    store: Store,
    *,
    margin: float | None = None,
    as_of: date | None = None,
    window_months: int = 12,
) -> pl.DataFrame:
    """Simple CLV per segment over the data's last `window_months`.

    monthly_churn = churns in the window / customer-months at risk in it (an exposure
    rate, so mid-window joiners and leavers count for the time they were there).
    ARPU = mean monthly_revenue of the customers active at the window's end; where a
    segment has no monthly_revenue, invoiced amount per customer-month in the window.
    `customers` = active at the window's end; small_sample when below MIN_SAMPLE.
    """
    margin = load_margin(store) if margin is None else margin
    if not 0 < margin <= 1:
        raise ValueError(f"margin must be a share between 0 and 1 (e.g. 0.3), got {margin!r}")
    win = analysis_window(store, as_of, window_months)
    if win is None:
        return pl.DataFrame(schema=SIMPLE_SCHEMA)
    w0, w1 = win
    sql = """
        WITH c AS (
            SELECT customer_id, COALESCE(segment, 'unknown') AS segment, signup_date,
                   churned_at, monthly_revenue,
                   greatest(signup_date, CAST($w0 AS DATE)) AS start,
                   least(COALESCE(churned_at, CAST($w1 AS DATE)), CAST($w1 AS DATE)) AS stop
            FROM customers WHERE signup_date IS NOT NULL AND signup_date < $w1
        ), inv AS (
            SELECT c.segment, SUM(i.amount) AS amount
            FROM invoices i JOIN c USING (customer_id)
            WHERE CAST(i.issued_at AS DATE) >= $w0 AND CAST(i.issued_at AS DATE) < $w1
            GROUP BY c.segment
        ), agg AS (
            SELECT segment,
                   SUM(CASE WHEN churned_at IS NULL OR churned_at >= $w1 THEN 1 ELSE 0 END)
                       AS customers,
                   SUM(CASE WHEN stop > start THEN date_diff('day', start, stop) ELSE 0 END)
                       / $days_per_month AS customer_months,
                   SUM(CASE WHEN churned_at >= $w0 AND churned_at < $w1 THEN 1 ELSE 0 END)
                       AS churned,
                   AVG(CASE WHEN churned_at IS NULL OR churned_at >= $w1 THEN monthly_revenue END)
                       AS arpu_revenue
            FROM c GROUP BY segment
        )
        SELECT agg.*, inv.amount AS invoiced FROM agg LEFT JOIN inv USING (segment)
        ORDER BY segment
    """
    params = {"w0": w0, "w1": w1, "days_per_month": DAYS_PER_MONTH}
    raw = query_frame(store, sql, params).iter_rows()
    rows = []
    for segment, customers, cm, churned, arpu_rev, invoiced in raw:
        cm = float(cm or 0.0)
        churned = int(churned or 0)
        if arpu_rev is not None:
            arpu, source = float(arpu_rev), "monthly_revenue"
        elif invoiced is not None and cm > 0:
            arpu, source = float(invoiced) / cm, "invoices"
        else:
            arpu, source = None, None
        churn = churned / cm if cm > 0 else None
        clv, message = _clv_value(arpu, margin, churn, churned, cm)
        rows.append(
            {
                "segment": segment,
                "customers": int(customers or 0),
                "customer_months": cm,
                "churned": churned,
                "monthly_churn": churn,
                "arpu": arpu,
                "arpu_source": source,
                "margin": margin,
                "clv": clv,
                "small_sample": int(customers or 0) < MIN_SAMPLE,
                "message": message,
            }
        )
    return pl.DataFrame(rows, schema=SIMPLE_SCHEMA)


def _clv_value(
    arpu: float | None, margin: float, churn: float | None, churned: int, cm: float
) -> tuple[float | None, str | None]:
    if arpu is None:
        return None, "no revenue data (monthly_revenue or invoices) for this segment"
    if churn is None:
        return None, "no customer-months at risk in the window"
    if churned == 0:
        return None, (
            f"no churn observed in {cm:,.0f} customer-months: ARPU × margin ÷ churn is "
            "unbounded, so CLV is not defined by this formula"
        )
    return arpu * margin / churn, None


def clv_what_if(
    simple: pl.DataFrame, reductions: tuple[float, ...] = WHAT_IF_REDUCTIONS
) -> pl.DataFrame:
    """CLV per segment if monthly churn fell by each relative reduction (0.2 = -20 %).

    CLV scales with 1/churn, so a reduction d raises it by d / (1 - d): +25 % for -20 %,
    +42.9 % for -30 %. value_change = change per customer × customers active now, what an
    experiment with that churn effect would be worth over these customers' lifetimes.
    """
    for d in reductions:
        if not 0 < d < 1:
            raise ValueError(f"churn reduction must be between 0 and 1 (0.2 = -20 %), got {d}")
    rows = []
    for rec in simple.iter_rows(named=True):
        for d in reductions:
            churn, clv = rec["monthly_churn"], rec["clv"]
            after = churn * (1 - d) if churn is not None else None
            new = clv / (1 - d) if clv is not None else None
            change = new - clv if new is not None else None
            rows.append(
                {
                    "segment": rec["segment"],
                    "churn_reduction": d,
                    "monthly_churn": churn,
                    "monthly_churn_after": after,
                    "clv": clv,
                    "clv_after": new,
                    "change": change,
                    "change_pct": d / (1 - d) if clv is not None else None,
                    "value_change": change * rec["customers"] if change is not None else None,
                    "small_sample": rec["small_sample"],
                    "message": rec["message"],
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "segment": pl.Utf8,
            "churn_reduction": pl.Float64,
            "monthly_churn": pl.Float64,
            "monthly_churn_after": pl.Float64,
            "clv": pl.Float64,
            "clv_after": pl.Float64,
            "change": pl.Float64,
            "change_pct": pl.Float64,
            "value_change": pl.Float64,
            "small_sample": pl.Boolean,
            "message": pl.Utf8,
        },
    )
