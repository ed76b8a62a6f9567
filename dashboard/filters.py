"""Sidebar filters shared by every page: date range, channel, issue type, segment, region, team.

The selection lives in the URL too (dashboard/url_state.py): a link opens the same filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import streamlit as st

from dashboard import url_state
from dashboard.i18n import date_text, dimension_label, t, value_label
from dashboard.store_access import cached
from metrics.dimensions import date_extent, distinct_values
from metrics.periods import COMPARISONS, NAMED_PERIODS, named_period
from metrics.periods import last_full_month as last_full_month  # re-exported
from metrics.periods import previous_window as previous_period  # noqa: F401 - re-exported

FILTER_DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("channel", "Channel"),
    ("issue_type", "Issue type"),
    ("segment", "Segment"),
    ("region", "Region"),
    ("team", "Team"),
)
_KEEP = "_keep_"  # widget state is dropped when a page without the widget runs; this is not


@dataclass(frozen=True)
class FilterState:
    """What the sidebar selected: a period [date_from, date_to) and dimension filters."""

    date_from: date | None
    date_to: date | None  # exclusive, like `cx kpis --to`
    filters: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    @property
    def as_dict(self) -> dict[str, tuple[str, ...]]:
        return dict(self.filters)

    @property
    def label(self) -> str:
        """The period in words, e.g. '1 Sep 2026 – 30 Sep 2026'."""
        if self.date_from is None or self.date_to is None:
            return t("filters.all_data")
        last = self.date_to - timedelta(days=1)
        return f"{date_text(self.date_from)} – {date_text(last)}"


def month_start(day: date) -> date:
    return day.replace(day=1)


def _seed(key: str, default: object) -> None:
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(_KEEP + key, default)


def _keep(key: str) -> None:
    st.session_state[_KEEP + key] = st.session_state[key]


def sidebar_filters() -> FilterState:
    """Draw the shared filters in the sidebar and return the selection.

    The default period is the last full month in the data, so the Overview opens on a
    complete month rather than a half-filled current one.
    """
    extent = cached(date_extent)
    sb = st.sidebar
    sb.header(t("filters.header"))
    if extent is None:
        sb.caption(t("filters.empty"))
        return FilterState(None, None)
    first, last = extent
    start, end = last_full_month(first, last)
    default = (start, end - timedelta(days=1))
    _seed("flt_dates", default)
    _dates_from_url(first, last, sb)
    # A period kept from another store (or before a reload) may fall outside this data.
    if not all(first <= d <= last for d in st.session_state["flt_dates"]):
        st.session_state["flt_dates"] = default
    picked = sb.date_input(
        t("filters.period"),
        key="flt_dates",
        min_value=first,
        max_value=last,
        format="YYYY-MM-DD",
        help=t("filters.period_help"),
    )
    _keep("flt_dates")
    if isinstance(picked, tuple) and len(picked) == 2:
        date_from, date_to = picked[0], picked[1] + timedelta(days=1)
    else:  # the user has picked only the first day so far
        day = picked[0] if isinstance(picked, tuple) and picked else start
        date_from, date_to = day, day + timedelta(days=1)
    _dates_to_url(date_from, date_to)
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for dim, _ in FILTER_DIMENSIONS:
        options = cached(distinct_values, dim)
        key = f"flt_{dim}"
        _seed(key, [])
        url_state.adopt(dim, key, _known_values(dim, options), sb)
        # A value that vanished from the store would make Streamlit refuse the widget.
        st.session_state[key] = [v for v in st.session_state[key] if v in options]
        values = sb.multiselect(
            dimension_label(dim),
            options,
            key=key,
            placeholder=t("filters.all"),
            format_func=lambda v, dim=dim: value_label(dim, v),
        )
        _keep(key)
        url_state.publish(dim, values)
        if values:
            chosen.append((dim, tuple(values)))
    if sb.button(t("filters.reset"), key="flt_reset"):
        for k in ["flt_dates", _NAMED, *(f"flt_{d}" for d, _ in FILTER_DIMENSIONS)]:
            st.session_state.pop(k, None)
            st.session_state.pop(_KEEP + k, None)
        st.rerun()
    return FilterState(date_from, date_to, tuple(chosen))


_NAMED = "flt_named_period"  # the named period the dates came from (a link keeps the name)


def _iso(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise url_state.UrlValueError(t("links.expected_date")) from None


def _dates_from_url(first: date, last: date, sb) -> None:
    """?period=NAME or ?from=&to= (inclusive days) into the date widget, inside the data."""
    name = url_state.incoming("period")
    if name is not None:
        try:
            if len(name) != 1:
                raise url_state.UrlValueError(t("links.one_value"))
            lo, hi = named_period(name[0], last)
        except ValueError:
            url_state.warn(
                "period", name, t("links.expected_one_of", options=", ".join(NAMED_PERIODS)), sb
            )
        else:
            lo, hi = max(lo, first), min(hi - timedelta(days=1), last)
            if lo <= hi:
                st.session_state["flt_dates"] = (lo, hi)
                st.session_state[_NAMED] = (name[0], (lo, hi))
                return
            url_state.warn("period", name, t("links.outside", first=first, last=last), sb)
    raw_from, raw_to = url_state.incoming("from"), url_state.incoming("to")
    if raw_from is None and raw_to is None:
        return
    try:
        lo = _iso(raw_from[-1]) if raw_from else st.session_state["flt_dates"][0]
        hi = _iso(raw_to[-1]) if raw_to else st.session_state["flt_dates"][-1]
        # A range reaching past the data is cut to it (the period label shows what is used).
        lo, hi = max(lo, first), min(hi, last)
        if lo > hi:
            raise url_state.UrlValueError(t("links.outside", first=first, last=last))
    except ValueError as exc:
        url_state.warn("from/to", [*(raw_from or []), *(raw_to or [])], str(exc), sb)
        return
    st.session_state["flt_dates"] = (lo, hi)
    st.session_state.pop(_NAMED, None)


def _dates_to_url(date_from: date, date_to: date) -> None:
    """The period into the URL: its name while the dates are still the named period's."""
    named = st.session_state.get(_NAMED)
    if named is not None and named[1] == (date_from, date_to - timedelta(days=1)):
        url_state.publish("period", named[0])
        url_state.publish("from", None)
        url_state.publish("to", None)
        return
    st.session_state.pop(_NAMED, None)
    url_state.publish("period", None)
    url_state.publish("from", date_from.isoformat())
    url_state.publish("to", (date_to - timedelta(days=1)).isoformat())


def _known_values(dim: str, options: tuple[str, ...]):
    """A URL filter parser: the values the store knows; unknown ones are named and dropped."""

    def parse(raw: list[str]) -> list[str]:
        unknown = [v for v in raw if v not in options]
        if unknown:
            url_state.warn(dim, unknown, t("links.unknown_value"), st.sidebar)
        return [v for v in raw if v in options]

    return parse


def comparison_picker() -> str:
    """The sidebar's comparison choice (previous period, previous month, same period last
    year), kept in the URL as ?compare=; returns the kind."""
    url_state.adopt("compare", "flt_compare", url_state.choice(COMPARISONS), st.sidebar)
    _seed("flt_compare", COMPARISONS[0])
    # Labels fixed at this run: a format function reading the language later would label the
    # options in another language than the one they were drawn in.
    labels = {c: t(f"links.compare_{c}") for c in COMPARISONS}
    kind = st.sidebar.selectbox(
        t("links.compare"), COMPARISONS, key="flt_compare", format_func=labels.get
    )
    _keep("flt_compare")
    url_state.publish("compare", None if kind == COMPARISONS[0] else kind)
    return kind
