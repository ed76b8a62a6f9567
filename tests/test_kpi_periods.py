"""Period over period: previous window, deltas, and the probability a change is real."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from scipy import special, stats

from experiments.stats.binary import prob_b_beats_a
from experiments.stats.marginals import BetaMarginal
from metrics.periods import (
    compare_periods,
    previous_window,
    prob_real_normal,
    prob_real_rate,
    sparkline,
)
from metrics.store import Store


def prob_greater_beta(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2): the engine's P(B > A), the one
    implementation prob_real_rate uses."""
    return prob_b_beats_a(BetaMarginal(a2, b2), BetaMarginal(a1, b1))


def evan_miller_p_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Closed form P(p_B > p_A) for integer Beta parameters (Evan Miller, 2015)."""
    total = 0.0
    for i in range(a_b):
        total += math.exp(
            special.betaln(a_a + i, b_a + b_b)
            - math.log(b_b + i)
            - special.betaln(1 + i, b_b)
            - special.betaln(a_a, b_a)
        )
    return total


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"), [(12, 40, 5, 38), (30, 100, 30, 100), (3, 10, 7, 12), (0, 30, 2, 30)]
)
def test_prob_greater_beta_matches_closed_form(x1: int, n1: int, x2: int, n2: int) -> None:
    got = prob_greater_beta(1 + x1, 1 + n1 - x1, 1 + x2, 1 + n2 - x2)
    expected = evan_miller_p_b_beats_a(1 + x2, 1 + n2 - x2, 1 + x1, 1 + n1 - x1)
    assert got == pytest.approx(expected, abs=1e-6)


def test_prob_greater_beta_large_n_matches_seeded_simulation() -> None:
    a1, b1, a2, b2 = 1 + 50_400, 1 + 49_600, 1 + 50_000, 1 + 50_000
    rng = np.random.default_rng(20261122)
    draws = 400_000
    sim = float(np.mean(rng.beta(a1, b1, draws) > rng.beta(a2, b2, draws)))
    # Monte Carlo standard error ≈ √(p(1-p)/draws) ≤ 0.0008; allow 5 of them.
    assert prob_greater_beta(a1, b1, a2, b2) == pytest.approx(sim, abs=0.004)


def test_prob_real_rate_is_probability_of_the_shown_sign() -> None:
    up = prob_real_rate(60, 100, 40, 100)
    down = prob_real_rate(40, 100, 60, 100)
    assert up == pytest.approx(down, abs=1e-9) and up > 0.99
    assert prob_real_rate(30, 100, 30, 100) == 0.5


def test_prob_real_normal_matches_scipy() -> None:
    assert prob_real_normal(-2.0, 1.0, 1.5) == pytest.approx(
        stats.norm.cdf(2.0 / math.sqrt(1.0 + 2.25)), abs=1e-12
    )
    assert prob_real_normal(0.0, 1.0, 1.0) == 0.5


def test_previous_window_is_equal_length_immediately_before() -> None:
    assert previous_window(date(2026, 9, 1), date(2026, 10, 1)) == (
        date(2026, 8, 2),
        date(2026, 9, 1),
    )


def _contacts(store: Store, start: datetime, days: int, escalated_every: int, tag: str) -> None:
    with store.write() as cur:
        for i in range(days * 10):
            cur.execute(
                "INSERT INTO contacts (contact_id, channel, opened_at, escalated, handle_s) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    f"{tag}{i}",
                    "phone" if i % 2 else "chat",
                    start + timedelta(hours=2.4 * i),
                    i % escalated_every == 0,
                    100.0 + (i % 7),
                ],
            )


def test_compare_periods_clear_change_is_real_and_flat_is_noise(store: Store) -> None:
    # Previous 10 days: every 10th contact escalated (10 %); current 10 days: every 2nd (50 %).
    _contacts(store, datetime(2026, 3, 1), 10, 10, "p")
    _contacts(store, datetime(2026, 3, 11), 10, 2, "c")
    frame = compare_periods(
        store,
        ("escalation_rate", "aht", "frt_live_median", "channel_mix"),
        date(2026, 3, 11),
        date(2026, 3, 21),
    )
    rows = {(r["kpi"], r.get("channel")): r for r in frame.to_dicts()}
    esc = rows[("escalation_rate", None)]
    assert (esc["n"], esc["prev_n"]) == (100, 100)
    assert esc["value"] == pytest.approx(0.5) and esc["prev_value"] == pytest.approx(0.1)
    assert esc["delta"] == pytest.approx(0.4)
    expected = prob_greater_beta(1 + 50, 1 + 50, 1 + 10, 1 + 90)
    assert esc["prob_real"] == pytest.approx(expected, abs=1e-12)
    assert esc["prob_real"] > 0.999 and esc["noise"] is False
    # Handle times repeat the same 100..106 s cycle in both periods: no change, noise.
    aht = rows[("aht", None)]
    cycle = [100.0 + (i % 7) for i in range(100)]
    assert aht["value"] == pytest.approx(np.mean(cycle)) == aht["prev_value"]
    assert (aht["delta"], aht["prob_real"], aht["noise"]) == (pytest.approx(0.0), 0.5, True)
    # Quantiles have no standard error: no probability, treated as noise.
    frt = rows[("frt_live_median", None)]
    assert frt["prob_real"] is None and frt["noise"] is True
    assert rows[("channel_mix", "phone")]["delta"] == pytest.approx(0.0)


def test_compare_periods_empty_previous_window_has_no_delta(store: Store) -> None:
    _contacts(store, datetime(2026, 3, 11), 10, 2, "c")
    frame = compare_periods(store, ("escalation_rate",), date(2026, 3, 11), date(2026, 3, 21))
    (row,) = frame.to_dicts()
    assert (row["prev_value"], row["prev_n"], row["delta"], row["prob_real"], row["noise"]) == (
        None,
        0,
        None,
        None,
        True,
    )


def test_compare_periods_needs_both_dates(store: Store) -> None:
    with pytest.raises(ValueError, match="needs both date_from and date_to"):
        compare_periods(store, ("nps",), date(2026, 1, 1), None)


def test_sparkline_weekly_values_and_counts(store: Store) -> None:
    _contacts(store, datetime(2026, 3, 2), 14, 5, "s")  # Monday 2 March, two full weeks
    frame = sparkline(store, "escalation_rate", grain="week")
    assert frame["period"].to_list() == [date(2026, 3, 2), date(2026, 3, 9)]
    assert frame["n"].to_list() == [70, 70]
    assert frame["value"].to_list() == pytest.approx([14 / 70, 14 / 70])


def test_compare_periods_nps_uses_normal_with_nps_variance(store: Store) -> None:
    prev = [10] * 20 + [7] * 10 + [2] * 10  # p 0.5, d 0.25 -> +25
    now = [10] * 10 + [7] * 10 + [2] * 20  # p 0.25, d 0.5 -> -25
    with store.write() as cur:
        for tag, day, scores in (("p", 1, prev), ("c", 11, now)):
            for i, s in enumerate(scores):
                cur.execute(
                    "INSERT INTO surveys (response_id, answered_at, nps) VALUES (?, ?, ?)",
                    [f"{tag}{i}", datetime(2026, 3, day, 12), s],
                )
    (row,) = compare_periods(store, ("nps",), date(2026, 3, 11), date(2026, 3, 21)).to_dicts()
    se = 100 * math.sqrt(((0.5 + 0.25) - 0.25**2) / 40)  # same for both periods
    expected = stats.norm.cdf(50 / math.sqrt(2 * se * se))
    assert (row["value"], row["prev_value"], row["delta"]) == (-25.0, 25.0, -50.0)
    assert row["prob_real"] == pytest.approx(expected, abs=1e-12)
    assert row["noise"] is False and expected > 0.99
