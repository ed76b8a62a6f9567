"""Churn breakdowns on a hand-built store whose every figure is computed by hand below."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from metrics.churn import (
    MIN_SAMPLE,
    analysis_window,
    churn_after_invoice,
    churn_breakdowns,
    churn_by_last_channel,
    churn_by_tenure,
    data_end,
    data_start,
    retention_by_cohort,
)

DPM = 365.25 / 12


@pytest.fixture
def tiny(store):
    """Four customers; the last activity is an invoice on 2025-09-30, so the data end is
    2025-10-01 and the 12-month window is [2024-10-01, 2025-10-01)."""
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO customers (customer_id, signup_date, segment, churned_at, "
            "monthly_revenue) VALUES (?, ?, ?, ?, ?)",
            [
                ("a", date(2020, 1, 1), "consumer", None, 10.0),
                ("b", date(2024, 6, 1), "consumer", date(2025, 3, 1), 20.0),
                ("c", date(2024, 12, 1), "business", None, 100.0),
                ("d", date(2023, 2, 1), "consumer", date(2025, 6, 10), 15.0),
            ],
        )
        cur.executemany(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount, fee, reminders) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("i1", "b", date(2025, 1, 15), 20.0, 5.0, 1),
                ("i2", "a", date(2025, 1, 15), 10.0, 0.0, 0),
                ("i3", "d", date(2025, 4, 1), 15.0, 0.0, 2),
                ("i4", "a", date(2025, 9, 30), 10.0, 0.0, 0),  # < 90 days follow-up: out
            ],
        )
        cur.executemany(
            "INSERT INTO contacts (contact_id, customer_id, channel, opened_at) VALUES (?,?,?,?)",
            [
                ("k1", "a", "phone", datetime(2025, 2, 1)),
                ("k2", "b", "email", datetime(2025, 2, 20)),
                ("k3", "b", "phone", datetime(2025, 3, 5)),  # after b churned: not "last"
            ],
        )
    return store


def _cell(df, band):
    rows = df.filter(df["band"] == band).to_dicts()
    assert len(rows) == 1, band
    return rows[0]


def test_data_end_is_day_after_last_activity(tiny):
    assert data_end(tiny) == date(2025, 10, 1)
    assert analysis_window(tiny, None, 12) == (date(2024, 10, 1), date(2025, 10, 1))


def test_data_start_is_first_activity_not_signup(tiny):
    # Signups reach back to 2020, but the first invoice/contact/churn is 2025-01-15.
    assert data_start(tiny) == date(2025, 1, 15)


def test_data_end_empty_store_is_none(store):
    assert data_end(store) is None
    assert churn_breakdowns(store).height == 0
    assert retention_by_cohort(store).height == 0


def test_churn_by_tenure_splits_exposure_at_two_years(tiny):
    df = churn_by_tenure(tiny)
    # ≤ 2 years: b 2024-10-01..2025-03-01 (151 d, churned), c 2024-12-01..2025-10-01 (304 d),
    # d 2024-10-01..2025-01-31 (its 2nd anniversary, 122 d).
    short = _cell(df, "≤ 2 years")
    assert (short["n"], short["churned"]) == (3, 1)
    assert short["rate"] == pytest.approx(1 / ((151 + 304 + 122) / DPM), rel=1e-12)
    # > 2 years: a the whole window (365 d), d 2025-01-31..2025-06-10 (130 d, churned).
    long = _cell(df, "> 2 years")
    assert (long["n"], long["churned"]) == (2, 1)
    assert long["rate"] == pytest.approx(1 / ((365 + 130) / DPM), rel=1e-12)
    assert df["small_sample"].all() and df["rate_unit"][0] == "per customer-month"


def test_churn_after_invoice_counts_churn_within_90_days(tiny):
    df = churn_after_invoice(tiny)
    # i1 (fee, 1 reminder): b churned 45 days later. i2: a never churned.
    # i3 (2 reminders): d churned 70 days later. i4 lacks 90 days of follow-up.
    fee = df.filter(df["dimension"] == "invoice fee")
    assert (_cell(fee, "charged")["n"], _cell(fee, "charged")["churned"]) == (1, 1)
    assert (_cell(fee, "none")["n"], _cell(fee, "none")["rate"]) == (2, 0.5)
    rem = df.filter(df["dimension"] == "reminders")
    assert [_cell(rem, b)["rate"] for b in ("0", "1", "2+")] == [0.0, 1.0, 1.0]


def test_churn_after_invoice_churn_on_day_91_is_not_counted(store):
    with store.write() as cur:
        cur.execute(
            "INSERT INTO customers (customer_id, signup_date, churned_at) "
            "VALUES ('x', DATE '2024-01-01', DATE '2025-04-02')"
        )  # 91 days after
        cur.execute(
            "INSERT INTO customers (customer_id, signup_date, churned_at) "
            "VALUES ('y', DATE '2024-01-01', DATE '2025-04-01')"
        )  # 90 days after
        cur.executemany(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) VALUES (?,?,?,?)",
            [("1", "x", date(2025, 1, 1), 1.0), ("2", "y", date(2025, 1, 1), 1.0)],
        )
    df = churn_after_invoice(store, as_of=date(2025, 12, 1))
    assert (_cell(df.filter(df["dimension"] == "invoice fee"), "none")["churned"]) == 1


def test_churn_by_last_channel_uses_last_contact_before_churn(tiny):
    df = churn_by_last_channel(tiny)
    assert _cell(df, "email") | {} == {
        "dimension": "last contact channel",
        "band": "email",
        "n": 1,
        "churned": 1,
        "rate": 1.0,
        "rate_unit": "churned in window",
        "small_sample": True,
    }
    assert (_cell(df, "phone")["n"], _cell(df, "phone")["churned"]) == (1, 0)


def test_retention_by_cohort_counts_only_observable_months(tiny):
    df = retention_by_cohort(tiny, max_months=12)
    b = df.filter(df["cohort"] == date(2024, 6, 1))
    # b signed up 2024-06-01 and churned 2025-03-01 = month 9: retained through month 8.
    assert b["retained"].to_list() == [1] * 9 + [0] * 4
    # c (2024-12-01) is observable for months 0..10 only (2025-10-01 is the data end).
    c = df.filter(df["cohort"] == date(2024, 12, 1))
    assert c["months"].to_list() == list(range(11))
    assert c["retention"].to_list() == [1.0] * 11


def test_retention_by_cohort_small_sample_flag_follows_min_sample(store):
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO customers (customer_id, signup_date, churned_at) VALUES (?, ?, ?)",
            [
                (f"s{i}", date(2025, 1, 10), date(2025, 2, 20) if i % 4 == 0 else None)
                for i in range(MIN_SAMPLE)
            ]
            + [(f"t{i}", date(2025, 2, 10), None) for i in range(MIN_SAMPLE - 1)],
        )
    df = retention_by_cohort(store, as_of=date(2025, 6, 1), max_months=3)
    jan = df.filter(df["cohort"] == date(2025, 1, 1)).sort("months")
    assert jan["n"].to_list() == [30, 30, 30, 30]
    # Month 1 ends 2025-02-10 (all retained); month 2 at 2025-03-10 after 8 churned 02-20.
    assert jan["retention"].to_list() == pytest.approx([1.0, 1.0, 22 / 30, 22 / 30])
    assert not jan["small_sample"].any()
    assert df.filter(df["cohort"] == date(2025, 2, 1))["small_sample"].all()


def test_churn_breakdowns_on_sample_world_every_cell_has_n(sample_store):
    df = churn_breakdowns(sample_store)
    assert set(df["dimension"]) == {"tenure", "invoice fee", "reminders", "last contact channel"}
    assert (df["n"] > 0).all()
    assert (df["small_sample"] == (df["n"] < MIN_SAMPLE)).all()
    assert df["rate"].is_between(0, 1).all()


def test_churn_and_clv_sql_transpiles_to_spark(sample_store, monkeypatch):
    # DESIGN.md: moving engines is a dialect switch. Capture every query this module family
    # sends and check sqlglot writes it for Spark (strict) and Spark's parser reads it back.
    import sqlglot

    import metrics.churn as churn
    import metrics.clv as clv
    import metrics.clv_models.rfm as clv_rfm
    from metrics.compiler import to_dialect

    captured: list[str] = []
    real = churn.query_frame

    def spy(store, sql, params=None):
        captured.append(sql)
        return real(store, sql, params)

    for module in (churn, clv, clv_rfm):
        monkeypatch.setattr(module, "query_frame", spy)
    churn.churn_breakdowns(sample_store)
    churn.retention_by_cohort(sample_store)
    clv.simple_clv(sample_store)
    clv_rfm.rfm_summary(sample_store)
    # 6 breakdown/CLV statements, plus their data-end lookups (in the engine too).
    assert len(captured) >= 6
    for sql in captured:
        spark = to_dialect(sql, "spark", strict=True)
        assert sqlglot.parse_one(spark, read="spark") is not None
        assert "FILTER (" not in spark.upper()
