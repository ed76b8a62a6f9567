"""The view in the URL (st.query_params): filters, period, comparison, grain, KPI, experiment.

A link opens the same view, a refresh keeps it, and switching pages keeps the shared part
(filters, period, comparison; the language is ?lang=, dashboard/i18n.py). The parameters:

    from, to       first and last day, inclusive, ISO (2026-09-01) — or
    period         a named period (metrics.periods.NAMED_PERIODS), kept relative in the link
    channel, issue_type, segment, region, team   repeated for several values
    compare        previous | month | year (metrics.periods.COMPARISONS)
    kpi, grain, by, trend                        Explore
    experiment                                   Experiments

Each widget reads its parameter just before it is drawn (`adopt`) and writes it back after
(`publish`). A URL value is adopted only when it is new to this session — a link, a refresh,
the back button, a hand edit — so a widget the person changes is never overwritten by the
URL it has not yet updated. A value that does not fit (an unknown KPI, a date outside the
data) is ignored with a one-line warning; the widget keeps its default and the URL is
corrected after the widget is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import streamlit as st

from dashboard.i18n import QUERY_PARAM as LANG_PARAM
from dashboard.i18n import t

SHARED_PARAMS: tuple[str, ...] = (
    LANG_PARAM,
    "from",
    "to",
    "period",
    "compare",
    "channel",
    "issue_type",
    "segment",
    "region",
    "team",
)
# The parameters each page owns (by its url_path); other pages' are dropped on arrival.
PAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "explore": ("kpi", "grain", "by", "trend"),
    "experiment_list": ("experiment",),
}
_LAST = "_url_last"  # {param: values} as this session last read or wrote them


class UrlValueError(ValueError):
    """A URL value that does not fit its widget; the message says what was expected."""


def _last() -> dict[str, tuple[str, ...]]:
    return st.session_state.setdefault(_LAST, {})


def incoming(param: str) -> list[str] | None:
    """The URL's values of `param` if they are new to this session, else None.

    Read once: a value the session has seen (it wrote it, or warned about it) is not adopted
    again, so the widget's own changes win until the URL changes from outside.
    """
    raw = [v for v in st.query_params.get_all(param) if v != ""]
    if not raw or tuple(raw) == _last().get(param):
        return None
    _last()[param] = tuple(raw)
    return raw


def warn(param: str, raw: Sequence[str], reason: str, where: Any = None) -> None:
    """The one-line note that a URL value was ignored (never a traceback)."""
    (where or st).warning(
        t("links.ignored", param=param, value=", ".join(raw), reason=reason),
        icon=":material/link_off:",
    )


def adopt(
    param: str,
    key: str,
    parse: Callable[[list[str]], Any],
    where: Any = None,
) -> bool:
    """Before the widget `key` is drawn: a new URL value of `param`, parsed, becomes its state.

    `parse` raises ValueError (best UrlValueError with a short reason) for a value that does
    not fit; the value is then ignored with a warning in `where` (st or st.sidebar).
    Returns True when the URL set the widget.
    """
    raw = incoming(param)
    if raw is None:
        return False
    try:
        value = parse(raw)
    except ValueError as exc:
        warn(param, raw, str(exc), where)
        return False
    st.session_state[key] = value
    return True


def choice(options: Sequence[str]) -> Callable[[list[str]], str]:
    """A parser for a single value that must be one of `options`."""

    def parse(raw: list[str]) -> str:
        if len(raw) == 1 and raw[0] in options:
            return raw[0]
        raise UrlValueError(t("links.expected_one_of", options=", ".join(map(str, options))))

    return parse


def publish(param: str, values: str | Iterable[str] | None) -> None:
    """After the widget: its value into the URL (None or empty removes the parameter)."""
    vals = (values,) if isinstance(values, str) else tuple(values or ())
    _last()[param] = vals
    if tuple(st.query_params.get_all(param)) == vals:
        return  # unchanged: no message to the browser
    if not vals:
        del st.query_params[param]
    else:
        st.query_params[param] = list(vals) if len(vals) > 1 else vals[0]


def keep_page_params(page: str) -> None:
    """On arrival at `page` (its url_path): drop the parameters of other pages (an Explore KPI
    on the Overview); the shared ones, the page's own and any not ours stay."""
    own = set(PAGE_PARAMS.get(page, ()))
    foreign = {p for params in PAGE_PARAMS.values() for p in params} - own
    for param in [p for p in st.query_params if p in foreign]:
        del st.query_params[param]
        _last().pop(param, None)
