"""Simple CLV (ARPU × margin ÷ monthly churn), its churn = 0 case, margin setting, what-if."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from metrics.clv import (
    DEFAULT_MARGIN,
    clv_what_if,
    load_margin,
    save_margin,
    simple_clv,
)

DPM = 365.25 / 12


@pytest.fixture
def tiny(store):
    """Window [2024-10-01, 2025-10-01): the last activity is an invoice on 2025-09-30."""
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO customers (customer_id, signup_date, segment, churned_at, "
            "monthly_revenue) VALUES (?, ?, ?, ?, ?)",
            [
                ("a", date(2020, 1, 1), "consumer", None, 10.0),
                ("b", date(2024, 6, 1), "consumer", date(2025, 3, 1), 20.0),
                ("c", date(2024, 12, 1), "business", None, 100.0),
                ("d", date(2023, 2, 1), "consumer", date(2025, 6, 10), 15.0),
                ("e", date(2025, 1, 1), "partner", None, None),  # revenue only on invoices
            ],
        )
        cur.executemany(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) VALUES (?,?,?,?)",
            [("i1", "a", date(2025, 9, 30), 10.0), ("i2", "e", date(2025, 3, 1), 273.0)],
        )
    return store


def _row(df: pl.DataFrame, segment: str) -> dict:
    return df.filter(pl.col("segment") == segment).row(0, named=True)


def test_simple_clv_consumer_matches_hand_computation(tiny):
    df = simple_clv(tiny, margin=0.3)
    row = _row(df, "consumer")
    # Days at risk in the window: a 365, b 151 (to 2025-03-01), d 252 (to 2025-06-10).
    months = (365 + 151 + 252) / DPM
    assert row["customer_months"] == pytest.approx(months, rel=1e-12)
    assert (row["churned"], row["customers"]) == (2, 1)  # only a is active at the end
    assert row["monthly_churn"] == pytest.approx(2 / months, rel=1e-12)
    assert row["arpu"] == 10.0 and row["arpu_source"] == "monthly_revenue"
    assert row["clv"] == pytest.approx(10.0 * 0.3 / (2 / months), rel=1e-12)
    assert row["small_sample"] is True and row["message"] is None


def test_simple_clv_zero_churn_is_none_with_message(tiny):
    row = _row(simple_clv(tiny, margin=0.3), "business")
    assert row["churned"] == 0 and row["monthly_churn"] == 0.0
    assert row["clv"] is None
    assert "no churn observed in 10 customer-months" in row["message"]
    assert "not defined" in row["message"]


def test_simple_clv_without_monthly_revenue_uses_invoices_per_customer_month(tiny):
    row = _row(simple_clv(tiny, margin=0.3), "partner")
    # e: 2025-01-01..2025-10-01 = 273 days at risk, 273.0 invoiced.
    assert row["arpu_source"] == "invoices"
    assert row["arpu"] == pytest.approx(273.0 / (273 / DPM), rel=1e-12)
    assert row["clv"] is None  # no churn either


def test_simple_clv_empty_store_is_empty_frame(store):
    df = simple_clv(store)
    assert df.height == 0 and "clv" in df.columns


def test_simple_clv_bad_margin_raises_readable_error(tiny):
    with pytest.raises(ValueError, match=r"margin must be a share between 0 and 1"):
        simple_clv(tiny, margin=30)


def test_margin_setting_round_trips_and_defaults(store):
    assert load_margin(store) == DEFAULT_MARGIN == 0.30
    save_margin(store, 0.42)
    assert load_margin(store) == 0.42
    with pytest.raises(ValueError, match="got 1.5"):
        save_margin(store, 1.5)
    assert load_margin(store) == 0.42


def test_simple_clv_uses_stored_margin(tiny):
    save_margin(tiny, 0.5)
    assert _row(simple_clv(tiny), "consumer")["margin"] == 0.5


def test_clv_what_if_churn_minus_20_and_30_pct(tiny):
    simple = simple_clv(tiny, margin=0.3)
    wi = clv_what_if(simple)
    base = _row(simple, "consumer")
    for d, gain in ((0.2, 0.25), (0.3, 0.3 / 0.7)):
        row = wi.filter((pl.col("segment") == "consumer") & (pl.col("churn_reduction") == d))
        row = row.row(0, named=True)
        assert row["monthly_churn_after"] == pytest.approx(base["monthly_churn"] * (1 - d))
        # Recomputed from scratch: ARPU × margin ÷ the lower churn.
        assert row["clv_after"] == pytest.approx(10.0 * 0.3 / (base["monthly_churn"] * (1 - d)))
        assert row["change_pct"] == pytest.approx(gain)
        assert row["value_change"] == pytest.approx((row["clv_after"] - base["clv"]) * 1)
    undefined = wi.filter(pl.col("segment") == "business")
    assert undefined["clv_after"].is_null().all() and undefined["message"].is_not_null().all()


def test_clv_what_if_rejects_reduction_outside_0_1(tiny):
    with pytest.raises(ValueError, match="between 0 and 1"):
        clv_what_if(simple_clv(tiny), (20.0,))


def test_simple_clv_sample_world_churn_matches_customer_month_count(sample_store):
    # Independent count in plain Python over the customer rows.
    from metrics.churn import analysis_window

    w0, w1 = analysis_window(sample_store, None, 12)
    rows = (
        sample_store.cursor()
        .execute(
            "SELECT COALESCE(segment, 'unknown'), signup_date, churned_at FROM customers "
            "WHERE signup_date IS NOT NULL"
        )
        .fetchall()
    )
    days: dict[str, int] = {}
    lost: dict[str, int] = {}
    for seg, signup, churned in rows:
        if signup >= w1:
            continue
        start, stop = max(signup, w0), min(churned or w1, w1)
        days[seg] = days.get(seg, 0) + max((stop - start).days, 0)
        lost[seg] = lost.get(seg, 0) + int(churned is not None and w0 <= churned < w1)
    df = simple_clv(sample_store)
    for rec in df.iter_rows(named=True):
        want = lost[rec["segment"]] / (days[rec["segment"]] / DPM)
        assert rec["monthly_churn"] == pytest.approx(want, rel=1e-12)
        assert rec["clv"] == pytest.approx(rec["arpu"] * rec["margin"] / want, rel=1e-12)
