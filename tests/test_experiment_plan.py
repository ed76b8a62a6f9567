"""Planning from the store's traffic: baseline, unit spread, sample size, duration, assurance."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from experiments.plan import (
    PlanEstimate,
    PlanningError,
    check_plan,
    plan_experiment,
    split_problems,
)
from experiments.stats import sample_size_binary, sample_size_mean
from experiments.stats.planning import sequential_sample_size

LAST = datetime(2026, 9, 30, 12, 0)


@pytest.fixture
def traffic(store):
    """80 customers with 1-4 contacts each in the last 28 days, seeded FCR flags; plus old data."""
    rng = np.random.default_rng(11)
    rows = []
    for u in range(80):
        for k in range(int(rng.integers(1, 5))):
            rows.append(
                (
                    f"c{u}_{k}",
                    f"u{u}",
                    LAST - timedelta(days=float(rng.uniform(0, 27.9))),
                    bool(rng.random() < 0.7),
                    float(rng.lognormal(6.0, 0.5)),
                )
            )
    rows.append(("old", "u999", LAST - timedelta(days=60), True, 100.0))  # outside the lookback
    rows.append(("last", "u0", LAST, True, 200.0))
    df = pl.DataFrame(
        rows, schema=["contact_id", "customer_id", "opened_at", "fcr", "handle_s"], orient="row"
    )
    with store.write() as cur:
        cur.register("df", df.to_arrow())
        cur.execute(
            "INSERT INTO contacts (contact_id, customer_id, channel, opened_at, "
            "first_contact_resolved, handle_s, abandoned, bot_handled) "
            "SELECT contact_id, customer_id, 'phone', opened_at, fcr, handle_s, FALSE, "
            "FALSE FROM df"
        )
    return df


def _per_unit(df: pl.DataFrame, value: str) -> tuple[np.ndarray, np.ndarray]:
    start = LAST - timedelta(days=28)
    per = (
        df.filter((pl.col("opened_at") > start) & (pl.col("opened_at") <= LAST))
        .group_by("customer_id")
        .agg(pl.col(value).cast(pl.Float64).sum().alias("x"), pl.len().alias("y"))
    )
    return per["x"].to_numpy(), per["y"].to_numpy().astype(float)


def test_plan_fcr_baseline_and_spread_equal_linearised_plain_python(store, traffic) -> None:
    est = plan_experiment(store, "fcr", 0.03)
    x, y = _per_unit(traffic, "fcr")
    ratio = x.sum() / y.sum()
    # Independent reference: the per-unit linearisation (x − R·y)/ȳ, whose sd is the
    # delta-method spread of a ratio (Deng et al. 2018, eq. 6).
    sd = np.std((x - ratio * y) / y.mean(), ddof=1)
    assert est.baseline == pytest.approx(ratio, rel=1e-12)
    assert est.unit_sd == pytest.approx(sd, rel=1e-9)
    # Sized for the rule that decides: one-sided 5 %, then the O'Brien–Fleming inflation for
    # one look a day over the days the single-look size would take.
    assert est.n_single_look == sample_size_mean(sd, 0.03, two_sided=False)
    assert est.looks == math.ceil(2 * est.n_single_look / (len(x) / 28))
    assert est.n_per_arm == sequential_sample_size(est.n_single_look, looks=est.looks)
    assert est.n_single_look < est.n_per_arm < 1.08 * est.n_single_look  # ≤ 60 looks: ≤ 7 %
    assert est.n_total == 2 * est.n_per_arm
    assert est.eligible_per_day == pytest.approx(len(x) / 28, rel=1e-12)
    assert est.expected_days == pytest.approx(est.n_total / (len(x) / 28), rel=1e-12)
    assert 0 < est.assurance < 1


def test_plan_relative_mde_uneven_split_uses_smallest_arm(store, traffic) -> None:
    est = plan_experiment(store, "aht", 0.10, mde_relative=True, split=(0.8, 0.2))
    x, y = _per_unit(traffic, "handle_s")
    assert est.mde == pytest.approx(0.10 * x.sum() / y.sum(), rel=1e-12)
    assert est.n_total == math.ceil(est.n_per_arm / 0.2)


def test_plan_assurance_at_planned_size_is_near_power(store, traffic) -> None:
    # Sized for 80 % power of the sequential rule looked at daily, the chance that rule ships
    # by the planned end (exact crossing probability for a ratio metric) is 80 %, up to the
    # rounding of n and the inflation computed for at most 60 looks.
    est = plan_experiment(store, "fcr", 0.05, simulations=400, seed=1)
    assert 0.78 <= est.assurance <= 0.82


def test_plan_binary_metric_uses_binary_formula(sample_store) -> None:
    est = plan_experiment(sample_store, "churn_rate", 0.01)
    assert est.family == "binary"
    assert est.n_single_look == sample_size_binary(
        est.baseline, -0.01 / est.baseline, two_sided=False
    )
    assert est.n_per_arm == sequential_sample_size(est.n_single_look, looks=est.looks)
    # The binary assurance simulates the counts look by look: near the planned 80 %.
    assert est.assurance == pytest.approx(0.8, abs=4 * est.assurance_se + 0.02)


def test_plan_empty_store_says_what_is_missing(store) -> None:
    with pytest.raises(PlanningError, match="only 0 units have fcr data in the last 28 days"):
        plan_experiment(store, "fcr", 0.03)
    with pytest.raises(PlanningError, match="MDE must be a positive number"):
        plan_experiment(store, "fcr", 0.0)


def _estimate(n_per_arm: int, per_day: float) -> PlanEstimate:
    n_total = 2 * n_per_arm
    return PlanEstimate(
        metric="fcr", label="FCR", family="ratio", lower_is_better=False, baseline=0.7,
        unit_sd=0.4, mde=0.03, mde_relative=0.04, n_per_arm=n_per_arm, n_total=n_total,
        eligible_per_day=per_day, expected_days=n_total / per_day, assurance=0.8,
        assurance_se=0.01,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        ((0.5, 0.5), []),
        ((0.25, 0.25, 0.5), ["3 shares for 2 variants"]),
        ((0.6, 0.6), ["adds up to 1.2"]),
        ((0.5, 0.0), ["every share must be above 0"]),
        ((1 / 3, 2 / 3), []),
    ],
)
def test_split_problems_flags_splits_that_are_not_one_share_each_summing_to_1(split, expected):
    problems = split_problems(("control", "variant"), split)
    assert len(problems) == len(expected)
    for problem, text in zip(problems, expected, strict=True):
        assert text in problem


def test_check_plan_durations_under_a_day_and_over_a_year_are_flagged() -> None:
    start = date(2026, 1, 1)
    # 200 units at 1000 a day: 0.2 days (4.8 hours).
    fast = check_plan(("c", "v"), (0.5, 0.5), start, date(2026, 1, 14), _estimate(100, 1000.0))
    assert fast.errors == () and "arrive in 4.8 hours" in fast.warnings[0]
    # 20,000 units at 50 a day: 400 days.
    slow = check_plan(("c", "v"), (0.5, 0.5), None, None, _estimate(10_000, 50.0))
    assert "about 400 days" in slow.warnings[0] and "more than a year" in slow.warnings[0]
    assert check_plan(("c", "v"), (0.5, 0.5), start, date(2026, 12, 31)).errors == ()
    assert "366 days" in check_plan(("c", "v"), (0.5, 0.5), start, date(2027, 1, 1)).errors[0]
    assert (
        "before the start" in check_plan(("c", "v"), (0.5, 0.5), start, date(2025, 12, 1)).errors[0]
    )


def test_check_plan_window_shorter_than_needed_reports_units_reached_by_the_end_date() -> None:
    # 1,000 per arm at 40 eligible a day on a 30/70 split: 2,000 units need 50 days; a 20-day
    # window reaches 40 · 20 · 0.3 = 240 units in the smaller arm.
    check = check_plan(
        ("c", "v"), (0.3, 0.7), date(2026, 1, 1), date(2026, 1, 20), _estimate(1000, 40.0)
    )
    assert check.errors == ()
    assert "is 20 days, but 2,000 units need about 50 days" in check.warnings[0]
    assert "about 240 per arm, not 1,000" in check.warnings[0]
    enough = check_plan(
        ("c", "v"), (0.5, 0.5), date(2026, 1, 1), date(2026, 2, 19), _estimate(1000, 40.0)
    )
    assert enough.warnings == ()


def test_plan_needs_the_kpi_minimum_sample_setting_of_units(store, traffic) -> None:
    from metrics.settings import KpiSettings, save_settings

    plan_experiment(store, "fcr", 0.05)  # 80 customers: above the default 30
    save_settings(store, KpiSettings(min_n=100))
    with pytest.raises(PlanningError, match="only 80 units have fcr data .* at least 100 are"):
        plan_experiment(store, "fcr", 0.05)


def test_plan_ces_direction_follows_the_ces_reading_setting(store) -> None:
    from metrics.settings import KpiSettings, save_settings

    rng = np.random.default_rng(5)
    with store.write() as cur:
        for u in range(60):
            cur.execute(
                "INSERT INTO surveys (response_id, customer_id, answered_at, ces) "
                "VALUES (?, ?, ?, ?)",
                [f"r{u}", f"u{u}", LAST - timedelta(days=u / 3), int(rng.integers(1, 8))],
            )
    effort = plan_experiment(store, "ces", 0.10, mde_relative=True)
    save_settings(store, KpiSettings(ces_reading="agreement"))
    agreement = plan_experiment(store, "ces", 0.10, mde_relative=True)
    assert (effort.lower_is_better, agreement.lower_is_better) == (True, False)
    # The reading turns the good side, not the size needed to see a 10 % change.
    assert (effort.baseline, effort.n_per_arm) == (agreement.baseline, agreement.n_per_arm)
