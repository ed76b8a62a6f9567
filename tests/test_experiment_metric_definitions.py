"""One definition per metric: experiment metrics against the KPI catalogue, by hand and by query."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from experiments.metric_defs import ALIASES, METRICS, get_metric
from experiments.plan_validation import validate_plan
from experiments.readout import analyze
from experiments.readout_sql import Window, query_stats
from experiments.registry import create_experiment
from metrics.catalogue import CATALOGUE
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.repeats import refresh_repeats
from metrics.settings import KpiSettings, save_settings

T0 = datetime(2026, 3, 1)
ARMS = {"a1": "control", "a2": "control", "b1": "treatment", "b2": "treatment"}
# (contact, customer, issue_type, day offset, resolved, first_contact_resolved flag, abandoned)
CONTACTS = [
    ("k1", "a1", "billing", 1.0, True, None, False),  # repeated by k2 3 days later
    ("k2", "a1", "billing", 4.0, True, None, False),  # next same-issue contact 16 days on
    ("k3", "a1", "billing", 20.0, False, None, False),  # not resolved
    ("k4", "a1", "technical", 2.0, True, None, False),  # another issue type: no repeat
    ("k5", "a2", "order", 1.0, True, False, False),  # the file's flag wins: not FCR
    ("k6", "a2", "order", 3.0, True, True, False),  # flag wins though k7 follows
    ("k7", "a2", "order", 5.0, False, None, True),  # abandoned: out of FCR, still a repeat
    ("k8", "b1", "billing", 1.0, True, None, False),  # k9 7.5 days later: a repeat at N = 10
    ("k9", "b1", "billing", 8.5, True, None, False),
    ("k10", "b1", None, 2.0, True, None, False),  # no issue type: nothing repeats it
    ("k11", "b1", None, 3.0, True, None, False),
    ("k12", "b2", "billing", 1.0, True, None, False),  # k13 exactly 7 days later: repeat
    ("k13", "b2", "billing", 8.0, True, None, False),
    ("k14", "b2", "billing", 30.5, True, None, False),  # repeated after the window's end
    ("k15", "b2", "billing", 33.0, True, None, False),  # April: outside the window
]
START, END = date(2026, 3, 1), date(2026, 3, 31)
WINDOW_END = datetime(2026, 4, 1)


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


@pytest.fixture
def hand_store(store):
    with store.write() as cur:
        for unit, arm in ARMS.items():
            cur.execute("INSERT INTO customers (customer_id) VALUES (?)", [unit])
            cur.execute(
                "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
                "VALUES ('defs', ?, ?, ?)",
                [unit, arm, T0],
            )
        for k, unit, issue, day, resolved, flag, abandoned in CONTACTS:
            cur.execute(
                "INSERT INTO contacts (contact_id, customer_id, channel, issue_type, opened_at, "
                "resolved, first_contact_resolved, abandoned) VALUES (?, ?, 'phone', ?, ?, ?, ?, ?)",
                [k, unit, issue, _at(day), resolved, flag, abandoned],
            )
        # Written outside ingest: keep the repeat gaps the catalogue reads current, as the
        # contacts ingest does (metrics/repeats.py).
        refresh_repeats(cur)
    create_experiment(
        store,
        {
            "experiment_id": "defs",
            "name": "Definitions",
            "primary_metric": "fcr",
            "guardrails": [{"metric": "repeat_contact_rate", "tolerance": 0.05}],
            "variants": ["control", "treatment"],
            "start_date": START.isoformat(),
            "end_date": END.isoformat(),
            "status": "running",
        },
    )
    return store


def _others(c, window_days: float):
    """Other contacts by the same customer on the same issue type within N days (either side)."""
    n = timedelta(days=window_days)
    return [
        o
        for o in CONTACTS
        if o[0] != c[0] and c[2] is not None and o[1] == c[1] and o[2] == c[2]
        and abs(_at(o[3]) - _at(c[3])) <= n
    ]  # fmt: skip


def _hand_fcr(arm: str, window_days: float) -> float:
    """The catalogue's FCR written out from its definition text, per arm (pooled ratio)."""
    num = den = 0
    for c in CONTACTS:
        _, unit, _, day, resolved, flag, abandoned = c
        if ARMS[unit] != arm or abandoned or not (T0 <= _at(day) < WINDOW_END):
            continue
        den += 1
        repeat_after = any(_at(o[3]) >= _at(day) for o in _others(c, window_days))
        num += flag if flag is not None else (resolved and not repeat_after)
    return num / den


def _hand_repeat_rate(arm: str, window_days: float) -> float:
    rows = [c for c in CONTACTS if ARMS[c[1]] == arm and T0 <= _at(c[3]) < WINDOW_END]
    hits = [any(_at(o[3]) <= _at(c[3]) for o in _others(c, window_days)) for c in rows]
    return sum(hits) / len(rows)


@pytest.mark.parametrize("window_days", [7.0, 10.0, 2.0])
def test_readout_fcr_per_arm_equals_hand_computed_catalogue_fcr(hand_store, window_days):
    save_settings(hand_store, KpiSettings(fcr_window_days=window_days))
    r = analyze(hand_store, "defs", cumulative=False, cuped=False)
    fcr = r.primary.result
    assert fcr.control.mean == pytest.approx(_hand_fcr("control", window_days), abs=1e-12)
    assert fcr.variant.mean == pytest.approx(_hand_fcr("treatment", window_days), abs=1e-12)
    rep = r.guardrails[0].result
    assert rep.control.mean == pytest.approx(_hand_repeat_rate("control", window_days))
    assert rep.variant.mean == pytest.approx(_hand_repeat_rate("treatment", window_days))


def test_hand_fcr_depends_on_the_window_setting_so_the_test_can_fail():
    # Treatment at 7 days: k12 (repeated exactly 7 days on) and k14 (repeated in April) are
    # not FCR; at 10 days k9 also repeats k8. Control at 2 days: k2 no longer repeats k1.
    assert _hand_fcr("treatment", 7.0) == pytest.approx(5 / 7)
    assert _hand_fcr("treatment", 10.0) == pytest.approx(4 / 7)
    assert _hand_fcr("control", 7.0) == pytest.approx(3 / 6)
    assert _hand_fcr("control", 2.0) == pytest.approx(4 / 6)


def test_readout_fcr_pooled_equals_the_catalogue_query(hand_store):
    # Both arms together hold every contact of the month, so the readout's pooled Σx / Σy
    # must be the catalogue's own FCR and repeat-contact rate over that month.
    metrics = [METRICS["fcr"], METRICS["repeat_contact_rate"]]
    stats = query_stats(
        hand_store, "defs", metrics, Window.from_dates(START, END), by_day=False, cuped=False
    ).filter(pl.col("grouping") == "all")
    kpis = query_kpis(
        hand_store,
        KpiRequest(kpis=("fcr", "repeat_contact_rate"), date_from=START, date_to=WINDOW_END.date()),
    )
    value = dict(zip(kpis["kpi"], kpis["value"], strict=True))
    for m in metrics:
        pooled = stats[f"{m.name}__sx"].sum() / stats[f"{m.name}__sy"].sum()
        assert pooled == pytest.approx(value[m.name], abs=1e-12), m.name
    assert value["fcr"] == pytest.approx(8 / 13)  # 3/6 control + 5/7 treatment, by hand


def test_experiment_metrics_take_label_direction_and_unit_from_the_catalogue():
    from_catalogue = [m for m in METRICS.values() if m.kpi == m.name]
    assert {m.name for m in from_catalogue} >= {
        "fcr", "csat", "satisfaction_index", "ces", "nps", "aht", "escalation_rate",
        "abandonment_rate", "automation_rate", "long_wait_share", "repeat_contact_rate",
    }  # fmt: skip
    for m in from_catalogue:
        kpi = CATALOGUE[m.name]
        assert (m.label, m.direction, m.unit, m.source) == (
            kpi.label,
            kpi.direction,
            kpi.unit,
            kpi.source,
        ), m.name
        # The per-row SQL is the catalogue's: its condition / expression and its rows.
        measure = kpi.measure
        assert (measure.numerator or measure.expr) in m.numerator, m.name
        assert m.where.startswith(measure.denominator) or f"({measure.denominator})" in m.where


def test_metrics_not_defined_by_the_catalogue_do_not_borrow_its_names_or_labels():
    labels = {k.label for k in CATALOGUE.values()}
    for m in METRICS.values():
        if m.kpi == m.name:
            continue
        assert m.name not in CATALOGUE, m.name
        assert m.display_label not in labels, m.name
    mean_rt = METRICS["mean_resolution_time"]
    kpi = CATALOGUE["resolution_time"]
    assert kpi.measure.aggregation == "quantile"  # the catalogue's is a median ...
    assert mean_rt.label == "Mean resolution time (hours)"  # ... the experiment's a mean
    assert kpi.measure.expr in mean_rt.numerator and kpi.measure.denominator in mean_rt.where
    assert (mean_rt.direction, mean_rt.unit) == (kpi.direction, kpi.unit)


def test_old_metric_names_resolve_to_the_renamed_metrics():
    assert get_metric("churn_rate").name == "churn_90d"
    assert METRICS["resolution_time"].name == "mean_resolution_time"
    assert METRICS.get("churn_rate") is METRICS["churn_90d"] and METRICS.get("joy") is None
    assert set(ALIASES) <= set(CATALOGUE)  # renamed because the catalogue means another thing
    plan = validate_plan(
        {
            "name": "Old names",
            "primary_metric": "churn_rate",
            "guardrails": [{"metric": "resolution_time", "tolerance": 2}],
        }
    )
    assert plan.primary_metric == "churn_90d"
    assert plan.guardrails[0].metric == "mean_resolution_time"


# -- CES: the experiment metric reads the scale as the KPI does (the ces_reading setting) ------
# 120 customers a side (the decision needs 100 per arm) answer once each in March: control 2, 3, 4 in turn, treatment 4, 5, 6.
CES_ANSWERS = {"control": (2, 3, 4), "treatment": (4, 5, 6)}


@pytest.fixture
def ces_store(store):
    with store.write() as cur:
        for arm, answers in CES_ANSWERS.items():
            for i in range(120):
                unit = f"{arm[0]}{i}"
                cur.execute("INSERT INTO customers (customer_id) VALUES (?)", [unit])
                cur.execute(
                    "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
                    "VALUES ('ces', ?, ?, ?)",
                    [unit, arm, T0],
                )
                cur.execute(
                    "INSERT INTO surveys (response_id, customer_id, answered_at, ces) "
                    "VALUES (?, ?, ?, ?)",
                    [f"r{unit}", unit, _at(2 + i / 20), answers[i % 3]],
                )
    create_experiment(
        store,
        {
            "experiment_id": "ces",
            "name": "Effort",
            "primary_metric": "ces",
            "variants": ["control", "treatment"],
            "start_date": START.isoformat(),
            "end_date": END.isoformat(),
            "status": "running",
            "analysis": "fixed",
        },
    )
    return store


def test_ces_readout_direction_and_decision_follow_the_ces_reading_setting(ces_store):
    kpi = CATALOGUE["ces"]
    reads = {}
    for reading in ("effort", "agreement"):
        settings = KpiSettings(ces_reading=reading)
        save_settings(ces_store, settings)
        reads[reading] = analyze(ces_store, "ces", cumulative=False, cuped=False)
        # The KPI and the experiment metric agree on the direction under each reading.
        assert reads[reading].primary.lower_is_better == (kpi.direction_under(settings) == "lower")
    effort, agreement = reads["effort"], reads["agreement"]
    assert effort.primary.lower_is_better and not agreement.primary.lower_is_better
    # Treatment answers 2 points higher: worse effort, better agreement.
    p_effort = effort.primary.result.prob_variant_better
    p_agree = agreement.primary.result.prob_variant_better
    assert p_effort < 1e-6 and p_agree > 1 - 1e-6
    assert p_effort + p_agree == pytest.approx(1.0, abs=1e-9)
    assert effort.primary.result.variant.mean == pytest.approx(5.0)  # the same data, read twice
    assert (effort.decision.action, agreement.decision.action) == ("stop", "ship"), (
        effort.decision.reasons,
        agreement.decision.reasons,
    )


def test_get_metric_under_settings_flips_only_the_kpi_that_flips():
    agreement = KpiSettings(ces_reading="agreement")
    assert get_metric("ces").direction == CATALOGUE["ces"].direction == "lower"
    assert get_metric("ces", agreement).direction == "higher"
    assert get_metric("ces", KpiSettings()).direction == "lower"
    for name, m in METRICS.items():
        if name != "ces":
            assert get_metric(name, agreement).direction == m.direction, name


def test_a_kpi_metric_cannot_restate_the_catalogue_and_an_own_metric_must_state_all():
    from experiments.metric_defs import ExperimentMetric

    with pytest.raises(ValueError, match="direction and unit come from catalogue KPI 'ces'"):
        ExperimentMetric("x", "ratio", "surveys", "ces", kpi="ces", own_unit="score")
    with pytest.raises(ValueError, match="needs a label, direction, unit"):
        ExperimentMetric("x", "mean", "contacts", "1.0", own_label="X", own_direction="lower")
    with pytest.raises(ValueError, match="not in the catalogue"):
        ExperimentMetric("x", "mean", "contacts", "1.0", kpi="joy")
    own = METRICS["contacts_per_customer"]
    assert (own.unit, own.direction, own.kpi) == ("contacts", "lower", None)
