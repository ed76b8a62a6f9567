"""Catalogue validation, targets (defaults, overrides, status rule) and settings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from metrics.catalogue import CATALOGUE, KPI_NAMES, KPIS, CatalogueError, Measure, load
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.settings import KpiSettings, load_settings, save_settings
from metrics.store import Store, open_store
from metrics.targets import (
    load_targets,
    near_tolerance,
    reset_target,
    set_target,
    status,
    targets_frame,
)

SHARED_KPI_NAMES = (
    "nps",
    "csat",
    "satisfaction_index",
    "ces",
    "fcr",
    "aht",
    "frt_live_median",
    "frt_live_p90",
    "frt_written_median",
    "frt_written_p90",
    "wait_live_median",
    "resolution_time",
    "escalation_rate",
    "service_level",
    "abandonment_rate",
    "repeat_contact_rate",
    "automation_rate",
    "long_wait_share",
    "channel_mix",
    "churn_rate",
    "churn_by_satisfaction",
)


def test_catalogue_has_exactly_the_shared_kpi_names() -> None:
    assert KPI_NAMES == SHARED_KPI_NAMES


def test_catalogue_every_kpi_states_unit_direction_source_and_min_n_30() -> None:
    for k in CATALOGUE.values():
        assert k.unit and k.direction in ("higher", "lower") and k.target_source
        assert k.min_sample() == 30


def test_catalogue_validation_reports_every_problem_at_once() -> None:
    nps = CATALOGUE["nps"]
    broken = (
        replace(nps, name="dup"),
        replace(nps, name="dup"),  # 1: duplicate name
        replace(
            CATALOGUE["csat"],
            measure=Measure(
                "ratio", numerator="csat >= 4 AND colour = 1", denominator="csat IS NOT NULL"
            ),
        ),  # 2
        replace(CATALOGUE["aht"], direction="sideways"),  # 3
        replace(CATALOGUE["fcr"], dimensions=("channel", "planet")),  # 4
        replace(CATALOGUE["ces"], measure=Measure("mean", expr="ces +")),  # 5: syntax
        replace(
            CATALOGUE["frt_live_p90"], measure=Measure("quantile", expr="first_response_s")
        ),  # 6
        replace(
            CATALOGUE["service_level"], measure=Measure("ratio", numerator="wait_s <= $sl_fax_s")
        ),  # 7: unknown parameter
        replace(CATALOGUE["automation_rate"], target=1.5),  # 8: off its 0..1 scale
    )
    with pytest.raises(CatalogueError) as info:
        load(broken)
    message = str(info.value)
    for fragment in (
        "8 problem(s)",
        "dup: defined more than once",
        "csat: numerator uses unknown column 'colour'",
        "aht: direction 'sideways'",
        "fcr: dimensions planet are not in source 'contacts'",
        "ces: expr does not parse",
        "frt_live_p90: a quantile measure needs q",
        "service_level: numerator uses unknown parameter $sl_fax_s",
        "automation_rate: target 1.5 outside its scale",
    ):
        assert fragment in message, (fragment, message)


def test_catalogue_as_shipped_is_valid() -> None:
    assert set(load(KPIS)) == set(SHARED_KPI_NAMES)


# -- targets -------------------------------------------------------------------------------


def test_targets_defaults_come_from_seed_facts_with_source(store: Store) -> None:
    t = load_targets(store)
    assert (t["nps"].value, t["fcr"].value, t["satisfaction_index"].value) == (20.0, 0.80, 72.0)
    assert (t["ces"].value, t["automation_rate"].value, t["long_wait_share"].value) == (
        3.0,
        0.45,
        0.25,
    )
    assert t["frt_live_median@channel=chat"].value == 30.0
    assert "75-85 %" in t["fcr"].source and "Bain 2020" in t["nps"].source
    assert t["churn_by_satisfaction:very dissatisfied"].value == 0.73
    assert not t["nps"].overridden


def test_targets_override_is_persisted_and_used_then_reset(tmp_path) -> None:
    path = tmp_path / "cx.duckdb"
    with open_store(path) as s:
        set_target(s, "nps", 30.0, source="board goal 2027")
    with open_store(path) as s:
        t = load_targets(s)["nps"]
        assert (t.value, t.source, t.overridden, t.default) == (30.0, "board goal 2027", True, 20.0)
        assert query_kpis(s, KpiRequest(kpis=("nps",)))["target"].to_list() == [30.0]
        reset_target(s, "nps")
        assert load_targets(s)["nps"].value == 20.0


def test_targets_band_override_and_bad_values_are_refused(store: Store) -> None:
    set_target(store, "churn_by_satisfaction", 0.5, band="neutral")
    assert load_targets(store)["churn_by_satisfaction:neutral"].value == 0.5
    with pytest.raises(ValueError, match="within 0..1"):
        set_target(store, "fcr", 80.0)
    with pytest.raises(ValueError, match="unknown KPI 'nope'"):
        set_target(store, "nope", 1.0)
    with pytest.raises(ValueError, match="has no band 'meh'"):
        set_target(store, "churn_by_satisfaction", 0.1, band="meh")


def test_targets_frame_lists_every_kpi_and_band(store: Store) -> None:
    frame = targets_frame(store)
    assert frame.height == len(KPI_NAMES) + 5 + 1  # 5 bands, chat's first-response scope
    assert frame["kpi"].to_list()[0] == "nps"


@pytest.mark.parametrize(
    ("value", "target", "direction", "expected"),
    [
        (0.80, 0.80, "higher", "meets"),  # equal counts as meeting
        (0.76, 0.80, "higher", "near"),  # 4 points under, tolerance 5 points
        (0.75, 0.80, "higher", "near"),  # exactly at the edge
        (0.74, 0.80, "higher", "misses"),
        (0.20, 0.25, "lower", "meets"),
        (0.29, 0.25, "lower", "near"),
        (0.31, 0.25, "lower", "misses"),
    ],
)
def test_status_rule_share_scale(
    value: float, target: float, direction: str, expected: str
) -> None:
    tol = near_tolerance(CATALOGUE["fcr"], target)
    assert tol == pytest.approx(0.05)
    assert status(value, target, direction, tol, n=100, min_n=30) == expected  # type: ignore[arg-type]


def test_status_rule_unbounded_uses_5_percent_of_target_and_needs_min_n() -> None:
    tol = near_tolerance(CATALOGUE["frt_live_median"], 30.0)
    assert tol == pytest.approx(1.5)
    assert status(31.5, 30.0, "lower", tol, n=30, min_n=30) == "near"
    assert status(31.6, 30.0, "lower", tol, n=30, min_n=30) == "misses"
    assert status(10.0, 30.0, "lower", tol, n=29, min_n=30) is None
    assert status(None, 30.0, "lower", tol, n=100, min_n=30) is None
    assert status(10.0, None, "lower", tol, n=100, min_n=30) is None
    assert near_tolerance(CATALOGUE["nps"], 20.0) == pytest.approx(10.0)


def test_judge_share_uses_beta_posterior_probabilities() -> None:
    from scipy import stats

    from metrics.targets import Spread, judge

    # 82 of 100 against FCR 80 %: P(meets) = P(p ≥ 0.80) under Beta(83, 19) (scipy reference).
    j = judge(Spread("beta", 100, value=0.82, x=82), 0.80, "higher", 0.05, 30)
    assert j.p_meets == pytest.approx(stats.beta.sf(0.80, 83, 19), abs=1e-12)
    assert j.p_misses == pytest.approx(stats.beta.cdf(0.75 - 0.05e-9, 83, 19), abs=1e-9)
    # 0.82 is above the target but its interval reaches below 0.80: never a green "meets".
    assert 0.1 < j.p_meets < 0.9 and j.status == "near"
    big = judge(Spread("beta", 10_000, value=0.82, x=8200), 0.80, "higher", 0.05, 30)
    assert big.status == "meets" and big.p_meets > 0.999
    wide = judge(Spread("beta", 30, value=0.75, x=22.5), 0.80, "higher", 0.05, 30)
    assert wide.status == "unclear"  # spans from meeting to missing far
    far = judge(Spread("beta", 1000, value=0.60, x=600), 0.80, "higher", 0.05, 30)
    assert far.status == "misses" and far.p_misses > 0.999


def test_status_text_says_probably_with_its_probability() -> None:
    from metrics.targets import Judgement, status_text

    assert status_text(Judgement("meets", 0.944, 0.0)) == "probably meets the target (P = 94 %)"
    assert status_text(Judgement("misses", 0.0, 0.97), "sv") == (
        "missar troligen målet med mer än toleransen (P = 97 %)"
    )
    assert status_text(Judgement(None)) is None


def test_direction_flip_is_the_catalogues_not_a_name_check(store: Store) -> None:
    from metrics.targets import default_target, effective_direction

    agreement = KpiSettings(ces_reading="agreement")
    assert effective_direction(CATALOGUE["ces"], agreement) == "higher"
    assert default_target(CATALOGUE["ces"], agreement)[0] == 5.0  # 1 + 7 - 3
    # Any KPI carrying flips_when flips the same way; without it nothing changes.
    other = replace(CATALOGUE["satisfaction_index"], flips_when=("ces_reading", "agreement"))
    assert effective_direction(other, agreement) == "lower"
    assert default_target(other, agreement)[0] == pytest.approx(100 - 72)
    assert effective_direction(CATALOGUE["satisfaction_index"], agreement) == "higher"


# -- settings ------------------------------------------------------------------------------


def test_settings_roundtrip_and_bad_values_rejected(store: Store) -> None:
    assert load_settings(store) == KpiSettings()
    save_settings(store, KpiSettings(ces_reading="agreement", fcr_window_days=3))
    assert load_settings(store) == KpiSettings(ces_reading="agreement", fcr_window_days=3)
    with pytest.raises(ValueError) as info:
        save_settings(store, KpiSettings(ces_reading="joy", sl_chat_s=-1))
    assert "ces_reading" in str(info.value) and "sl_chat_s" in str(info.value)
