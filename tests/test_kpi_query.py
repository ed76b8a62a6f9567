"""Every KPI against tiny hand-built data; expected values computed in plain Python here."""

from __future__ import annotations

import math
import random
import statistics
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from metrics.kpi_query import KpiRequest, KpiRequestError, query_kpis
from metrics.repeats import refresh_repeats
from metrics.settings import load_settings, set_setting
from metrics.store import Store
from metrics.survey_links import refresh_survey_links

Z = 1.959963984540054
T0 = datetime(2026, 3, 2, 9, 0)  # a Monday

CONTACT_DEFAULTS: dict[str, Any] = {
    "customer_id": None,
    "channel": "email",
    "issue_type": "other",
    "opened_at": T0,
    "wait_s": None,
    "first_response_s": None,
    "handle_s": None,
    "abandoned": False,
    "bot_handled": False,
    "escalated": False,
    "resolved": False,
    "resolved_at": None,
    "first_contact_resolved": None,
    "team": None,
}
SURVEY_DEFAULTS: dict[str, Any] = {
    "customer_id": None,
    "contact_id": None,
    "answered_at": T0,
    "nps": None,
    "csat": None,
    "ces": None,
}
CUSTOMER_DEFAULTS: dict[str, Any] = {
    "signup_date": date(2024, 1, 1),
    "segment": "consumer",
    "tier": "basic",
    "region": "Skåne",
    "age_band": "35-49",
    "churned_at": None,
}


@pytest.fixture(autouse=True)
def _utc_business_days(request: pytest.FixtureRequest) -> None:
    """The hand-computed cases below are written in UTC days; the time-zone cut has its own
    tests (test_kpi_timezone.py)."""
    if "store" in request.fixturenames:
        set_setting(request.getfixturevalue("store"), "business.time_zone", "UTC")


def _insert(store: Store, table: str, key: str, defaults: dict, rows: list[dict]) -> None:
    cols = [key, *defaults]
    with store.write() as cur:
        for i, r in enumerate(rows):
            values = [r.get(key, f"{table}-{i}")] + [r.get(c, defaults[c]) for c in defaults]
            cur.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                values,
            )


def add_contacts(store: Store, rows: list[dict]) -> None:
    _insert(store, "contacts", "contact_id", CONTACT_DEFAULTS, rows)
    with store.write() as cur:  # as the contacts ingest does after each batch
        refresh_repeats(cur, [r.get("customer_id") for r in rows])
        refresh_survey_links(cur)


def add_surveys(store: Store, rows: list[dict]) -> None:
    _insert(store, "surveys", "response_id", SURVEY_DEFAULTS, rows)
    with store.write() as cur:  # as the surveys ingest does after each batch
        refresh_survey_links(cur)


def add_customers(store: Store, rows: list[dict]) -> None:
    _insert(store, "customers", "customer_id", CUSTOMER_DEFAULTS, rows)
    with store.write() as cur:  # as the customers ingest does after each batch
        refresh_survey_links(cur)


def one(store: Store, kpi: str, **kw: Any) -> dict:
    frame = query_kpis(store, KpiRequest(kpis=(kpi,), **kw))
    assert frame.height == 1, frame
    return frame.to_dicts()[0]


def rows_by(store: Store, kpi: str, dim: str, **kw: Any) -> dict[str, dict]:
    frame = query_kpis(store, KpiRequest(kpis=(kpi,), **kw))
    return {r[dim]: r for r in frame.to_dicts()}


def wilson_by_roots(x: int, n: int) -> tuple[float, float]:
    """Wilson interval as the roots of (p̂ − p)² = z²·p(1 − p)/n (independent of the code's form)."""
    ph = x / n
    a = 1 + Z * Z / n
    b = -(2 * ph + Z * Z / n)
    c = ph * ph
    lo, hi = sorted(np.roots([a, b, c]).real)
    return max(0.0, lo), min(1.0, hi)


# -- survey KPIs ---------------------------------------------------------------------------


def test_nps_random_scores_match_hand_formula_with_interval(store: Store) -> None:
    rng = random.Random(11)
    scores = [rng.randint(0, 10) for _ in range(250)]
    add_surveys(store, [{"nps": s} for s in scores])
    n = len(scores)
    p = sum(s >= 9 for s in scores) / n
    d = sum(s <= 6 for s in scores) / n
    se = math.sqrt(((p + d) - (p - d) ** 2) / n) * 100
    r = one(store, "nps")
    assert r["n"] == n
    assert r["value"] == pytest.approx(100 * (p - d), abs=1e-9)
    assert r["ci_low"] == pytest.approx(100 * (p - d) - Z * se, abs=1e-9)
    assert r["ci_high"] == pytest.approx(100 * (p - d) + Z * se, abs=1e-9)


def test_nps_all_detractors_is_minus_100(store: Store) -> None:
    add_surveys(store, [{"nps": s} for s in [0, 3, 6, 6, 1] * 8])
    r = one(store, "nps")
    assert r["value"] == -100.0 and r["n"] == 40
    assert r["ci_low"] == r["ci_high"] == -100.0
    assert r["status"] == "misses"  # -100 vs target 20, n 40 ≥ 30


def test_survey_kpis_no_responses_have_no_value_and_n_0(store: Store) -> None:
    frame = query_kpis(store, KpiRequest(kpis=("nps", "csat", "satisfaction_index", "ces")))
    assert frame["kpi"].to_list() == ["nps", "csat", "satisfaction_index", "ces"]
    assert frame["value"].to_list() == [None] * 4
    assert frame["n"].to_list() == [0] * 4
    assert frame["status"].to_list() == [None] * 4
    assert frame["small_sample"].to_list() == [True] * 4
    assert frame["reason"].to_list() == [
        f"no surveys file loaded (surveys.{k})" for k in ("nps", "csat", "csat", "ces")
    ]


def test_nps_single_response_has_value_but_no_status(store: Store) -> None:
    add_surveys(store, [{"nps": 9, "csat": 2, "ces": 5}])
    r = one(store, "nps")
    assert (r["value"], r["n"], r["small_sample"], r["status"]) == (100.0, 1, True, None)
    si = one(store, "satisfaction_index")
    assert si["value"] == 25.0 and si["ci_low"] is None  # one answer has no spread


def test_nps_ignores_answers_without_score(store: Store) -> None:
    add_surveys(store, [{"nps": 10}, {"nps": None, "csat": 5}, {"nps": 0}])
    r = one(store, "nps")
    assert (r["value"], r["n"]) == (0.0, 2)


def test_csat_top2_share_with_wilson_interval(store: Store) -> None:
    answers = [5, 4, 4, 3, 2, 1, 5, 5, 4, 3, 2, 5] * 5  # 60 answers
    add_surveys(store, [{"csat": c} for c in answers])
    x = sum(c >= 4 for c in answers)
    r = one(store, "csat")
    assert r["n"] == 60 and r["value"] == pytest.approx(x / 60, abs=1e-12)
    lo, hi = wilson_by_roots(x, 60)
    assert r["ci_low"] == pytest.approx(lo, abs=1e-9)
    assert r["ci_high"] == pytest.approx(hi, abs=1e-9)


def test_satisfaction_index_mean_of_rescaled_csat_with_normal_interval(store: Store) -> None:
    answers = [5, 4, 4, 3, 2, 1, 5, 5, 4, 3] * 4
    add_surveys(store, [{"csat": c} for c in answers])
    scaled = [(c - 1) / 4 * 100 for c in answers]
    mean = statistics.fmean(scaled)
    half = Z * statistics.stdev(scaled) / math.sqrt(len(scaled))
    r = one(store, "satisfaction_index")
    assert r["value"] == pytest.approx(mean, abs=1e-9)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((mean - half, mean + half), abs=1e-9)
    assert r["target"] == 72.0
    # Judged with the normal spread (scipy as the reference): P(meets) = P(θ ≥ 72),
    # P(misses) = P(θ < 72 − 5), 5 = 5 % of the 0-100 scale.
    se = statistics.stdev(scaled) / math.sqrt(len(scaled))
    assert r["p_meets"] == pytest.approx(stats.norm.sf(72.0, mean, se), abs=1e-8)
    assert r["p_misses"] == pytest.approx(stats.norm.cdf(67.0, mean, se), abs=1e-8)
    # 62.5 is 4.5 under the tolerance edge with se ≈ 5: not surely that far off, no red.
    assert 0.1 < r["p_misses"] < 0.9 and r["status"] == "unclear"


def test_satisfaction_index_misses_only_when_probably_beyond_the_tolerance(store: Store) -> None:
    answers = [5, 4, 4, 3, 2, 1, 5, 5, 4, 3] * 100  # same mean 62.5, n = 1000: se ≈ 1.0
    add_surveys(store, [{"csat": c} for c in answers])
    r = one(store, "satisfaction_index")
    assert r["p_misses"] > 0.9 and r["status"] == "misses"


def test_ces_effort_reading_is_lower_better_with_target_3(store: Store) -> None:
    answers = [1, 2, 3, 2, 2, 3] * 6  # mean 13/6 ≈ 2.17
    add_surveys(store, [{"ces": c} for c in answers])
    r = one(store, "ces")
    assert r["value"] == pytest.approx(statistics.fmean(answers), abs=1e-12)
    assert (r["target"], r["status"]) == (3.0, "meets")


def test_ces_agreement_reading_flips_direction_and_target(store: Store) -> None:
    answers = [1, 2, 3, 2, 2, 3] * 6
    add_surveys(store, [{"ces": c} for c in answers])
    set_setting(store, "kpi.ces_reading", "agreement")
    r = one(store, "ces")
    # Read as agreement (7 = easiest), 2.17 is far below the mirrored target 5.
    assert (r["target"], r["status"]) == (5.0, "misses")


def test_survey_kpis_cut_by_linked_contact_channel_and_customer_segment(store: Store) -> None:
    add_customers(store, [{"customer_id": "a", "segment": "business"}, {"customer_id": "b"}])
    add_contacts(
        store,
        [
            {"contact_id": "c1", "channel": "chat", "customer_id": "a"},
            {"contact_id": "c2", "channel": "phone", "customer_id": "b"},
        ],
    )
    add_surveys(
        store,
        [
            {"contact_id": "c1", "customer_id": "a", "nps": 10},
            {"contact_id": "c1", "customer_id": "a", "nps": 9},
            {"contact_id": "c2", "customer_id": "b", "nps": 2},
            # no customer on the survey: taken from the linked contact
            {"contact_id": "c2", "customer_id": None, "nps": 8},
        ],
    )
    by_channel = rows_by(store, "nps", "channel", by=("channel",))
    assert by_channel["chat"]["value"] == 100.0 and by_channel["chat"]["n"] == 2
    assert by_channel["phone"]["value"] == -50.0 and by_channel["phone"]["n"] == 2
    by_segment = rows_by(store, "nps", "segment", by=("segment",))
    assert by_segment["business"]["n"] == 2 and by_segment["consumer"]["n"] == 2


# -- contact KPIs --------------------------------------------------------------------------


def test_fcr_derived_repeat_at_6_9_days_cancels_but_7_1_days_does_not(store: Store) -> None:
    add_contacts(
        store,
        [
            # x: resolved, repeat on the same issue after 6.9 days -> not FCR
            {"customer_id": "x", "issue_type": "billing", "resolved": True, "opened_at": T0},
            {
                "customer_id": "x",
                "issue_type": "billing",
                "resolved": True,
                "opened_at": T0 + timedelta(days=6.9),
            },
            # y: resolved, repeat after 7.1 days -> FCR
            {"customer_id": "y", "issue_type": "billing", "resolved": True, "opened_at": T0},
            {
                "customer_id": "y",
                "issue_type": "billing",
                "resolved": True,
                "opened_at": T0 + timedelta(days=7.1),
            },
        ],
    )
    rows = query_kpis(
        store,
        KpiRequest(
            kpis=("fcr",),
            by=("issue_type",),
            date_from=T0.date(),
            date_to=T0.date() + timedelta(days=1),
        ),
    ).to_dicts()
    # Only the two first contacts are in the window; x's is cancelled, y's is not.
    assert rows[0]["n"] == 2 and rows[0]["value"] == 0.5
    everything = one(store, "fcr")
    # All four: x1 no, x2 yes (no later repeat), y1 yes, y2 yes.
    assert (everything["n"], everything["value"]) == (4, 0.75)


def test_fcr_repeat_after_the_period_end_still_cancels(store: Store) -> None:
    add_contacts(
        store,
        [
            {
                "customer_id": "x",
                "issue_type": "order",
                "resolved": True,
                "opened_at": datetime(2026, 3, 31, 20, 0),
            },
            {
                "customer_id": "x",
                "issue_type": "order",
                "resolved": True,
                "opened_at": datetime(2026, 4, 2, 8, 0),
            },
        ],
    )
    r = one(store, "fcr", date_from=date(2026, 3, 1), date_to=date(2026, 4, 1))
    assert (r["n"], r["value"]) == (1, 0.0)


def test_fcr_and_repeats_look_up_to_n_days_outside_the_period(store: Store) -> None:
    start, end = datetime(2026, 3, 1), datetime(2026, 4, 1)
    add_contacts(
        store,
        [
            # just before the end; its repeat 6.99 days later, well after the end
            {
                "customer_id": "x",
                "issue_type": "order",
                "resolved": True,
                "opened_at": end - timedelta(minutes=1),
            },
            {
                "customer_id": "x",
                "issue_type": "order",
                "opened_at": end - timedelta(minutes=1) + timedelta(days=6.99),
            },
            # just after the start; the same issue 6.9 days before the start
            {"customer_id": "y", "issue_type": "billing", "opened_at": start - timedelta(days=6.9)},
            {
                "customer_id": "y",
                "issue_type": "billing",
                "resolved": True,
                "opened_at": start + timedelta(minutes=1),
            },
        ],
    )
    window = {"date_from": start.date(), "date_to": end.date()}
    fcr = one(store, "fcr", **window)
    # x's contact is cancelled by its repeat; y's in-period contact has no repeat after it.
    assert (fcr["n"], fcr["value"]) == (2, 0.5)
    rep = one(store, "repeat_contact_rate", **window)
    assert (rep["n"], rep["value"]) == (2, 0.5)  # y's contact repeats the one before the start


def test_fcr_other_issue_type_or_customer_does_not_cancel_and_window_is_a_setting(
    store: Store,
) -> None:
    add_contacts(
        store,
        [
            {"customer_id": "x", "issue_type": "order", "resolved": True, "opened_at": T0},
            {"customer_id": "x", "issue_type": "billing", "opened_at": T0 + timedelta(days=1)},
            {"customer_id": "y", "issue_type": "order", "resolved": True, "opened_at": T0},
            {"customer_id": "y", "issue_type": "order", "opened_at": T0 + timedelta(days=8)},
        ],
    )
    window = {"date_from": T0.date(), "date_to": T0.date() + timedelta(days=1)}
    assert one(store, "fcr", **window)["value"] == 1.0
    set_setting(store, "kpi.fcr_window_days", 10)
    assert one(store, "fcr", **window)["value"] == 0.5  # y's repeat at 8 days now counts


def test_fcr_file_flag_wins_over_derivation_and_abandoned_are_excluded(store: Store) -> None:
    add_contacts(
        store,
        [
            {"resolved": True, "first_contact_resolved": False},  # flag says no
            {"resolved": False, "first_contact_resolved": True},  # flag says yes
            {"resolved": True},  # derived: yes (no customer, so no repeat)
            {"resolved": False},  # derived: no
            {"abandoned": True, "resolved": False},
        ],  # not in the denominator
    )
    r = one(store, "fcr")
    assert (r["n"], r["value"]) == (4, 0.5)


def test_aht_means_agent_handled_only(store: Store) -> None:
    handle = [300.0, 420.0, 180.0, 600.0]
    add_contacts(
        store,
        [{"handle_s": h} for h in handle]
        + [
            {"handle_s": 50.0, "bot_handled": True},
            {"handle_s": 5.0, "abandoned": True},
            {"handle_s": None},
        ],
    )
    r = one(store, "aht")
    assert r["n"] == 4 and r["value"] == pytest.approx(statistics.fmean(handle))
    half = Z * statistics.stdev(handle) / 2
    assert r["ci_high"] - r["value"] == pytest.approx(half, rel=1e-9)
    assert r["target"] is None and r["status"] is None


def test_frt_live_median_and_p90_match_numpy_linear_percentiles(store: Store) -> None:
    rng = random.Random(5)
    frt = [round(rng.expovariate(1 / 40), 1) for _ in range(101)]
    rows = [{"first_response_s": v, "channel": "chat"} for v in frt]
    # An e-mail answered in hours is not a live contact: it must not move the live median.
    add_contacts(store, rows + [{"first_response_s": 7200.0, "channel": "email"}, {}])
    med = one(store, "frt_live_median")
    p90 = one(store, "frt_live_p90")
    assert med["n"] == 101 and p90["n"] == 101
    assert med["value"] == pytest.approx(float(np.percentile(frt, 50)), abs=1e-9)
    assert p90["value"] == pytest.approx(float(np.percentile(frt, 90)), abs=1e-9)
    # Distribution-free interval: the quantiles at 0.5 ± 1.96·√(0.25/101) = 0.4025 / 0.5975,
    # read between the grid's levels 0.40-0.45 and 0.55-0.60 (numpy as the reference).
    assert np.percentile(frt, 40) <= med["ci_low"] <= np.percentile(frt, 45)
    assert np.percentile(frt, 55) <= med["ci_high"] <= np.percentile(frt, 60)


def test_values_without_intervals_are_the_same_quantiles_without_interval_or_status(
    store: Store,
) -> None:
    """intervals=False (a comparison window's request): quantiles at their level only, the
    same values; every other KPI as with intervals."""
    rng = random.Random(11)
    frt = [round(rng.expovariate(1 / 40), 1) for _ in range(57)]
    add_contacts(
        store,
        [{"first_response_s": v, "channel": "chat", "handle_s": v + 60} for v in frt],
    )
    kpis = ("frt_live_median", "frt_live_p90", "aht")
    full = {r["kpi"]: r for r in query_kpis(store, KpiRequest(kpis=kpis)).to_dicts()}
    bare = {
        r["kpi"]: r for r in query_kpis(store, KpiRequest(kpis=kpis, intervals=False)).to_dicts()
    }
    for kpi, level in (("frt_live_median", 50), ("frt_live_p90", 90)):
        assert bare[kpi]["value"] == pytest.approx(float(np.percentile(frt, level)), abs=1e-9)
        assert bare[kpi]["value"] == full[kpi]["value"] and bare[kpi]["n"] == 57
        assert bare[kpi]["ci_low"] is None and bare[kpi]["ci_high"] is None
        assert bare[kpi]["status"] is None and full[kpi]["ci_low"] is not None
    assert bare["aht"] == full["aht"]


def test_frt_written_median_is_in_hours_of_written_channels_only(store: Store) -> None:
    seconds = [3600.0, 7200.0, 36000.0, 90000.0, 1800.0]
    add_contacts(
        store,
        [
            {"first_response_s": v, "channel": ch}
            for v, ch in zip(seconds, ("email", "sms", "app", "social", "web_form"), strict=True)
        ]
        + [
            {"first_response_s": 5.0, "channel": "chat"},
            {"first_response_s": 9.0, "channel": "web"},
        ],
    )
    r = one(store, "frt_written_median")
    assert (r["n"], r["value"]) == (5, pytest.approx(statistics.median(seconds) / 3600.0))


def test_frt_live_median_target_applies_to_chat_cells_only(store: Store) -> None:
    add_contacts(
        store,
        [{"first_response_s": 20.0, "channel": "chat"}] * 1
        + [{"contact_id": f"p{i}", "first_response_s": 90.0, "channel": "phone"} for i in range(3)],
    )
    cells = rows_by(store, "frt_live_median", "channel", by=("channel",))
    assert cells["chat"]["target"] == 30.0 and cells["phone"]["target"] is None
    assert one(store, "frt_live_median")["target"] is None  # channels mixed: not comparable
    assert one(store, "frt_live_median", filters={"channel": ("chat",)})["target"] == 30.0


def test_chat_median_meets_30s_probably_with_its_probability(store: Store) -> None:
    # 200 chats, 80 % answered within 20 s: the median is surely under 30 s.
    rows = [
        {"contact_id": f"c{i}", "channel": "chat", "first_response_s": 10.0 + (i % 10)}
        for i in range(160)
    ]
    rows += [
        {"contact_id": f"d{i}", "channel": "chat", "first_response_s": 100.0} for i in range(40)
    ]
    add_contacts(store, rows)
    r = one(store, "frt_live_median", filters={"channel": ("chat",)})
    # Reference: F̂(30) = 0.8 (exactly, all values ≤ 30 are the 160 fast ones, and the grid
    # reaches 0.7 only, so F̂ is read at the top level 0.7 — a lower bound); P(median ≤ 30) =
    # P(F(30) ≥ 0.5) with F ~ Beta(1 + 200·0.7, 1 + 200·0.3) is at least this:
    assert r["p_meets"] >= stats.beta.sf(0.5, 1 + 140, 1 + 60) - 1e-12
    assert r["status"] == "meets"


def test_per_channel_and_per_team_targets_override_the_kpi_target(store: Store) -> None:
    from metrics.targets import set_target

    rows = [
        {"contact_id": f"{ch}{i}", "channel": ch, "team": team, "resolved": True}
        for ch, team in (("phone", "north"), ("email", "south"))
        for i in range(40)
    ]
    add_contacts(store, rows)
    set_target(store, "fcr", 0.9, scope=("channel", "email"))
    set_target(store, "fcr", 0.6, scope=("team", "north"))
    by_channel = rows_by(store, "fcr", "channel", by=("channel",))
    assert by_channel["email"]["target"] == 0.9 and by_channel["phone"]["target"] == 0.8
    by_team = rows_by(store, "fcr", "team", by=("team",))
    assert by_team["north"]["target"] == 0.6 and by_team["south"]["target"] == 0.8
    assert one(store, "fcr", filters={"channel": ("email",)})["target"] == 0.9
    assert one(store, "fcr")["target"] == 0.8
    with pytest.raises(ValueError, match="scoped to one value of channel, team"):
        set_target(store, "fcr", 0.5, scope=("segment", "consumer"))


def test_resolution_time_is_median_hours_of_resolved(store: Store) -> None:
    hours = [1.0, 2.5, 30.0, 200.0, 4.0]
    add_contacts(
        store,
        [{"resolved": True, "resolved_at": T0 + timedelta(hours=h)} for h in hours]
        + [{"resolved": False}, {"resolved": True, "resolved_at": None}],
    )
    r = one(store, "resolution_time")
    assert (r["n"], r["value"]) == (5, pytest.approx(statistics.median(hours), abs=1e-9))


def test_escalation_and_abandonment_rates_count_known_flags(store: Store) -> None:
    add_contacts(
        store,
        [
            {"escalated": True},
            {"escalated": False},
            {"escalated": False},
            {"escalated": None},
            {"abandoned": True},
            {"abandoned": None},
        ],
    )
    esc = one(store, "escalation_rate")
    assert (esc["n"], esc["value"]) == (5, pytest.approx(1 / 5))
    ab = one(store, "abandonment_rate")
    assert (ab["n"], ab["value"]) == (5, pytest.approx(1 / 5))


def test_service_level_uses_channel_thresholds_inclusive(store: Store) -> None:
    add_contacts(
        store,
        [
            {"channel": "phone", "wait_s": 20.0},  # in
            {"channel": "phone", "wait_s": 21.0},  # out
            {"channel": "chat", "wait_s": 30.0},  # in
            {"channel": "chat", "wait_s": 31.0},  # out
            {"channel": "phone", "wait_s": 5.0, "abandoned": True},  # out: never answered
            {"channel": "email", "wait_s": 1.0},
        ],  # not a queued channel
    )
    r = one(store, "service_level")
    assert (r["n"], r["value"]) == (5, pytest.approx(2 / 5))
    set_setting(store, "kpi.sl_phone_s", 25.0)
    assert one(store, "service_level")["value"] == pytest.approx(3 / 5)


def test_repeat_contact_rate_counts_same_issue_within_window(store: Store) -> None:
    add_contacts(
        store,
        [
            {"customer_id": "x", "issue_type": "order", "opened_at": T0},
            {"customer_id": "x", "issue_type": "order", "opened_at": T0 + timedelta(days=3)},
            {"customer_id": "x", "issue_type": "order", "opened_at": T0 + timedelta(days=11)},
            {"customer_id": "x", "issue_type": "billing", "opened_at": T0 + timedelta(days=12)},
            {"customer_id": None, "issue_type": "order", "opened_at": T0},
        ],  # not in n
    )
    r = one(store, "repeat_contact_rate")
    # Repeats: the day-3 contact (3 d after day 0). Day 11 is 8 d after day 3 -> not.
    assert (r["n"], r["value"]) == (4, pytest.approx(1 / 4))


def test_automation_rate_is_bot_resolved_without_human(store: Store) -> None:
    add_contacts(
        store,
        [
            {"bot_handled": True, "resolved": True},
            {"bot_handled": True, "resolved": True, "escalated": True},
            {"bot_handled": True, "resolved": False},
            {"bot_handled": False, "resolved": True},
        ],
    )
    r = one(store, "automation_rate")
    assert (r["n"], r["value"], r["target"]) == (4, 0.25, 0.45)


def test_long_wait_share_counts_phone_waits_over_600s(store: Store) -> None:
    add_contacts(
        store,
        [
            {"channel": "phone", "wait_s": 600.0},
            {"channel": "phone", "wait_s": 601.0},
            {"channel": "phone", "wait_s": 30.0},
            {"channel": "phone", "wait_s": None},
            {"channel": "chat", "wait_s": 900.0},
        ],
    )
    r = one(store, "long_wait_share")
    assert (r["n"], r["value"]) == (3, pytest.approx(1 / 3))


def test_channel_mix_is_share_per_channel_within_each_group(store: Store) -> None:
    chans = ["phone"] * 6 + ["email"] * 3 + ["chat"]
    teams = ["a"] * 5 + ["b"] * 5
    add_contacts(store, [{"channel": c, "team": t} for c, t in zip(chans, teams, strict=True)])
    mix = rows_by(store, "channel_mix", "channel")
    assert {c: r["value"] for c, r in mix.items()} == {"phone": 0.6, "email": 0.3, "chat": 0.1}
    assert all(r["n"] == 10 for r in mix.values())
    by_team = query_kpis(store, KpiRequest(kpis=("channel_mix",), by=("team",))).to_dicts()
    got = {(r["team"], r["channel"]): (r["value"], r["n"]) for r in by_team}
    # team a: 5 phone; team b: 1 phone, 3 email, 1 chat
    assert got == {
        ("a", "phone"): (1.0, 5),
        ("b", "chat"): (0.2, 5),
        ("b", "email"): (0.6, 5),
        ("b", "phone"): (0.2, 5),
    }


# -- churn ---------------------------------------------------------------------------------


def test_churn_rate_monthly_excludes_mid_month_joiners_from_denominator(store: Store) -> None:
    add_customers(
        store,
        [
            {"customer_id": "old1", "signup_date": date(2025, 6, 1)},
            {
                "customer_id": "old2",
                "signup_date": date(2025, 6, 1),
                "churned_at": date(2026, 1, 20),
            },
            {
                "customer_id": "old3",
                "signup_date": date(2025, 6, 1),
                "churned_at": date(2026, 2, 1),
            },
            # joins mid-January and churns in January: in neither side of January
            {
                "customer_id": "mid",
                "signup_date": date(2026, 1, 10),
                "churned_at": date(2026, 1, 25),
            },
            # joins mid-January, stays: in February's denominator only
            {"customer_id": "new", "signup_date": date(2026, 1, 15)},
        ],
    )
    rows = query_kpis(
        store,
        KpiRequest(
            kpis=("churn_rate",),
            grain="month",
            date_from=date(2026, 1, 1),
            date_to=date(2026, 3, 1),
        ),
    ).to_dicts()
    got = {r["period"]: (r["value"], r["n"]) for r in rows}
    # Jan: active at start old1..old3 = 3, lost old2 = 1. Feb: old1, old3, new = 3, lost old3.
    assert got == {
        date(2026, 1, 1): (pytest.approx(1 / 3), 3),
        date(2026, 2, 1): (pytest.approx(1 / 3), 3),
    }
    pooled = one(store, "churn_rate", date_from=date(2026, 1, 1), date_to=date(2026, 3, 1))
    assert (pooled["n"], pooled["value"]) == (6, pytest.approx(2 / 6))


def test_churn_rate_without_dates_starts_at_first_recorded_activity(store: Store) -> None:
    # Signed up in 2010, but the export's first record (a contact) is from March 2026: the
    # months before cannot show churn, so they are not reported as 0 % churn.
    add_customers(
        store,
        [
            {"customer_id": "a", "signup_date": date(2010, 5, 1)},
            {
                "customer_id": "b",
                "signup_date": date(2010, 5, 1),
                "churned_at": date(2026, 4, 10),
            },
        ],
    )
    add_contacts(store, [{"customer_id": "a", "opened_at": datetime(2026, 3, 15, 9, 0)}])
    rows = query_kpis(store, KpiRequest(kpis=("churn_rate",), grain="month")).to_dicts()
    got = {r["period"]: (r["value"], r["n"]) for r in rows}
    # March: a and b active, none lost. April: b lost of 2.
    assert got == {
        date(2026, 3, 1): (pytest.approx(0.0), 2),
        date(2026, 4, 1): (pytest.approx(0.5), 2),
    }
    # An explicit start in 2025 (a comparison with last year) starts there too: no 0 % months.
    rows = query_kpis(
        store,
        KpiRequest(
            kpis=("churn_rate",),
            grain="month",
            date_from=date(2025, 1, 1),
            date_to=date(2026, 5, 1),
        ),
    ).to_dicts()
    assert [r["period"] for r in rows] == [date(2026, 3, 1), date(2026, 4, 1)]
    # Quarters pool their months: Q1 is March alone (0 of 2), Q2 April (1 of 2).
    rows = query_kpis(store, KpiRequest(kpis=("churn_rate",), grain="quarter")).to_dicts()
    assert {r["period"]: (r["value"], r["n"]) for r in rows} == {
        date(2026, 1, 1): (pytest.approx(0.0), 2),
        date(2026, 4, 1): (pytest.approx(0.5), 2),
    }


def test_churn_rate_by_segment_and_empty_store(store: Store) -> None:
    assert one(store, "churn_rate")["n"] == 0
    add_customers(
        store,
        [
            {
                "customer_id": "a",
                "signup_date": date(2025, 12, 5),
                "segment": "business",
                "churned_at": date(2026, 1, 3),
            },
            {"customer_id": "b", "signup_date": date(2025, 12, 5)},
        ],
    )
    cells = rows_by(
        store,
        "churn_rate",
        "segment",
        by=("segment",),
        date_from=date(2026, 1, 1),
        date_to=date(2026, 2, 1),
    )
    assert cells["business"]["value"] == 1.0 and cells["consumer"]["value"] == 0.0


def test_churn_by_satisfaction_counts_churn_within_90_days_per_band(store: Store) -> None:
    answered = datetime(2026, 1, 10, 12, 0)
    add_customers(
        store,
        [
            {"customer_id": "c89", "churned_at": answered.date() + timedelta(days=89)},
            {"customer_id": "c91", "churned_at": answered.date() + timedelta(days=91)},
            {"customer_id": "stay"},
            {"customer_id": "before", "churned_at": answered.date() - timedelta(days=1)},
        ],
    )
    add_surveys(
        store,
        [
            {"customer_id": "c89", "csat": 1, "answered_at": answered},
            {"customer_id": "c91", "csat": 1, "answered_at": answered},
            {"customer_id": "stay", "csat": 5, "answered_at": answered},
            {"customer_id": "before", "csat": 5, "answered_at": answered},
            # 89 days before the latest answer: not yet followed for 90 days, left out
            {"customer_id": "c89", "csat": 3, "answered_at": datetime(2026, 4, 12, 12)},
            # the latest answer (no CSAT) sets the end of observation
            {"customer_id": "stay", "nps": 9, "answered_at": datetime(2026, 7, 10, 9)},
        ],
    )
    cells = rows_by(store, "churn_by_satisfaction", "satisfaction_band")
    assert set(cells) == {"very dissatisfied", "very satisfied"}
    assert (cells["very dissatisfied"]["value"], cells["very dissatisfied"]["n"]) == (0.5, 2)
    assert (cells["very satisfied"]["value"], cells["very satisfied"]["n"]) == (0.0, 2)
    assert cells["very dissatisfied"]["target"] == 0.73
    assert cells["very satisfied"]["target"] == 0.04
    assert cells["very dissatisfied"]["status"] is None  # a reference, never judged


# -- request shape: dims, filters, grain, dates, small samples -----------------------------


def test_kpis_by_dimension_match_python_grouping(store: Store) -> None:
    rng = random.Random(3)
    rows = [
        {"channel": rng.choice(["phone", "chat", "email"]), "escalated": rng.random() < 0.3}
        for _ in range(300)
    ]
    add_contacts(store, rows)
    cells = rows_by(store, "escalation_rate", "channel", by=("channel",))
    for ch in ("phone", "chat", "email"):
        sub = [r["escalated"] for r in rows if r["channel"] == ch]
        assert cells[ch]["n"] == len(sub)
        assert cells[ch]["value"] == pytest.approx(sum(sub) / len(sub), abs=1e-12)


def test_filters_keep_only_listed_values_and_bind_them_safely(store: Store) -> None:
    add_contacts(
        store, [{"channel": "phone", "escalated": True}, {"channel": "chat"}, {"channel": "email"}]
    )
    r = one(store, "escalation_rate", filters={"channel": ("phone", "chat")})
    assert (r["n"], r["value"]) == (2, 0.5)
    evil = one(store, "escalation_rate", filters={"channel": ("x' OR 1=1 --",)})
    assert evil["n"] == 0


def test_grain_week_and_month_periods_match_python_calendar(store: Store) -> None:
    days = [T0 + timedelta(days=i, hours=5) for i in range(0, 40, 3)]
    add_contacts(store, [{"opened_at": d, "escalated": i % 2 == 0} for i, d in enumerate(days)])
    for grain, start in (
        ("week", lambda d: d.date() - timedelta(days=d.weekday())),
        ("month", lambda d: d.date().replace(day=1)),
    ):
        rows = query_kpis(store, KpiRequest(kpis=("escalation_rate",), grain=grain)).to_dicts()
        expected: dict[date, list[bool]] = {}
        for i, d in enumerate(days):
            expected.setdefault(start(d), []).append(i % 2 == 0)
        assert [r["period"] for r in rows] == sorted(expected)
        for r in rows:
            flags = expected[r["period"]]
            assert (r["n"], r["value"]) == (len(flags), pytest.approx(sum(flags) / len(flags)))


def test_date_from_is_inclusive_and_date_to_exclusive(store: Store) -> None:
    add_contacts(
        store,
        [
            {"opened_at": datetime(2026, 3, 1, 0, 0, 0)},
            {"opened_at": datetime(2026, 3, 31, 23, 59, 59)},
            {"opened_at": datetime(2026, 4, 1, 0, 0, 0)},
            {"opened_at": datetime(2026, 2, 28, 23, 59, 59)},
        ],
    )
    add_surveys(
        store,
        [
            {"answered_at": datetime(2026, 4, 1), "nps": 10},
            {"answered_at": datetime(2026, 3, 1), "nps": 0},
        ],
    )
    window = {"date_from": date(2026, 3, 1), "date_to": date(2026, 4, 1)}
    assert one(store, "escalation_rate", **window)["n"] == 2
    r = one(store, "nps", **window)
    assert (r["n"], r["value"]) == (1, -100.0)


def test_small_sample_flag_and_status_switch_at_min_n_30(store: Store) -> None:
    add_contacts(store, [{"bot_handled": True, "resolved": True} for _ in range(29)])
    r = one(store, "automation_rate")
    assert (r["n"], r["small_sample"], r["status"]) == (29, True, None)
    add_contacts(store, [{"contact_id": "extra", "bot_handled": True, "resolved": True}])
    r = one(store, "automation_rate")
    assert (r["n"], r["small_sample"], r["status"]) == (30, False, "meets")


def test_empty_request_returns_all_kpis_applicable_to_filters(store: Store) -> None:
    frame = query_kpis(store, KpiRequest(filters={"channel": ("phone",)}))
    kpis = set(frame["kpi"].to_list())
    assert "churn_rate" not in kpis  # cannot be filtered by channel
    assert {"nps", "fcr", "aht"} <= kpis


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kpis": ("npx",)}, "unknown KPI npx; valid KPIs: nps, csat"),
        ({"by": ("colour",)}, "unknown dimension colour; valid: channel"),
        ({"filters": {"planet": ("x",)}}, "unknown filter dimension planet"),
        ({"grain": "fortnight"}, "unknown grain 'fortnight'; valid: day, week, month, quarter"),
        (
            {"kpis": ("churn_rate",), "by": ("team",)},
            "churn_rate cannot be cut or filtered by team",
        ),
        ({"date_from": date(2026, 2, 1), "date_to": date(2026, 1, 1)}, "must be before"),
    ],
)
def test_request_invalid_names_raise_with_valid_choices(kwargs: dict, fragment: str) -> None:
    with pytest.raises(KpiRequestError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        KpiRequest(**kwargs)


def test_request_is_hashable_and_normalises_filters() -> None:
    a = KpiRequest(kpis="nps", filters={"channel": ["phone", "chat"], "team": []})
    b = KpiRequest(kpis=("nps",), filters={"channel": ("phone", "chat")})
    assert a == b and hash(a) == hash(b)
    assert a.filter_map == {"channel": ("phone", "chat")}


def test_output_columns_follow_the_shared_contract(store: Store) -> None:
    add_contacts(store, [{"channel": "phone"}])
    frame = query_kpis(store, KpiRequest(kpis=("aht", "channel_mix"), by=("team",), grain="day"))
    assert frame.columns == [
        "kpi",
        "value",
        "n",
        "ci_low",
        "ci_high",
        "target",
        "status",
        "p_meets",
        "p_misses",
        "small_sample",
        "reason",
        "team",
        "channel",
        "period",
    ]


# -- several requests in one pass ----------------------------------------------------------


def test_query_many_equals_one_query_per_request_on_sample(sample_store: Store) -> None:
    from polars.testing import assert_frame_equal

    from metrics.kpi_query import query_many

    cur, prev = (date(2026, 9, 1), date(2026, 10, 1)), (date(2026, 8, 2), date(2026, 9, 1))
    requests = [
        KpiRequest(date_from=cur[0], date_to=cur[1]),
        KpiRequest(date_from=prev[0], date_to=prev[1]),
        KpiRequest(
            # With the current period's totals: quantiles over two grouping sets (their
            # values projected once: compile_merged), against one query each.
            kpis=(
                "nps",
                "fcr",
                "channel_mix",
                "churn_by_satisfaction",
                "aht",
                "frt_live_median",
                "resolution_time",
            ),
            by=("channel",),
            date_from=cur[0],
            date_to=cur[1],
        ),
        KpiRequest(
            kpis=("csat", "repeat_contact_rate"),
            by=("segment", "channel"),
            grain="month",
            date_from=cur[0],
            date_to=cur[1],
        ),
        KpiRequest(
            kpis=("fcr",), date_from=date(2026, 8, 15), date_to=date(2026, 9, 15)
        ),  # overlaps
    ]
    merged = query_many(sample_store, requests)
    for request, frame in zip(requests, merged, strict=True):
        assert frame.height > 0
        assert_frame_equal(
            frame, query_kpis(sample_store, request), check_exact=False, rel_tol=1e-9
        )


def test_query_many_churn_windows_in_one_statement_equal_one_query_each(
    sample_store: Store,
) -> None:
    """Churn months of several windows share a statement (each month row labelled with its
    window): months two windows share count in both, and several months pool per window."""
    from metrics.compiler import plan
    from metrics.kpi_query import query_many

    windows = [
        (date(2026, 9, 1), date(2026, 9, 16)),
        (date(2026, 9, 16), date(2026, 10, 1)),  # the same month as the first
        (date(2026, 8, 2), date(2026, 9, 1)),
        (date(2026, 6, 1), date(2026, 8, 1)),  # two months
    ]
    requests = [KpiRequest(kpis=("churn_rate",), date_from=a, date_to=b) for a, b in windows]
    requests += [
        KpiRequest(kpis=("churn_rate",), grain="month", date_from=a, date_to=b) for a, b in windows
    ]
    statements = plan(requests, load_settings(sample_store))
    assert [len(q.windows) for q, _ in statements] == [4, 4]
    merged = query_many(sample_store, requests)
    for request, frame in zip(requests, merged, strict=True):
        assert frame.height > 0
        assert frame.equals(query_kpis(sample_store, request))


def test_channel_mix_statement_reads_contacts_once(sample_store: Store) -> None:
    """The mix's window total over its grouped counts: DuckDB's window_self_join rewrite
    (disabled by metrics.store) would read and group the contacts a second time to join the
    totals back."""
    from metrics.compiler import compile_merged

    windows = ((date(2026, 8, 2), date(2026, 9, 1)), (date(2026, 9, 1), date(2026, 10, 1)))
    settings = load_settings(sample_store)
    q = compile_merged(("channel_mix",), (("channel",),), None, windows, (), settings)
    assert "OVER (PARTITION BY" in q.sql
    plan = sample_store.cursor().execute("EXPLAIN " + q.sql, q.params).fetchall()[0][1]
    assert plan.count("Table: ") == 1 and "contacts" in plan


def test_query_many_keeps_a_null_channel_cell_apart_from_the_total(store: Store) -> None:
    from metrics.kpi_query import query_many

    add_contacts(store, [{"contact_id": "c1", "channel": "chat"}])
    add_surveys(
        store,
        [
            {"contact_id": "c1", "nps": 10},
            {"contact_id": None, "nps": 0},
            {"contact_id": None, "nps": 0},
        ],
    )
    total, by_channel = query_many(
        store, [KpiRequest(kpis=("nps",)), KpiRequest(kpis=("nps",), by=("channel",))]
    )
    assert total.to_dicts()[0]["n"] == 3
    got = {r["channel"]: (r["value"], r["n"]) for r in by_channel.to_dicts()}
    assert got == {"chat": (100.0, 1), None: (-100.0, 2)}


def test_overview_equals_compare_periods_and_channel_breakdown(sample_store: Store) -> None:
    from polars.testing import assert_frame_equal

    from metrics.periods import compare_periods, overview

    window = (date(2026, 9, 1), date(2026, 10, 1))
    filters = {"segment": ("consumer",)}
    compare, breakdown = overview(sample_store, *window, filters=filters)
    assert_frame_equal(
        compare,
        compare_periods(sample_store, (), *window, filters),
        check_exact=False,
        rel_tol=1e-9,
    )
    expected = query_kpis(
        sample_store,
        KpiRequest(by=("channel",), date_from=window[0], date_to=window[1], filters=filters),
    )
    assert_frame_equal(breakdown, expected, check_exact=False, rel_tol=1e-9)


def test_automation_target_is_not_applied_to_single_channel_cells(store: Store) -> None:
    add_contacts(
        store, [{"channel": "chatbot", "bot_handled": True, "resolved": True}, {"channel": "phone"}]
    )
    assert one(store, "automation_rate")["target"] == 0.45
    cells = rows_by(store, "automation_rate", "channel", by=("channel",))
    assert cells["chatbot"]["target"] is None and cells["phone"]["target"] is None
    assert one(store, "automation_rate", filters={"channel": ("phone",)})["target"] is None
    by_team = query_kpis(store, KpiRequest(kpis=("automation_rate",), by=("team",)))
    assert by_team["target"].to_list() == [0.45]


def test_wilson_bounds_are_exact_at_zero_and_all_successes(store: Store) -> None:
    add_contacts(
        store,
        [{"escalated": False}] * 1
        + [{"contact_id": f"k{i}", "escalated": False} for i in range(9)],
    )
    r = one(store, "escalation_rate")
    assert r["ci_low"] == 0.0 and r["ci_high"] == pytest.approx(wilson_by_roots(0, 10)[1])
