"""Numbers for people: every value, change, interval and probability formatted from its unit.

One formatting system for the app, the HTML report, the alerts and the CLI (issue 12 item 1).
Pure functions, no Streamlit: the caller passes the language ("sv" / "en") and the currency
(setting ui.currency, ISO 4217). The choices, once:

- Swedish: decimal comma, a non-breaking space (U+00A0) between thousands: "1 234", "70,8 %".
  English: decimal point, comma thousands: "1,234", "70.8 %". A space before "%" in both
  languages (SI / ISO 80000-1 style, as every other UI string of the app writes it).
- Shares (0..1) in % with one decimal; their changes in percentage points: "+1.2 pp",
  Swedish "+1,2 p.e." (procentenheter).
- NPS signed ("+12.3"); NPS and index changes in points ("+1.2 points" / "+1,2 poäng").
- Durations (catalogue units "seconds" and "hours") scaled by size: under a minute in s
  (one decimal under 10 s), under an hour in min, else in h; a change is shown in the SAME
  scale and precision as the value it belongs to (`like=`): "6.1 min" changes by "+0.1 min".
- Money without stray decimals: "1 234 kr" (SEK in Swedish), "SEK 1,234" (English), other
  currencies by ISO code ("1 234 EUR", "EUR 1,234"); a million and more in mn / md
  ("1,2 mn kr", "SEK 1.2m", "SEK 3.4bn").
- Signs with the ASCII hyphen-minus (st.metric reads a leading "-" as a fall); a figure that
  rounds to zero has no sign ("0.0", never "-0.0"); None, NaN and ±inf are an em dash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DASH = "—"
NBSP = "\u00a0"
LANGUAGES = ("sv", "en")
DEFAULT_CURRENCY = "SEK"

# Words the formats need, per language (the UI catalogues are in dashboard/locale; these
# are part of the number, so they live with the number).
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "pp": "pp",
        "points": "points",
        "contacts": "contacts",
        "to": "to",
        "million": "m",
        "billion": "bn",
        "kr": "kr",
    },
    "sv": {
        "pp": "p.e.",
        "points": "poäng",
        "contacts": "kontakter",
        "to": "till",
        "million": "mn",
        "billion": "md",
        "kr": "kr",
    },
}

# Units of the catalogue and the experiment metrics, and what they are shown as.
SHARE_UNITS = ("share", "%")
DURATION_UNITS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
MONEY_UNITS = ("money", "currency")
COUNT_UNITS = ("count", "n")


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang


def _missing(value: Any) -> bool:
    """None, NaN, ±inf or not a number at all: shown as an em dash."""
    if value is None or isinstance(value, bool):
        return value is None
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def _finite(value: Any) -> float | None:
    """`value` as a float, or None when it is missing (see _missing)."""
    return None if _missing(value) else float(value)


def format_number(value: float, digits: int, *, lang: str, signed: bool = False) -> str:
    """`value` with `digits` decimals and the language's separators; no sign on a zero.

    "+1,234.5" / "+1 234,5"; -0.04 at one decimal is "0.0" (no "-0.0").
    """
    _lang(lang)
    if _missing(value):
        return DASH
    body = f"{abs(float(value)):,.{max(digits, 0)}f}"
    zero = not any(c in "123456789" for c in body)
    sign = "" if zero else ("-" if value < 0 else ("+" if signed else ""))
    if lang == "sv":
        body = body.replace(",", NBSP).replace(".", ",")
    return sign + body


def format_significant(value: float | None, *, lang: str, digits: int = 3) -> str:
    """`digits` significant figures, trailing zeros dropped (as Python's "g", but with the
    language's separators and never in exponent form): 0.0123, 4.5, 1,234."""
    _lang(lang)
    x = _finite(value)
    if x is None:
        return DASH
    if x == 0:
        return "0"
    decimals = min(12, max(0, digits - 1 - math.floor(math.log10(abs(x)))))
    text = format_number(x, decimals, lang=lang)
    mark = "," if lang == "sv" else "."
    if mark in text:
        text = text.rstrip("0").rstrip(mark)
    return "0" if text in ("", "-0") else text


@dataclass(frozen=True)
class _Parts:
    """A formatted figure split so two of them can share one unit in an interval."""

    sign: str
    prefix: str  # "SEK " before the number (after the sign)
    number: str
    suffix: str  # " %", " min", " kr"

    def text(self) -> str:
        return f"{self.sign}{self.prefix}{self.number}{self.suffix}"


def _split(text: str) -> tuple[str, str]:
    if text[:1] in "+-":
        return text[0], text[1:]
    return "", text


def _plain(value: float, digits: int, suffix: str, lang: str, signed: bool) -> _Parts:
    sign, number = _split(format_number(value, digits, lang=lang, signed=signed))
    return _Parts(sign, "", number, suffix)


# -- durations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DurationScale:
    """The unit a duration is shown in: its symbol, seconds per unit and decimals."""

    symbol: str
    seconds: float
    digits: int


def duration_scale(seconds: float) -> DurationScale:
    """The scale a duration of `seconds` reads best in (chosen on the rounded figure, so
    59.97 s is "1.0 min", not "60 s", and 3,599 s is "1.0 h", not "60.0 min")."""
    s = abs(seconds)
    if round(s, 1) < 10:
        return DurationScale("s", 1.0, 1)
    if round(s) < 60:
        return DurationScale("s", 1.0, 0)
    if round(s / 60, 1) < 60:
        return DurationScale("min", 60.0, 1)
    if round(s / 3600, 1) < 100:
        return DurationScale("h", 3600.0, 1)
    return DurationScale("h", 3600.0, 0)


def _duration(seconds: float, lang: str, signed: bool, like: float | None) -> _Parts:
    scale = duration_scale(seconds if like is None or _missing(like) else like)
    return _plain(seconds / scale.seconds, scale.digits, f" {scale.symbol}", lang, signed)


def format_duration(
    seconds: float | None, *, lang: str, signed: bool = False, like: float | None = None
) -> str:
    """A duration given in seconds, auto-scaled: "45 s", "6.1 min", "20.5 h".

    `like`: another duration (seconds) whose scale to use, e.g. the value a change belongs
    to, so both read in the same unit.
    """
    _lang(lang)
    x = _finite(seconds)
    return DASH if x is None else _duration(x, lang, signed, like).text()


# -- money -------------------------------------------------------------------------------


def _money(value: float, lang: str, currency: str, signed: bool, like: float | None) -> _Parts:
    size = abs(value if like is None or _missing(like) else like)
    words = _WORDS[lang]
    # The scale is chosen on the rounded figure: 999,999.6 is "1.0m", not "1,000,000".
    if size >= 999.95e6:
        per, word = 1e9, words["billion"]
    elif size >= 999_999.5:
        per, word = 1e6, words["million"]
    else:
        per, word = 1.0, ""
    digits = 1 if word and round(size / per, 1) < 100 else 0
    amount = value / per
    sign, number = _split(format_number(amount, digits, lang=lang, signed=signed))
    code = currency.upper()
    if lang == "sv":
        # "1 234 kr", "1,2 mn kr"; another currency by its code: "1 234 EUR".
        name = words["kr"] if code == "SEK" else code
        return _Parts(sign, "", number, f" {word} {name}" if word else f" {name}")
    # "SEK 1,234", "SEK 1.2m": the ISO code first, the size word glued to the number.
    return _Parts(sign, f"{code} ", number, word)


def format_money(
    amount: float | None,
    *,
    lang: str,
    currency: str = DEFAULT_CURRENCY,
    signed: bool = False,
    like: float | None = None,
) -> str:
    """An amount of money in whole units of `currency`: "1 234 kr" / "SEK 1,234"; a million
    and more in millions ("1,2 mn kr" / "SEK 1.2m"). `like`: the amount whose size picks
    the scale (a change in the same scale as its value)."""
    _lang(lang)
    x = _finite(amount)
    return DASH if x is None else _money(x, lang, currency, signed, like).text()


# -- counts, shares, probabilities ------------------------------------------------------


def format_count(n: float | None, *, lang: str, signed: bool = False) -> str:
    """A whole number with thousands separators: "1,234" / "1 234"."""
    _lang(lang)
    x = _finite(n)
    return DASH if x is None else format_number(x, 0, lang=lang, signed=signed)


def format_share(share: float | None, *, lang: str, digits: int = 1) -> str:
    """A share 0..1 in per cent: "70.8 %" / "70,8 %"."""
    _lang(lang)
    x = _finite(share)
    return DASH if x is None else f"{format_number(x * 100, digits, lang=lang)} %"


def format_probability(p: float | None, *, lang: str, digits: int = 0) -> str:
    """A probability in per cent, never a certainty: 0.996 is "> 99 %" and 0.004 is "< 1 %"
    at digits=0. Exactly 1.0 and 0.0 read so too: the probabilities shown are a model's
    (a Beta tail, a posterior), which reach 1.0 or 0.0 only by floating-point saturation."""
    _lang(lang)
    q = _finite(p)
    if q is None:
        return DASH
    step = 10.0**-digits  # the smallest step shown, in per cent
    if round(q * 100, digits) <= 0:
        return f"< {format_number(step, digits, lang=lang)} %"
    if round(q * 100, digits) >= 100:
        return f"> {format_number(100 - step, digits, lang=lang)} %"
    return f"{format_number(q * 100, digits, lang=lang)} %"


def tidy_relations(text: str) -> str:
    """'P = > 99 %' -> 'P > 99 %': a sentence that puts a bounded probability after '='."""
    return text.replace("= > ", "> ").replace("= < ", "< ")


# -- by unit -----------------------------------------------------------------------------


def _parts(
    value: float, unit: str, lang: str, currency: str, *, delta: bool, like: float | None
) -> _Parts:
    words = _WORDS[lang]
    if unit in SHARE_UNITS:
        if delta:
            return _plain(value * 100, 1, f" {words['pp']}", lang, True)
        return _plain(value * 100, 1, " %", lang, False)
    if unit in DURATION_UNITS:
        per = DURATION_UNITS[unit]
        ref = None if like is None or _missing(like) else like * per
        return _duration(value * per, lang, delta, ref)
    if unit in MONEY_UNITS:
        return _money(value, lang, currency, delta, like)
    if unit in COUNT_UNITS:
        return _plain(value, 0, "", lang, delta)
    if unit == "nps":  # signed points on -100..100
        return _plain(value, 1, f" {words['points']}" if delta else "", lang, True)
    if unit == "index":  # 0..100
        return _plain(value, 1, f" {words['points']}" if delta else "", lang, delta)
    if unit == "score":  # a mean on a 1..7 (or 1..5) scale
        return _plain(value, 2, "", lang, delta)
    if unit == "contacts":  # contacts per customer
        return _plain(value, 2, f" {words['contacts']}", lang, delta)
    # An unknown unit: three significant figures, the unit as it is.
    digits = 0 if value == 0 else min(6, max(0, 2 - math.floor(math.log10(abs(value)))))
    return _plain(value, digits, f" {unit}" if unit else "", lang, delta)


def format_value(
    value: float | None, unit: str, *, lang: str, currency: str = DEFAULT_CURRENCY
) -> str:
    """A KPI or metric value in its catalogue unit ("share", "nps", "index", "score",
    "seconds", "hours", "money", "count", "contacts"): "70.8 %", "+12.3", "6.1 min",
    "1 234 kr"; an em dash when missing."""
    _lang(lang)
    x = _finite(value)
    return DASH if x is None else _parts(x, unit, lang, currency, delta=False, like=None).text()


def format_delta(
    delta: float | None,
    unit: str,
    *,
    lang: str,
    currency: str = DEFAULT_CURRENCY,
    like: float | None = None,
) -> str:
    """A change (or a lift) in the value's unit, signed: "+1.2 pp", "-0.1 min", "+3.4 points".

    `like`: the value the change belongs to; durations and money take its scale and
    precision so value and change read in the same unit. An em dash when missing.
    """
    _lang(lang)
    x = _finite(delta)
    return DASH if x is None else _parts(x, unit, lang, currency, delta=True, like=like).text()


def format_interval(
    low: float | None,
    high: float | None,
    unit: str,
    *,
    lang: str,
    currency: str = DEFAULT_CURRENCY,
    delta: bool = False,
    like: float | None = None,
) -> str:
    """An interval with its unit said once: "65.2 to 70.1 %", "-1,2 till +3,4 p.e.",
    "5.9 to 6.3 min". Both ends share one scale (the larger end's, or `like`'s).
    `delta`: the ends are changes (signed, pp for shares)."""
    _lang(lang)
    lo, hi = _finite(low), _finite(high)
    if lo is None or hi is None:
        return DASH
    ref = like if like is not None and not _missing(like) else max(abs(lo), abs(hi))
    a = _parts(lo, unit, lang, currency, delta=delta, like=ref)
    b = _parts(hi, unit, lang, currency, delta=delta, like=ref)
    to = _WORDS[lang]["to"]
    if a.suffix == b.suffix and a.prefix == b.prefix:
        return f"{a.sign}{a.prefix}{a.number} {to} {b.sign}{b.number}{b.suffix}"
    return f"{a.text()} {to} {b.text()}"


def format_relative(change: float | None, *, lang: str, digits: int = 1) -> str:
    """A relative change, signed, in per cent: "+11.9 %" / "+11,9 %"."""
    _lang(lang)
    x = _finite(change)
    return DASH if x is None else f"{format_number(x * 100, digits, lang=lang, signed=True)} %"


def unit_suffix(unit: str, *, lang: str, delta: bool = False) -> str:
    """What an axis of this unit is labelled with: "%", "pp" / "p.e.", "s", "h", "points"."""
    _lang(lang)
    words = _WORDS[lang]
    if unit in SHARE_UNITS:
        return words["pp"] if delta else "%"
    if unit in ("nps", "index"):
        return words["points"]
    return {"seconds": "s", "minutes": "min", "hours": "h", "contacts": words["contacts"]}.get(
        unit, "" if unit in ("score", *COUNT_UNITS) else unit
    )


def plotly_separators(lang: str) -> str:
    """Plotly's layout.separators (decimal mark, then thousands) for the language."""
    return ", " if _lang(lang) == "sv" else ".,"
