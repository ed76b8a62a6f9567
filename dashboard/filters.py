"""Sidebar filters shared by every page: date range, channel, issue type, segment, region, team."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import streamlit as st

from dashboard.i18n import date_text, dimension_label, t, value_label
from dashboard.store_access import cached
from metrics.dimensions import date_extent, distinct_values

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


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def last_full_month(first: date, last: date) -> tuple[date, date]:
    """[start, end) of the last calendar month fully covered by days first..last (inclusive).

    When the data covers less than one full month, the whole extent is the period.
    """
    end = next_month(last) if next_month(last) - timedelta(days=1) == last else month_start(last)
    start = month_start(end - timedelta(days=1))
    if start < first:
        return first, last + timedelta(days=1)
    return start, end


def previous_period(date_from: date, date_to: date) -> tuple[date, date]:
    """The equal-length period just before [date_from, date_to)."""
    return date_from - (date_to - date_from), date_from


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
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for dim, _ in FILTER_DIMENSIONS:
        options = cached(distinct_values, dim)
        key = f"flt_{dim}"
        _seed(key, [])
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
        if values:
            chosen.append((dim, tuple(values)))
    if sb.button(t("filters.reset"), key="flt_reset"):
        for k in ["flt_dates", *(f"flt_{d}" for d, _ in FILTER_DIMENSIONS)]:
            st.session_state.pop(k, None)
            st.session_state.pop(_KEEP + k, None)
        st.rerun()
    return FilterState(date_from, date_to, tuple(chosen))
