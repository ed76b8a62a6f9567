"""Planning from the store's traffic: baseline, unit spread, sample size, duration, assurance."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from experiments.plan import PlanningError, plan_experiment
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
