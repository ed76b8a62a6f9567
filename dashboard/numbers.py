"""The app's numbers: metrics.units in the current UI language and currency, and Plotly's.

Pages and figure builders call these instead of formatting by hand, so a number reads the
same on every page, in the report and in a chart's hover text. The currency comes, first
match wins, from use_currency() (a report rendered outside Streamlit), the ui.currency
setting in the store (inside the app), then SEK.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.i18n import _in_streamlit, current_language, translate
from metrics import units

_log = logging.getLogger("cx.numbers")
_forced_currency: ContextVar[str | None] = ContextVar("cx_currency", default=None)


@contextmanager
def use_currency(code: str) -> Iterator[None]:
    """Format money in `code` inside the block (reports, tests)."""
    token = _forced_currency.set(code.upper())
    try:
        yield
    finally:
        _forced_currency.reset(token)


def current_currency() -> str:
    """The currency money is shown in: forced context, the ui.currency setting, SEK."""
    forced = _forced_currency.get()
    if forced:
        return forced
    if not _in_streamlit():
        return units.DEFAULT_CURRENCY
    try:
        from dashboard.store_access import cached
        from metrics.settings import load_currency

        return str(cached(load_currency))
    except Exception:  # noqa: BLE001 - a store problem must not hide every amount
        _log.warning("could not read the currency setting; using %s", units.DEFAULT_CURRENCY)
        return units.DEFAULT_CURRENCY


def value(v: float | None, unit: str) -> str:
    """A value in its unit, in the UI language and currency ("70,8 %", "6.1 min")."""
    return units.format_value(v, unit, lang=current_language(), currency=current_currency())


def delta(d: float | None, unit: str, *, like: float | None = None) -> str:
    """A change in its value's unit and scale ("+1,2 p.e.", "+0.1 min"); em dash if missing."""
    return units.format_delta(
        d, unit, lang=current_language(), currency=current_currency(), like=like
    )


def count(n: float | None, *, signed: bool = False) -> str:
    """A whole number with the language's thousands separator ("1 234" / "1,234")."""
    return units.format_count(n, lang=current_language(), signed=signed)


def share(s: float | None, *, digits: int = 1) -> str:
    """A share 0..1 in per cent ("70,8 %")."""
    return units.format_share(s, lang=current_language(), digits=digits)


def probability(p: float | None, *, digits: int = 0) -> str:
    """A probability in per cent, never a false certainty ("> 99 %")."""
    return units.format_probability(p, lang=current_language(), digits=digits)


def relative(change: float | None, *, digits: int = 1) -> str:
    """A relative change in per cent, signed ("+43 %")."""
    return units.format_relative(change, lang=current_language(), digits=digits)


def p_phrase(key: str, p: float) -> str:
    """The UI string `key` with its {p} filled, "P = 94 %" or "P > 99 %" (never "= >")."""
    from dashboard.i18n import t

    return units.tidy_relations(t(key, p=probability(p)))


def money(amount: float | None, *, signed: bool = False, like: float | None = None) -> str:
    """An amount in the currency setting ("1 234 kr" / "SEK 1,234")."""
    return units.format_money(
        amount, lang=current_language(), currency=current_currency(), signed=signed, like=like
    )


def number(x: float | None, digits: int, *, signed: bool = False) -> str:
    """A plain number with `digits` decimals and the language's separators."""
    if x is None:
        return units.DASH
    return units.format_number(x, digits, lang=current_language(), signed=signed)


def suffix(unit: str, *, is_delta: bool = False) -> str:
    """An axis's unit label ("%", "p.e.", "s", "poäng")."""
    return units.unit_suffix(unit, lang=current_language(), delta=is_delta)


# Columns of a KPI frame that carry values in the KPI's unit (the rest are counts, flags, names).
VALUE_COLUMNS = ("value", "ci_low", "ci_high", "target", "previous", "delta")


def styled(frame: pl.DataFrame, text: Mapping[str, Callable[[Any], str]]) -> Any:
    """`frame` for st.dataframe with the columns of `text` shown as those functions write them
    (a decimal comma and "< 1 %" in Swedish whatever the browser's language: Streamlit's own
    number formats follow the browser, or always write a point). A Styler's display values:
    the grid still sorts and selects by the numbers, downloads take `frame` itself."""
    return frame.to_pandas().style.format(dict(text), na_rep="")


def plotly_config() -> dict[str, Any]:
    """st.plotly_chart's `config` in the UI language: Plotly writes month and day names
    (date ticks "maj 2026", hovers %{x|%b}) from the locale it is given, and the browser's
    bundle has English only; the locale is passed inline (`locales`), nothing registered."""
    lang = current_language()
    if lang == "en":
        return {}
    words = {
        key: [w.strip() for w in translate(lang, f"date.{name}").split(",")]
        for key, name in (
            ("months", "months_long"),
            ("shortMonths", "months_short"),
            ("days", "days_long"),
            ("shortDays", "days_short"),
        )
    }
    # No separators here: every figure carries its language's in layout.separators (localize).
    return {"locale": lang, "locales": {lang: {"format": {**words, "date": "%Y-%m-%d"}}}}


def localize(fig: go.Figure) -> go.Figure:
    """The figure's decimal mark and thousands separator in the UI language (Plotly's
    `separators`: ", " in Swedish, so ticks and %{y} hovers read 70,8 and 1 234)."""
    fig.update_layout(separators=units.plotly_separators(current_language()))
    return fig
