"""Period over period: previous window, deltas, and the probability a change is real."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import special, stats

from experiments.stats.binary import prob_b_beats_a
from experiments.stats.marginals import BetaMarginal
from metrics.kpi_query import KpiRequest
from metrics.periods import (
    compare_periods,
    comparison_window,
    kpi_series,
    mark_partial,
    named_period,
    period_end,
    period_start,
    previous_window,
    prob_real_normal,
    prob_real_rate,
    shift_months,
    sparkline,
    window_instants,
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


def test_overview_previous_quantiles_are_the_windows_own_percentiles(store: Store) -> None:
    """The comparison window's quantiles come without a grid (only their values are read):
    they must still be that window's exact percentiles (numpy as the reference)."""
    from metrics.periods import overview

    rng = np.random.default_rng(3)
    prev = np.round(rng.exponential(40.0, 73), 1)
    now = np.round(rng.exponential(25.0, 91), 1)
    with store.write() as cur:
        for tag, start, values in (
            ("p", datetime(2026, 3, 1), prev),
            ("c", datetime(2026, 3, 11), now),
        ):
            for i, v in enumerate(values):
                cur.execute(
                    "INSERT INTO contacts (contact_id, channel, opened_at, first_response_s) "
                    "VALUES (?, ?, ?, ?)",
                    [f"{tag}{i}", "chat" if i % 3 else "phone", start + timedelta(hours=2 * i), v],
                )
    kpis = ("frt_live_median", "frt_live_p90")
    compare, by_channel = overview(store, date(2026, 3, 11), date(2026, 3, 21), kpis=kpis)
    rows = {r["kpi"]: r for r in compare.to_dicts()}
    for kpi, level in (("frt_live_median", 50), ("frt_live_p90", 90)):
        r = rows[kpi]
        assert r["prev_value"] == pytest.approx(float(np.percentile(prev, level)), abs=1e-9)
        assert r["value"] == pytest.approx(float(np.percentile(now, level)), abs=1e-9)
        assert r["delta"] == pytest.approx(r["value"] - r["prev_value"], abs=1e-9)
        assert (r["prev_n"], r["n"]) == (73, 91) and r["ci_low"] < r["value"] < r["ci_high"]
    chat = by_channel.filter((pl.col("kpi") == "frt_live_median") & (pl.col("channel") == "chat"))
    chat_now = [v for i, v in enumerate(now) if i % 3]
    assert chat["value"].item() == pytest.approx(float(np.percentile(chat_now, 50)), abs=1e-9)


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


# -- calendar comparisons, named periods, partial periods (hand-computed dates) ----------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 3, 31), -1, date(2026, 2, 28)),  # month end -> month end
        (date(2028, 3, 31), -1, date(2028, 2, 29)),  # leap February
        (date(2029, 2, 28), -12, date(2028, 2, 29)),  # a non-leap Feb's end -> the leap Feb's
        (date(2028, 2, 29), -12, date(2027, 2, 28)),
        (date(2026, 1, 30), 1, date(2026, 2, 28)),  # no month end: the day, clamped
        (date(2026, 4, 30), -1, date(2026, 3, 31)),  # 30 April is a month end
        (date(2026, 3, 15), -1, date(2026, 2, 15)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),  # across a year
    ],
)
def test_shift_months_keeps_month_ends_and_clamps_days(day, months, expected) -> None:
    assert shift_months(day, months) == expected


def test_comparison_previous_month_of_a_whole_month_is_the_whole_month_before() -> None:
    # March 2026 (31 days) -> February 2026 (28 days); the "previous" window is 31 days back.
    assert comparison_window(date(2026, 3, 1), date(2026, 4, 1), "month") == (
        date(2026, 2, 1),
        date(2026, 3, 1),
    )
    assert comparison_window(date(2026, 3, 1), date(2026, 4, 1), "previous") == (
        date(2026, 1, 29),
        date(2026, 3, 1),
    )


def test_comparison_same_month_last_year_in_leap_years() -> None:
    # February 2028 (29 days, leap) -> February 2027 (28); February 2029 -> February 2028 (29).
    assert comparison_window(date(2028, 2, 1), date(2028, 3, 1), "year") == (
        date(2027, 2, 1),
        date(2027, 3, 1),
    )
    assert comparison_window(date(2029, 2, 1), date(2029, 3, 1), "year") == (
        date(2028, 2, 1),
        date(2028, 3, 1),
    )
    # A part of a month keeps its days: 10-20 March 2026 -> 10-20 March 2025.
    assert comparison_window(date(2026, 3, 10), date(2026, 3, 21), "year") == (
        date(2025, 3, 10),
        date(2025, 3, 21),
    )


def test_comparison_month_of_a_range_ending_on_a_month_end() -> None:
    # 15-31 March -> 15-28 February (31 March, a month end, maps to 28 February).
    assert comparison_window(date(2026, 3, 15), date(2026, 4, 1), "month") == (
        date(2026, 2, 15),
        date(2026, 3, 1),
    )


def test_comparison_refuses_unknown_kind_and_empty_period() -> None:
    with pytest.raises(ValueError, match="unknown comparison 'week'; expected one of previous"):
        comparison_window(date(2026, 3, 1), date(2026, 4, 1), "week")
    with pytest.raises(ValueError, match="must not be empty"):
        comparison_window(date(2026, 3, 1), date(2026, 3, 1))


def test_comparison_window_across_the_spring_dst_change_in_stockholm() -> None:
    # April 2026 vs March 2026: March starts at 00:00 CET (23:00 UTC the day before) and ends
    # at 00:00 CEST on 1 April (22:00 UTC 31 March): 743 hours, the clocks jumped on 29 March.
    window = comparison_window(date(2026, 4, 1), date(2026, 5, 1), "month")
    start, end = window_instants(window, "Europe/Stockholm")
    assert (start, end) == (datetime(2026, 2, 28, 23), datetime(2026, 3, 31, 22))
    assert (end - start) == timedelta(hours=31 * 24 - 1)
    # October 2026 (25-hour day on the 25th) compared with October 2025: 745 hours each.
    last_year = window_instants(
        comparison_window(date(2026, 10, 1), date(2026, 11, 1), "year"), "Europe/Stockholm"
    )
    assert last_year == (datetime(2025, 9, 30, 22), datetime(2025, 10, 31, 23))


def test_compare_periods_month_comparison_counts_the_calendar_month_before(store: Store) -> None:
    # 10 contacts a day over February and March 2026 (local days; 12:00 UTC is daytime).
    with store.write() as cur:
        day = date(2026, 2, 1)
        i = 0
        while day < date(2026, 4, 1):
            for k in range(10 if day.month == 2 else 20):
                cur.execute(
                    "INSERT INTO contacts (contact_id, channel, opened_at, escalated) "
                    "VALUES (?, 'phone', ?, ?)",
                    [f"m{i}", datetime(day.year, day.month, day.day, 12), k == 0],
                )
                i += 1
            day += timedelta(days=1)
    (row,) = compare_periods(
        store, ("escalation_rate",), date(2026, 3, 1), date(2026, 4, 1), comparison="month"
    ).to_dicts()
    assert (row["n"], row["prev_n"]) == (31 * 20, 28 * 10)
    assert row["prev_value"] == pytest.approx(0.1) and row["value"] == pytest.approx(0.05)
    (prev,) = compare_periods(
        store, ("escalation_rate",), date(2026, 3, 1), date(2026, 4, 1)
    ).to_dicts()
    assert prev["prev_n"] == 28 * 10  # 29 Jan - 28 Feb: only February has data


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("last_month", (date(2026, 8, 1), date(2026, 9, 1))),
        ("this_month", (date(2026, 9, 1), date(2026, 9, 15))),
        ("last_quarter", (date(2026, 4, 1), date(2026, 7, 1))),
        ("this_quarter", (date(2026, 7, 1), date(2026, 9, 15))),
        ("last_year", (date(2025, 1, 1), date(2026, 1, 1))),
        ("this_year", (date(2026, 1, 1), date(2026, 9, 15))),
        ("last_7_days", (date(2026, 9, 8), date(2026, 9, 15))),
        ("last_30_days", (date(2026, 8, 16), date(2026, 9, 15))),
    ],
)
def test_named_periods_count_back_from_the_data_last_day(name, expected) -> None:
    assert named_period(name, date(2026, 9, 14)) == expected


def test_named_period_unknown_says_the_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown period 'yesterday'; expected one of last_month"):
        named_period("yesterday", date(2026, 9, 14))


@pytest.mark.parametrize(
    ("day", "grain", "start", "end"),
    [
        (date(2026, 9, 17), "week", date(2026, 9, 14), date(2026, 9, 21)),  # Thursday -> Monday
        (date(2026, 11, 30), "quarter", date(2026, 10, 1), date(2027, 1, 1)),
        (date(2028, 2, 29), "quarter", date(2028, 1, 1), date(2028, 4, 1)),
        (date(2026, 6, 30), "year", date(2026, 1, 1), date(2027, 1, 1)),
        (date(2028, 2, 29), "month", date(2028, 2, 1), date(2028, 3, 1)),
    ],
)
def test_period_start_and_end(day, grain, start, end) -> None:
    assert period_start(day, grain) == start and period_end(start, grain) == end


def test_partial_marks_first_and_last_quarter_cut_by_range_or_data() -> None:
    series = pl.DataFrame(
        {"period": [date(2025, 10, 1), date(2026, 1, 1), date(2026, 4, 1), date(2026, 7, 1)]}
    )
    # Range 15 Nov 2025 - 30 Sep 2026; data from 1 Oct 2025 to 1 Oct 2026: Q4 2025 cut by the
    # range's start; Q3 2026 ends on 30 Sep, inside both: whole.
    got = mark_partial(
        series,
        "quarter",
        date(2025, 11, 15),
        date(2026, 10, 1),
        (date(2025, 10, 1), date(2026, 10, 1)),
    )
    assert got["partial"].to_list() == [True, False, False, False]
    # Data ending on 14 September 2026: the last quarter is partial, the first whole.
    got = mark_partial(series, "quarter", None, None, (date(2025, 10, 1), date(2026, 9, 14)))
    assert got["partial"].to_list() == [False, False, False, True]


def test_partial_weeks_at_both_ends_of_a_month() -> None:
    # September 2026: 1 Sep is a Tuesday (week of 31 Aug), 30 Sep a Wednesday (week of 28 Sep).
    weeks = pl.DataFrame({"period": [date(2026, 8, 31) + timedelta(days=7 * i) for i in range(5)]})
    got = mark_partial(weeks, "week", date(2026, 9, 1), date(2026, 10, 1), None)
    assert got["partial"].to_list() == [True, False, False, False, True]


def test_kpi_series_quarter_grain_counts_and_partial_flag(store: Store) -> None:
    # One contact on each day of 2026-01-01 .. 2026-05-10 (local noon): Q1 whole (90 days),
    # Q2 cut by the data's end (40 days).
    _contacts(store, datetime(2025, 12, 31, 23, 30), 130, 3, "q")  # 10 a day, 2.4 h apart
    frame = kpi_series(store, KpiRequest(kpis=("escalation_rate",), grain="quarter"))
    assert frame["period"].to_list() == [date(2026, 1, 1), date(2026, 4, 1)]
    assert frame["n"].to_list() == [900, 400]
    assert frame["partial"].to_list() == [False, True]
    year = kpi_series(store, KpiRequest(kpis=("escalation_rate",), grain="year"))
    assert year["period"].to_list() == [date(2026, 1, 1)] and year["n"].to_list() == [1300]
    assert year["partial"].to_list() == [True]
