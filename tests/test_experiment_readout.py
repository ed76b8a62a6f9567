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
from experiments.readout_sql import Window, query_point_in_time, query_stats, readout_sql
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


def _reference_fcr(as_of: datetime = datetime(2026, 4, 1)):
    """Per-variant ratio sums of FCR, computed in plain Python from the lists above.

    as_of: only units assigned and contacts opened before it count (point in time).
    """
    assigned = {u: (v, _ts(d)) for u, v, d in UNITS if _ts(d) < as_of}
    per_unit = {u: [0.0, 0.0, 0.0, 0.0] for u in assigned}  # x, y, pre x, pre y
    for _, u, d, fcr, ab, _h, _bot in CONTACTS:
        if u not in assigned or ab or _ts(d) >= as_of:
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


def test_point_in_time_series_equals_plain_python_as_of_each_day(tiny) -> None:
    # On each day D the series must hold the units assigned by the end of D with the contacts
    # opened by the end of D, not today's outcomes (the old series used every outcome so far).
    inc = query_point_in_time(tiny, "tiny", [METRICS["fcr"]], Window.from_dates(START, END))
    readout = analyze(tiny, "tiny")
    by_day = {row["day"]: row for row in readout.cumulative}
    checked = 0
    for offset in range(0, 8):
        day = (T0 + timedelta(days=offset)).date()
        ref = _reference_fcr(as_of=datetime.combine(day + timedelta(days=1), datetime.min.time()))
        upto = inc.filter(pl.col("day") <= day)
        for v in ("control", "treatment"):
            got = upto.filter(pl.col("variant") == v)
            for k in ("sx", "sy", "sxx", "syy", "sxy"):
                assert got[f"fcr__{k}"].sum() == pytest.approx(ref[v][k], abs=1e-12), (day, v, k)
        row = by_day.get(day.isoformat())
        if row is not None:
            assert (row["n_control"], row["n_variant"]) == (
                ref["control"]["n"],
                ref["treatment"]["n"],
            )
            checked += 1
    # Hand check of the reference on day 1 (2 March): u1 has c2 (not resolved), u3 has c7
    # (resolved); c8 opens at midnight on 3 March, so it is not yet visible.
    day1 = _reference_fcr(as_of=datetime(2026, 3, 3))
    assert (day1["control"]["sx"], day1["control"]["sy"]) == (0.0, 1.0)
    assert (day1["treatment"]["sx"], day1["treatment"]["sy"]) == (1.0, 1.0)
    assert checked >= 4
    last = readout.cumulative[-1]
    assert last["lift"] == pytest.approx(readout.primary.result.absolute_lift.mean, abs=1e-12)
    assert {"seq_ci_low", "seq_ci_high", "rule"} <= set(last)
    # No planned_n: the plan's 31 days clock the information (t = day / 31 on each look).
    assert readout.information_basis == "days" and readout.planned_n_per_arm is None
    last_day = date.fromisoformat(last["day"])
    assert last["information"] == pytest.approx(((last_day - START).days + 1) / 31)


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


def test_multi_arm_readout_ships_at_bonferroni_alpha_and_plan_sets_information(store) -> None:
    # Four arms: each treatment is tested at α/3 one-sided, so the chance of shipping any null
    # arm stays at 5 % (benchmarks/calibration.py, section 4). planned_n counts all arms.
    with store.write() as cur:
        cur.execute(
            "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
            "SELECT 'four', 'u' || i, ['a', 'b', 'c', 'd'][1 + i % 4], ? FROM range(800) t(i)",
            [_ts(0.0)],
        )
        cur.execute(
            "INSERT INTO contacts (contact_id, customer_id, channel, opened_at) "
            "SELECT 'k' || i, 'u' || i, 'phone', ? FROM range(800) t(i) WHERE i % 3 = 0",
            [_ts(1.0)],
        )
    create_experiment(
        store,
        {
            "experiment_id": "four",
            "name": "Four arms",
            "primary_metric": "contacts_per_customer",
            "guardrails": [{"metric": "csat", "tolerance": 0.05}],
            "variants": ["a", "b", "c", "d"],
            "planned_n": 1600,
            "start_date": START,
            "end_date": END,
        },
    )
    r = analyze(store, "four", variant="c")
    assert r.planned_n_per_arm == pytest.approx(400.0)
    seq = r.primary.sequential
    assert seq.alpha == pytest.approx(0.05 / 3)  # Bonferroni over the three treatments
    assert seq.alpha_worse == pytest.approx(0.05 / 2)  # primary worse + one guardrail
    assert seq.rule == "O'Brien–Fleming" and seq.information == pytest.approx(0.5)
    assert r.rule == seq.rule and r.to_dict()["rule"] == seq.rule
    fixed = analyze(store, "four", variant="c", analysis="fixed")
    assert fixed.primary.sequential.rule == "single look"
    assert fixed.primary.sequential.boundary == pytest.approx(2.128045, abs=1e-5)  # z_{1−α/3}
    # The HTML download reads out the arm asked for (the page passes the one on screen).
    import re

    from dashboard.report_html import readout_html

    def stable(html: str) -> str:
        # minus what differs between two renderings: the time and Plotly's random div ids
        html = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "", html)
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "", html)

    assert stable(readout_html(store, "four", variant="c")) == stable(
        readout_html(store, "four", readout=r)
    )
    assert stable(readout_html(store, "four", variant="b")) != stable(
        readout_html(store, "four", readout=r)
    )


def test_cuped_in_readout_uses_missing_pre_period_indicator_for_new_customers(store) -> None:
    # 30 % of the units signed up 10 days before assignment: no pre-period. The readout's
    # reduction must equal 1 − residual / total variance of a least-squares fit on
    # [pre contacts, new] within arms (numpy on unit-level data), and beat coding them as 0.
    rng = np.random.default_rng(11)
    n_units = 600
    rate = rng.gamma(2.0, 1.0, n_units)
    new = rng.random(n_units) < 0.3
    pre = np.where(new, 0, rng.poisson(rate))
    post = np.where(new, rng.poisson(4.0, n_units), rng.poisson(rate))
    variant = np.where(np.arange(n_units) % 2 == 0, "control", "treatment")
    contacts = []
    for i in range(n_units):
        contacts += [(f"p{i}_{k}", f"u{i}", -10.0 - k * 0.1) for k in range(pre[i])]
        contacts += [(f"q{i}_{k}", f"u{i}", 1.0 + k * 0.1) for k in range(post[i])]
    signup = [(T0 - timedelta(days=10 if new[i] else 400)).date() for i in range(n_units)]
    with store.write() as cur:
        cur.register(
            "cust_df",
            pl.DataFrame(
                {"customer_id": [f"u{i}" for i in range(n_units)], "signup_date": signup}
            ).to_arrow(),
        )
        cur.execute("INSERT INTO customers (customer_id, signup_date) SELECT * FROM cust_df")
        cur.register(
            "assign_df",
            pl.DataFrame(
                {"unit_id": [f"u{i}" for i in range(n_units)], "variant": variant.tolist()}
            ).to_arrow(),
        )
        cur.execute(
            "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
            "SELECT 'newcup', unit_id, variant, ? FROM assign_df",
            [_ts(0.0)],
        )
        cur.register(
            "contacts_df",
            pl.DataFrame(
                {
                    "contact_id": [c[0] for c in contacts],
                    "customer_id": [c[1] for c in contacts],
                    "opened_at": [_ts(c[2]) for c in contacts],
                }
            ).to_arrow(),
        )
        cur.execute(
            "INSERT INTO contacts (contact_id, customer_id, channel, opened_at) "
            "SELECT contact_id, customer_id, 'phone', opened_at FROM contacts_df"
        )
    create_experiment(
        store,
        {
            "experiment_id": "newcup",
            "name": "New customers",
            "primary_metric": "contacts_per_customer",
            "variants": ["control", "treatment"],
            "start_date": START,
            "end_date": END,
        },
    )
    readout = analyze(store, "newcup")

    # Pooled within-arm least squares: arm-demeaned data stacked over arms.
    stacked_y = np.concatenate(
        [post[variant == v] - post[variant == v].mean() for v in ("control", "treatment")]
    )
    stacked_x = np.vstack(
        [
            np.column_stack(
                [
                    pre[variant == v] - pre[variant == v].mean(),
                    new[variant == v] - new[variant == v].mean(),
                ]
            )
            for v in ("control", "treatment")
        ]
    )
    theta = np.linalg.lstsq(stacked_x, stacked_y, rcond=None)[0]
    expected = 1 - ((stacked_y - stacked_x @ theta) ** 2).sum() / (stacked_y**2).sum()
    assert readout.primary.cuped_variance_reduction == pytest.approx(expected, rel=1e-9)
    zero_coded = 1 - (
        (
            (
                stacked_y
                - stacked_x[:, :1] @ np.linalg.lstsq(stacked_x[:, :1], stacked_y, rcond=None)[0]
            )
            ** 2
        ).sum()
        / (stacked_y**2).sum()
    )
    assert readout.primary.cuped_variance_reduction > zero_coded + 0.05
