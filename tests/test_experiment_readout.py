"""Readout: sufficient statistics from SQL vs plain Python, CUPED, the cumulative series, SRM."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import sqlglot

from experiments.metric_defs import METRICS
from experiments.readout import ReadoutError, analyze, engine_input
from experiments.readout_sql import Window, query_stats, readout_sql
from experiments.registry import create_experiment, start_experiment
from experiments.stats import RatioStats, analyze_ratio

T0 = datetime(2026, 3, 1)
START, END = date(2026, 3, 1), date(2026, 3, 31)

# (unit, variant, assigned_at offset in days)
UNITS = [
    ("u1", "control", 0.5),
    ("u2", "control", 2.25),
    ("u3", "treatment", 1.0),
    ("u4", "treatment", 3.0),
    ("u5", "treatment", 45.0),
]  # u5: assigned after the window
# (contact, unit, day offset, first_contact_resolved, abandoned, handle_s, bot_handled)
CONTACTS = [
    ("c1", "u1", -5.0, True, False, 100.0, False),  # pre-period
    ("c2", "u1", 1.0, False, False, 200.0, False),
    ("c3", "u1", 4.0, True, False, 300.0, False),
    ("c4", "u1", 6.0, None, True, None, False),  # abandoned: not in FCR / AHT
    ("c5", "u2", 2.0, True, False, 50.0, False),  # before u2's assignment (2.25)
    ("c6", "u2", 10.0, True, False, 70.0, True),  # bot: not in AHT
    ("c7", "u3", 1.5, True, False, 120.0, False),
    ("c8", "u3", 2.0, False, False, 180.0, False),
    ("c9", "u3", 40.0, True, False, 999.0, False),  # after the window end: ignored
    ("c10", "u4", 5.0, True, False, 60.0, False),
]
# (response, unit, day offset, nps, csat)
SURVEYS = [
    ("s1", "u1", 1.1, 10, 5),
    ("s2", "u1", 4.1, 3, 2),
    ("s3", "u3", 1.6, 8, 4),
    ("s4", "u4", 5.1, 9, 3),
    ("s5", "u2", 1.0, 0, 1),
]  # s5 is pre-assignment


def _ts(days: float) -> datetime:
    return T0 + timedelta(days=days)


@pytest.fixture
def tiny(store):
    with store.write() as cur:
        for u, *_ in UNITS:
            cur.execute(
                "INSERT INTO customers (customer_id, segment, age_band) VALUES (?, ?, ?)",
                [u, "consumer" if u in ("u1", "u3") else "business", "18-34"],
            )
        for u, v, d in UNITS:
            cur.execute(
                "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
                "VALUES ('tiny', ?, ?, ?)",
                [u, v, _ts(d)],
            )
        for c, u, d, fcr, ab, h, bot in CONTACTS:
            cur.execute(
                "INSERT INTO contacts (contact_id, customer_id, channel, issue_type, opened_at, "
                "first_contact_resolved, abandoned, handle_s, bot_handled) "
                "VALUES (?, ?, 'phone', 'billing', ?, ?, ?, ?, ?)",
                [c, u, _ts(d), fcr, ab, h, bot],
            )
        for r, u, d, nps, csat in SURVEYS:
            cur.execute(
                "INSERT INTO surveys (response_id, customer_id, answered_at, nps, csat) "
                "VALUES (?, ?, ?, ?, ?)",
                [r, u, _ts(d), nps, csat],
            )
    create_experiment(
        store,
        {
            "experiment_id": "tiny",
            "name": "Tiny",
            "primary_metric": "fcr",
            "guardrails": [
                {"metric": "aht", "tolerance": 30},
                {"metric": "csat", "tolerance": 0.1},
                {"metric": "nps", "tolerance": 10},
            ],
            "variants": ["control", "treatment"],
            "start_date": START,
            "end_date": END,
        },
    )
    return store


def _reference_fcr():
    """Per-variant ratio sums of FCR, computed in plain Python from the lists above."""
    assigned = {u: (v, _ts(d)) for u, v, d in UNITS if _ts(d) < datetime(2026, 4, 1)}
    per_unit = {u: [0.0, 0.0, 0.0, 0.0] for u in assigned}  # x, y, pre x, pre y
    for _, u, d, fcr, ab, _h, _bot in CONTACTS:
        if u not in assigned or ab or _ts(d) >= datetime(2026, 4, 1):
            continue
        post = _ts(d) >= assigned[u][1]
        per_unit[u][0 if post else 2] += 1.0 if fcr else 0.0
        per_unit[u][1 if post else 3] += 1.0
    out = {}
    for variant in ("control", "treatment"):
        rows = [per_unit[u] for u in assigned if assigned[u][0] == variant]
        out[variant] = {
            "n": len(rows),
            "sx": sum(r[0] for r in rows),
            "sy": sum(r[1] for r in rows),
            "sxx": sum(r[0] ** 2 for r in rows),
            "syy": sum(r[1] ** 2 for r in rows),
            "sxy": sum(r[0] * r[1] for r in rows),
            "spx": sum(r[2] for r in rows),
            "sxpx": sum(r[0] * r[2] for r in rows),
            "sypy": sum(r[1] * r[3] for r in rows),
        }
    return out


def test_query_stats_fcr_sums_equal_plain_python(tiny) -> None:
    df = query_stats(tiny, "tiny", [METRICS["fcr"]], Window.from_dates(START, END), by_day=False)
    ref = _reference_fcr()
    got = {r["variant"]: r for r in df.to_dicts()}
    assert set(got) == {"control", "treatment"}
    for v, exp in ref.items():
        assert got[v]["n"] == exp["n"]
        for k in ("sx", "sy", "sxx", "syy", "sxy", "spx", "sxpx", "sypy"):
            assert got[v][f"fcr__{k}"] == pytest.approx(exp[k], abs=1e-12), (v, k)
    # Hand check of the same numbers: control u1 post c2, c3 -> x=1, y=2; u2 post c6 -> 1, 1.
    assert (got["control"]["fcr__sx"], got["control"]["fcr__sy"]) == (2.0, 3.0)


def test_query_stats_aht_nps_csat_by_hand(tiny) -> None:
    ms = [METRICS["aht"], METRICS["nps"], METRICS["csat"]]
    df = query_stats(tiny, "tiny", ms, Window.from_dates(START, END), by_day=False)
    got = {r["variant"]: r for r in df.to_dicts()}
    # AHT control: u1 c2 200 + c3 300 (c4 abandoned), u2 c6 is bot-handled.
    assert (got["control"]["aht__sx"], got["control"]["aht__sy"]) == (500.0, 2.0)
    assert got["control"]["aht__sxx"] == 500.0**2
    # AHT treatment: u3 120 + 180 (c9 after the end), u4 60.
    assert (got["treatment"]["aht__sx"], got["treatment"]["aht__sy"]) == (360.0, 3.0)
    # NPS: control s1 promoter, s2 detractor (s5 before u2's assignment); treatment s3 passive, s4 promoter.
    assert [got["control"][f"nps__{k}"] for k in ("promoters", "passives", "detractors")] == [
        1,
        0,
        1,
    ]
    assert [got["treatment"][f"nps__{k}"] for k in ("promoters", "passives", "detractors")] == [
        1,
        1,
        0,
    ]
    # CSAT top-2: control s1 (5) yes, s2 (2) no; treatment s3 (4) yes, s4 (3) no.
    assert (got["control"]["csat__sx"], got["control"]["csat__sy"]) == (1.0, 2.0)
    assert (got["treatment"]["csat__sx"], got["treatment"]["csat__sy"]) == (1.0, 2.0)


def test_analyze_primary_equals_engine_on_reference_sums(tiny) -> None:
    readout = analyze(tiny, "tiny")
    ref = _reference_fcr()
    expected = analyze_ratio(
        *(
            RatioStats(
                n=r["n"],
                sum_y=r["sx"],
                sum_x=r["sy"],
                sum_y2=r["sxx"],
                sum_x2=r["syy"],
                sum_xy=r["sxy"],
            )
            for r in (ref["control"], ref["treatment"])
        )
    )
    assert readout.n_by_variant == {"control": 2, "treatment": 2}
    assert readout.primary.result.prob_variant_better == pytest.approx(
        expected.prob_variant_better, abs=1e-12
    )
    assert [g.metric for g in readout.guardrails] == ["aht", "csat", "nps"]
    assert readout.decision.action in ("ship", "keep running", "stop")


def test_readout_sql_transpiles_to_spark() -> None:
    sql = readout_sql(
        [METRICS[m] for m in ("fcr", "aht", "nps", "churn_rate", "repeat_contact_rate")],
        segments=("channel", "segment", "age_band"),
    )
    spark = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
    assert "GROUPING SETS" in spark and "ROW_NUMBER() OVER" in spark


def test_analyze_without_assignments_says_so(store) -> None:
    create_experiment(store, {"experiment_id": "empty", "name": "Empty", "primary_metric": "fcr"})
    with pytest.raises(ReadoutError, match="'empty' has no assignments in its window"):
        analyze(store, "empty")


def _correlated_store(store, n_units: int = 400, seed: int = 3):
    """Units whose contact rate is a per-unit trait: pre and post counts correlate."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(2.0, 1.0, n_units)
    pre, post = rng.poisson(rate), rng.poisson(rate)
    variant = np.where(np.arange(n_units) % 2 == 0, "control", "treatment")
    contacts = []
    for i in range(n_units):
        contacts += [(f"p{i}_{k}", f"u{i}", -10.0 - k * 0.1) for k in range(pre[i])]
        contacts += [(f"q{i}_{k}", f"u{i}", 1.0 + k * 0.1) for k in range(post[i])]
    assign = pl.DataFrame(
        {"unit_id": [f"u{i}" for i in range(n_units)], "variant": variant.tolist()}
    )
    rows = pl.DataFrame(
        {
            "contact_id": [c[0] for c in contacts],
            "customer_id": [c[1] for c in contacts],
            "opened_at": [_ts(c[2]) for c in contacts],
        }
    )
    with store.write() as cur:
        cur.register("assign_df", assign.to_arrow())
        cur.register("contacts_df", rows.to_arrow())
        cur.execute(
            "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
            "SELECT 'cup', unit_id, variant, ? FROM assign_df",
            [_ts(0.0)],
        )
        cur.execute(
            "INSERT INTO contacts (contact_id, customer_id, channel, opened_at) "
            "SELECT contact_id, customer_id, 'phone', opened_at FROM contacts_df"
        )
    create_experiment(
        store,
        {
            "experiment_id": "cup",
            "name": "Cuped",
            "primary_metric": "contacts_per_customer",
            "variants": ["control", "treatment"],
            "start_date": START,
            "end_date": END,
        },
    )
    return pre, post, variant


def test_cuped_variance_reduction_equals_pooled_within_arm_rho_squared(store) -> None:
    pre, post, variant = _correlated_store(store)
    readout = analyze(store, "cup")
    # Independent reference: 1 − ρ² with ρ the pooled within-arm correlation (numpy).
    sxx = sxy = syy = 0.0
    for v in ("control", "treatment"):
        x, y = pre[variant == v].astype(float), post[variant == v].astype(float)
        sxx += ((x - x.mean()) ** 2).sum()
        syy += ((y - y.mean()) ** 2).sum()
        sxy += ((x - x.mean()) * (y - y.mean())).sum()
    rho2 = sxy**2 / (sxx * syy)
    assert rho2 > 0.2  # the fixture really is correlated
    assert readout.primary.cuped_variance_reduction == pytest.approx(rho2, rel=1e-9)
    raw, adj = readout.primary.result.absolute_lift, readout.primary.cuped.absolute_lift
    width_ratio = (adj.ci_high - adj.ci_low) / (raw.ci_high - raw.ci_low)
    # The interval narrows by about sqrt(1 − ρ²) (t vs normal and rounding: 2 %).
    assert width_ratio == pytest.approx(math.sqrt(1 - rho2), rel=0.02)


def test_cumulative_last_day_equals_overall(store) -> None:
    _correlated_store(store)
    readout = analyze(store, "cup")
    last = readout.cumulative[-1]
    assert last["n_control"] + last["n_variant"] == sum(readout.n_by_variant.values())
    assert last["prob_variant_better"] == pytest.approx(
        readout.primary.result.prob_variant_better, abs=1e-12
    )


def test_readout_posterior_curves_are_densities_around_the_engines_lift(store) -> None:
    pre, post, variant = _correlated_store(store)
    readout = analyze(store, "cup")
    curves = readout.posterior
    assert set(curves) == {"x", "control", "variant", "lift_x", "lift"}
    # Independent checks by the trapezoid rule: each curve is a density (integrates to 1),
    # and the lift density's mean is the difference of the arms' raw means (numpy).
    for xs, ys in (("x", "control"), ("x", "variant"), ("lift_x", "lift")):
        assert np.trapezoid(curves[ys], curves[xs]) == pytest.approx(1.0, abs=2e-3), ys
    lift_mean = np.trapezoid(np.multiply(curves["lift"], curves["lift_x"]), curves["lift_x"])
    raw = post[variant == "treatment"].mean() - post[variant == "control"].mean()
    assert lift_mean == pytest.approx(raw, abs=2e-3 * max(1.0, abs(raw)))
    assert readout.primary.result.absolute_lift.mean == pytest.approx(raw, rel=1e-9)


def test_engine_input_ratio_maps_numerator_to_sum_y() -> None:
    row = {
        "n": 3,
        "fcr__sx": 2.0,
        "fcr__sy": 4.0,
        "fcr__sxx": 2.0,
        "fcr__syy": 6.0,
        "fcr__sxy": 3.0,
    }
    s = engine_input(METRICS["fcr"], row)
    assert (s.sum_y, s.sum_x, s.ratio) == (2.0, 4.0, 0.5)


def test_srm_on_broken_split_store(store) -> None:
    with store.write() as cur:
        cur.execute(
            "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
            "SELECT 'srm', 'u' || i, CASE WHEN i < 600 THEN 'control' ELSE 'treatment' END, ? "
            "FROM range(1000) t(i)",
            [_ts(1.0)],
        )
    create_experiment(
        store,
        {
            "experiment_id": "srm",
            "name": "SRM",
            "primary_metric": "fcr",
            "variants": ["control", "treatment"],
            "start_date": START,
        },
    )
    start_experiment(store, "srm")
    readout = analyze(store, "srm")
    from scipy.stats import chisquare

    assert readout.srm.p_value == pytest.approx(chisquare([600, 400]).pvalue, rel=1e-9)
    assert readout.srm.mismatch and readout.decision.action == "stop"
    assert "Sample-ratio mismatch" in readout.decision.reasons[0]
