"""Kaplan-Meier and log-rank from counts, checked against lifelines and a hand computation."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from dashboard.cli.main import main
from metrics.retention.durations import lifetime_counts
from metrics.retention.survival import (
    kaplan_meier,
    logrank,
    median_lifetime,
    risk_table,
    survival_by,
)


def test_km_hand_computed_five_customers():
    # Months: churn at 1, censored at 2, churn at 3, churn at 3, censored at 4.
    # S(1) = 4/5; S(2) = 4/5; S(3) = 4/5 · (1 - 2/3) = 4/15; S(4) = 4/15.
    km = kaplan_meier([0] * 5, [1, 2, 3, 3, 4], [True, False, True, True, False], [1] * 5)
    assert km.at_risk.tolist() == [5, 4, 3, 1]
    assert km.events.tolist() == [1, 0, 2, 0]
    assert km.survival == pytest.approx([0.8, 0.8, 4 / 15, 4 / 15])
    assert median_lifetime(km) == 3


def _data(seed: int, n: int = 400):
    rng = np.random.default_rng(seed)
    life = rng.geometric(rng.choice([0.04, 0.1], n))
    cens = rng.integers(1, 40, n)
    return np.minimum(life, cens), life <= cens, rng


def test_km_matches_lifelines_survival_band_and_median():
    time, event, _ = _data(1)
    km = kaplan_meier(np.zeros(time.size, int), time, event, np.ones(time.size))
    ref = KaplanMeierFitter().fit(time, event)
    sf = ref.survival_function_.iloc[:, 0]
    band = ref.confidence_interval_
    for i, month in enumerate(km.month):
        if km.at_risk[i] == 0:
            continue
        assert km.survival[i] == pytest.approx(sf.loc[:month].iloc[-1], rel=1e-10)
        lo, hi = band.loc[:month].iloc[-1]
        if km.survival[i] < 1:
            assert km.ci_low[i] == pytest.approx(lo, rel=1e-8)
            assert km.ci_high[i] == pytest.approx(hi, rel=1e-8)
    assert median_lifetime(km) == ref.median_survival_time_


def test_km_left_truncated_matches_lifelines_with_entry():
    time, event, rng = _data(2)
    entry = rng.integers(0, 6, time.size)
    keep = time > entry
    time, event, entry = time[keep], event[keep], entry[keep]
    km = kaplan_meier(entry, time, event, np.ones(time.size))
    ref = KaplanMeierFitter().fit(time, event, entry=entry).survival_function_.iloc[:, 0]
    for i, month in enumerate(km.month):
        if km.at_risk[i] > 0:
            assert km.survival[i] == pytest.approx(ref.loc[:month].iloc[-1], rel=1e-10)


def test_km_from_aggregated_counts_equals_per_customer_rows():
    time, event, rng = _data(3)
    entry = np.zeros(time.size, int)
    rows = {}
    for t, e in zip(time, event, strict=True):
        rows[(int(t), bool(e))] = rows.get((int(t), bool(e)), 0) + 1
    keys = list(rows)
    agg = kaplan_meier(
        [0] * len(keys), [k[0] for k in keys], [k[1] for k in keys], [rows[k] for k in keys]
    )
    one = kaplan_meier(entry, time, event, np.ones(time.size))
    assert agg.survival == pytest.approx(one.survival, rel=1e-12)


def test_logrank_matches_lifelines_three_groups():
    time, event, rng = _data(4, 600)
    group = rng.integers(0, 3, time.size)
    time = np.where(group == 2, np.maximum(1, time - 3), time)  # a real difference
    ref = multivariate_logrank_test(time, group, event)
    tables = [
        risk_table(
            np.zeros((group == g).sum(), int),
            time[group == g],
            event[group == g],
            np.ones((group == g).sum()),
            max_month=int(time.max()),
        )[1:]
        for g in range(3)
    ]
    chi2, df, p = logrank(tables)
    assert df == 2
    assert chi2 == pytest.approx(ref.test_statistic, rel=1e-9)
    assert p == pytest.approx(ref.p_value, rel=1e-9)


def _insert_customers(store, rows):
    with store.write() as cur:
        cur.executemany(
            "INSERT INTO customers (customer_id, signup_date, segment, churned_at) VALUES (?,?,?,?)",
            rows,
        )
        # One invoice fixes the data's end and start: 1 Jan 2024 .. 31 Dec 2025.
        cur.execute(
            "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) VALUES "
            "('first', 'x', DATE '2024-01-01', 1), ('last', 'x', DATE '2025-12-31', 1)"
        )


def test_store_survival_matches_lifelines_on_hand_built_customers(store):
    rng = np.random.default_rng(9)
    start, end = date(2024, 1, 1), date(2026, 1, 1)  # end = day after the last activity
    rows = []
    for i in range(300):
        signup = start + timedelta(days=int(rng.integers(0, 600)))
        life = int(rng.exponential(300))
        churn = signup + timedelta(days=max(life, 1))
        rows.append((f"c{i}", signup, ("a", "b")[i % 2], churn if churn < end else None))
    _insert_customers(store, rows)
    res = survival_by(store, "segment")
    dpm = 365.25 / 12
    for g in res.groups:
        # Per-customer months computed here, independently of the SQL.
        dur, ev = [], []
        for _, signup, seg, churn in rows:
            if seg != g["group"]:
                continue
            if churn is not None:
                dur.append(max(1, math.ceil((churn - signup).days / dpm)))
                ev.append(True)
            elif math.floor((end - signup).days / dpm) > 0:
                dur.append(math.floor((end - signup).days / dpm))
                ev.append(False)
        ref = KaplanMeierFitter().fit(dur, ev)
        sf = ref.survival_function_.iloc[:, 0]
        assert g["n"] == len(dur) and g["events"] == sum(ev)
        for pt in g["curve"][1:]:
            assert pt["survival"] == pytest.approx(sf.loc[: pt["month"]].iloc[-1], rel=1e-10)
        want = ref.median_survival_time_
        assert g["median_months"] == (None if math.isinf(want) else want)
    assert 0 <= res.logrank_p <= 1


def test_store_durations_left_truncate_customers_signed_up_before_the_data(store):
    _insert_customers(
        store,
        [
            # Signed up 2020-01-01: 48 whole months before the data begins, churned in month 50.
            ("old", date(2020, 1, 1), "a", date(2024, 2, 15)),
            ("new", date(2024, 3, 1), "a", None),  # censored after 22 whole months
        ],
    )
    rows = lifetime_counts(store, "segment").to_dicts()
    assert {"grp": "a", "entry": 48, "time": 50, "event": True, "customers": 1} in rows
    assert {"grp": "a", "entry": 0, "time": 22, "event": False, "customers": 1} in rows


def test_median_is_null_when_survival_stays_above_half(store):
    _insert_customers(
        store,
        [(f"c{i}", date(2024, 1, 1), "a", date(2024, 6, 1) if i < 3 else None) for i in range(10)],
    )
    g = survival_by(store, "segment").groups[0]
    assert g["median_months"] is None and g["events"] == 3


def test_cx_churn_survival_json_has_groups_curves_and_logrank(sample_db, capsys):
    assert main(["churn", "survival", "--db", str(sample_db), "--by", "tier", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0 <= out["logrank_p"] <= 1
    for g in out["groups"]:
        assert {"n", "events", "median_months", "curve"} <= set(g)
        first = g["curve"][0]
        assert first == {**first, "month": 0, "survival": 1.0}
        assert all(c["ci_low"] <= c["survival"] <= c["ci_high"] for c in g["curve"])
        assert [c["month"] for c in g["curve"]] == sorted(c["month"] for c in g["curve"])


def test_cx_churn_survival_unknown_dimension_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        main(["churn", "survival", "--by", "shoe_size"])
    assert "invalid choice: 'shoe_size'" in capsys.readouterr().err
