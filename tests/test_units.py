"""metrics.units: every unit in both languages against hand-written strings, and a round trip
(the number read back from the text equals the value within the shown precision)."""

from __future__ import annotations

import math
import random
import re

import pytest

from metrics.units import (
    DASH,
    NBSP,
    duration_scale,
    format_count,
    format_delta,
    format_duration,
    format_interval,
    format_money,
    format_number,
    format_probability,
    format_relative,
    format_share,
    format_value,
    plotly_separators,
    unit_suffix,
)

# (value, unit, English, Swedish): written by hand, not by the code under test.
VALUES = [
    (0.708, "share", "70.8 %", "70,8 %"),
    (0.75649, "share", "75.6 %", "75,6 %"),
    (1.0, "share", "100.0 %", "100,0 %"),
    (-0.0004, "share", "0.0 %", "0,0 %"),  # never "-0.0 %"
    (12.34, "nps", "+12.3", "+12,3"),
    (-7.06, "nps", "-7.1", "-7,1"),
    (0.0, "nps", "0.0", "0,0"),
    (72.04, "index", "72.0", "72,0"),
    (2.853, "score", "2.85", "2,85"),
    (4.34, "seconds", "4.3 s", "4,3 s"),
    (45.0, "seconds", "45 s", "45 s"),
    (59.97, "seconds", "1.0 min", "1,0 min"),  # not "60 s"
    (366.0, "seconds", "6.1 min", "6,1 min"),
    (22056.0, "seconds", "6.1 h", "6,1 h"),
    (3599.0, "seconds", "1.0 h", "1,0 h"),  # not "60.0 min"
    (0.4, "hours", "24.0 min", "24,0 min"),
    (20.5, "hours", "20.5 h", "20,5 h"),
    (150.2, "hours", "150 h", "150 h"),
    (1234.4, "money", "SEK 1,234", f"1{NBSP}234 kr"),
    (45.37, "money", "SEK 45", "45 kr"),  # no stray decimals
    (1_234_567.0, "money", "SEK 1.2m", "1,2 mn kr"),
    (234_600_000.0, "money", "SEK 235m", "235 mn kr"),
    (3.4e9, "money", "SEK 3.4bn", "3,4 md kr"),
    (1234.0, "count", "1,234", f"1{NBSP}234"),
    (1_234_567.0, "count", "1,234,567", f"1{NBSP}234{NBSP}567"),
    (1.434, "contacts", "1.43 contacts", "1,43 kontakter"),
    (None, "share", DASH, DASH),
    (float("nan"), "seconds", DASH, DASH),
    (float("inf"), "money", DASH, DASH),
]


@pytest.mark.parametrize(("value", "unit", "en", "sv"), VALUES)
def test_format_value_in_both_languages(value, unit, en, sv) -> None:
    assert format_value(value, unit, lang="en") == en
    assert format_value(value, unit, lang="sv") == sv


# (delta, value it belongs to, unit, English, Swedish)
DELTAS = [
    (0.012, 0.70, "share", "+1.2 pp", "+1,2 p.e."),
    (-0.0349, 0.70, "share", "-3.5 pp", "-3,5 p.e."),
    (0.0004, 0.70, "share", "0.0 pp", "0,0 p.e."),  # rounds to zero: no sign
    (6.0, 366.0, "seconds", "+0.1 min", "+0,1 min"),  # the value's unit, never "+6 s"
    (-6.0, 366.0, "seconds", "-0.1 min", "-0,1 min"),
    (6.0, 45.0, "seconds", "+6 s", "+6 s"),
    (-0.26, 20.5, "hours", "-0.3 h", "-0,3 h"),  # 0.26 h is 15.6 min, but the value reads in h
    (0.25, 0.4, "hours", "+15.0 min", "+15,0 min"),
    (1.24, 12.0, "nps", "+1.2 points", "+1,2 poäng"),
    (-2.0, 72.0, "index", "-2.0 points", "-2,0 poäng"),
    (0.123, 5.1, "score", "+0.12", "+0,12"),
    (1500.0, 1234.0, "money", "+SEK 1,500", f"+1{NBSP}500 kr"),
    (-12.0, 1234.0, "count", "-12", "-12"),
    (None, 0.7, "share", DASH, DASH),
]


@pytest.mark.parametrize(("delta", "like", "unit", "en", "sv"), DELTAS)
def test_format_delta_in_the_values_unit(delta, like, unit, en, sv) -> None:
    assert format_delta(delta, unit, lang="en", like=like) == en
    assert format_delta(delta, unit, lang="sv", like=like) == sv


def test_delta_without_like_scales_by_itself() -> None:
    assert format_delta(6.0, "seconds", lang="en") == "+6.0 s"
    assert format_delta(900.0, "seconds", lang="en") == "+15.0 min"


def test_money_in_other_currencies_by_iso_code() -> None:
    assert format_money(1234.0, lang="sv", currency="EUR") == f"1{NBSP}234 EUR"
    assert format_money(1234.0, lang="en", currency="eur") == "EUR 1,234"
    assert format_money(-3.4e9, lang="en", currency="USD") == "-USD 3.4bn"
    assert format_value(2.5e6, "money", lang="sv", currency="NOK") == "2,5 mn NOK"
    # The scale is chosen on the rounded figure.
    assert format_money(999_999.6, lang="en") == "SEK 1.0m"
    assert format_money(999_960_000.0, lang="en") == "SEK 1.0bn"


@pytest.mark.parametrize(
    ("p", "en", "sv"),
    [
        (0.0, "< 1 %", "< 1 %"),  # a model's probability is 0 only by saturation
        (0.004, "< 1 %", "< 1 %"),
        (0.5, "50 %", "50 %"),
        (0.944, "94 %", "94 %"),
        (0.996, "> 99 %", "> 99 %"),
        (1.0, "> 99 %", "> 99 %"),
        (None, DASH, DASH),
    ],
)
def test_probability_never_rounds_to_a_false_certainty(p, en, sv) -> None:
    assert format_probability(p, lang="en") == en
    assert format_probability(p, lang="sv") == sv


def test_probability_with_a_decimal() -> None:
    assert format_probability(0.9432, lang="sv", digits=1) == "94,3 %"
    assert format_probability(0.9996, lang="en", digits=1) == "> 99.9 %"
    assert format_probability(0.0004, lang="en", digits=1) == "< 0.1 %"


@pytest.mark.parametrize(
    ("low", "high", "unit", "delta", "en", "sv"),
    [
        (0.652, 0.701, "share", False, "65.2 to 70.1 %", "65,2 till 70,1 %"),
        (-0.012, 0.034, "share", True, "-1.2 to +3.4 pp", "-1,2 till +3,4 p.e."),
        (350.0, 380.0, "seconds", False, "5.8 to 6.3 min", "5,8 till 6,3 min"),
        (30.0, 380.0, "seconds", False, "0.5 to 6.3 min", "0,5 till 6,3 min"),  # one scale
        (1000.0, 2000.0, "money", False, "SEK 1,000 to 2,000", f"1{NBSP}000 till 2{NBSP}000 kr"),
        (-4.0, 2.5, "nps", True, "-4.0 to +2.5 points", "-4,0 till +2,5 poäng"),
        (None, 2.5, "nps", True, DASH, DASH),
    ],
)
def test_interval_says_its_unit_once_in_one_scale(low, high, unit, delta, en, sv) -> None:
    assert format_interval(low, high, unit, lang="en", delta=delta) == en
    assert format_interval(low, high, unit, lang="sv", delta=delta) == sv


def test_counts_shares_durations_relative_and_plain_numbers() -> None:
    assert format_count(1234, lang="sv") == f"1{NBSP}234"
    assert format_count(12, lang="en", signed=True) == "+12"
    assert format_share(0.7083, lang="sv") == "70,8 %"
    assert format_share(0.7083, lang="en", digits=0) == "71 %"
    assert format_duration(366.0, lang="sv") == "6,1 min"
    assert format_duration(6.0, lang="en", signed=True, like=366.0) == "+0.1 min"
    assert format_relative(-0.166, lang="sv") == "-16,6 %"
    assert format_number(-0.04, 1, lang="en", signed=True) == "0.0"
    assert format_number(1234.5, 1, lang="sv") == f"1{NBSP}234,5"


def test_unit_suffixes_and_plotly_separators() -> None:
    assert unit_suffix("share", lang="sv", delta=True) == "p.e."
    assert unit_suffix("share", lang="en") == "%"
    assert unit_suffix("nps", lang="sv") == "poäng"
    assert unit_suffix("seconds", lang="en") == "s"
    assert plotly_separators("sv") == ", "
    assert plotly_separators("en") == ".,"


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="language must be one of sv, en, got 'de'"):
        format_value(1.0, "share", lang="de")


def test_duration_scale_boundaries() -> None:
    assert duration_scale(9.94) == duration_scale(0.5)  # both "x.y s"
    assert duration_scale(9.96).digits == 0  # "10 s"
    assert duration_scale(59.4).symbol == "s"
    assert duration_scale(59.6).symbol == "min"
    assert duration_scale(3596.0).symbol == "min"  # 59.9 min
    assert duration_scale(3597.0).symbol == "h"  # would round to 60.0 min
    assert duration_scale(-400.0).symbol == "min"


# -- round trip: parse the shown number back ---------------------------------------------

_SCALE = {"%": 0.01, "pp": 0.01, "p.e.": 0.01, "s": 1.0, "min": 60.0, "h": 3600.0}
_SIZE = {"m": 1e6, "mn": 1e6, "bn": 1e9, "md": 1e9}


def parse_shown(text: str, unit: str, lang: str) -> tuple[float, float]:
    """(value, half the last shown digit) read back from a formatted figure, in the value's
    own unit (seconds for "seconds", hours for "hours", 0..1 for shares)."""
    m = re.fullmatch(
        r"(?P<sign>[+-]?)(?:[A-Z]{3} )?(?P<num>[0-9.,\u00a0]+)(?P<size>m|bn| mn| md)?"
        r"(?: (?P<suffix>%|pp|p\.e\.|s|min|h|kr|[A-Z]{3}|points|poäng|kontakter|contacts))?"
        r"(?: (?:kr|[A-Z]{3}))?",
        text,
    )
    assert m, f"cannot read back {text!r}"
    num = m["num"].replace(NBSP, "")
    num = num.replace(",", ".") if lang == "sv" else num.replace(",", "")
    decimals = len(num.split(".")[1]) if "." in num else 0
    factor = _SIZE.get((m["size"] or "").strip(), 1.0) * _SCALE.get(m["suffix"] or "", 1.0)
    if unit == "hours":
        factor /= 3600.0
    value = float(num) * (-1 if m["sign"] == "-" else 1) * factor
    return value, 0.5 * 10.0**-decimals * factor


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_round_trip_within_the_shown_precision(lang: str) -> None:
    rng = random.Random(20261201)
    draws = {
        "share": lambda: rng.random(),
        "nps": lambda: rng.uniform(-100, 100),
        "index": lambda: rng.uniform(0, 100),
        "score": lambda: rng.uniform(1, 7),
        "seconds": lambda: math.exp(rng.uniform(-1, 13)),
        "hours": lambda: math.exp(rng.uniform(-4, 6)),
        "money": lambda: math.exp(rng.uniform(0, 23)),
        "count": lambda: float(rng.randrange(0, 10_000_000)),
        "contacts": lambda: rng.uniform(0, 20),
    }
    for unit, draw in draws.items():
        for _ in range(300):
            v = draw()
            text = format_value(v, unit, lang=lang)
            back, tol = parse_shown(text, unit, lang)
            assert abs(back - v) <= tol * (1 + 1e-9), (unit, v, text)
            d, like = (v - draw()) * 0.1, v
            text = format_delta(d, unit, lang=lang, like=like)
            back, tol = parse_shown(text, unit, lang)
            assert abs(back - d) <= tol * (1 + 1e-9), (unit, d, like, text)


def test_status_text_states_bounded_probabilities_without_equals() -> None:
    from metrics.targets import Judgement, status_text

    assert status_text(Judgement("meets", 0.9996, 0.0)) == "probably meets the target (P > 99 %)"
    assert status_text(Judgement("meets", 0.944, 0.0), "sv") == "når troligen målet (P = 94 %)"
    assert status_text(Judgement("unclear", 0.5, 0.003), "sv") == (
        "oklart mot målet (P(når) = 50 %, P(missar mer än toleransen) < 1 %)"
    )
