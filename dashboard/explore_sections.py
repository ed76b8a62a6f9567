"""Explore's sections: its controls (kept in the URL), tables, and the rows behind a cell."""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Any

import polars as pl
import streamlit as st

from dashboard import numbers, url_state
from dashboard.downloads import download_buttons
from dashboard.filters import FilterState, month_start
from dashboard.i18n import (
    column_label,
    date_text,
    dimension_label,
    interval_text,
    kpi_definition,
    kpi_label,
    t,
    t_or,
    value_label,
)
from dashboard.store_access import cached
from metrics.catalogue import CATALOGUE, GRAINS, Kpi
from metrics.drill import DrillRequest, drill_rows, drillable
from metrics.periods import period_end

# Mix and band KPIs are always split by their own dimension; the Overview and Churn pages
# show them. Everything else can be explored here.
KPIS: dict[str, Kpi] = {k.name: k for k in CATALOGUE.values() if not k.implicit_dim}
TREND_WINDOWS = ("12_months", "period")  # keys: explore.window.<key>
DRILL_ROWS = 1000  # rows shown and downloaded; the caption gives the cell's total
Cell = tuple[tuple[str, str | None], ...]


def _select(where, label: str, options, key: str, param: str, default, labels):
    """A selectbox whose value is the URL's `param` (adopted when new, published after)."""
    options = tuple(options)
    url_state.adopt(param, key, url_state.choice(options))
    if st.session_state.get(key) not in options:  # a KPI change may drop the old dimension
        st.session_state[key] = default
    # Labels fixed at this run (in its language), not looked up when the widget is read back.
    shown = {o: labels(o) for o in options}
    value = where.selectbox(label, options, key=key, format_func=shown.get)
    url_state.publish(param, None if value == default else value)
    return value


def controls() -> tuple[Kpi, str, str, str]:
    """The KPI, grain, trend window and breakdown dimension, each in the URL."""
    left, mid, right = st.columns([2, 1, 1])
    name = _select(left, t("explore.kpi"), KPIS, "ex_kpi", "kpi", "nps", kpi_label)
    grain = _select(
        mid, t("explore.grain"), GRAINS, "ex_grain", "grain", "week",
        lambda g: t(f"grain.{g}"),
    )  # fmt: skip
    window = _select(
        right, t("explore.trend_over"), TREND_WINDOWS, "ex_window", "trend", "12_months",
        lambda w: t(f"explore.window.{w}"),
    )  # fmt: skip
    kpi = KPIS[name]
    dim = _select(
        st, t("explore.break_down_by"), kpi.dimensions, "ex_dim", "by", kpi.dimensions[0],
        dimension_label,
    )  # fmt: skip
    return kpi, grain, window, dim


def header(kpi: Kpi, flt: FilterState) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The KPI's definition and period; the filters it can take (a warning names the rest)."""
    definition = kpi_definition(kpi.name)
    st.caption(
        t(
            "explore.caption",
            definition=definition[:1].upper() + definition[1:],
            period=flt.label,
            interval=interval_text(kpi.interval),
        )
    )
    # A filter on a dimension this KPI cannot be cut by would be refused; say so and drop it.
    ignored = [d for d, _ in flt.filters if d not in kpi.dimensions]
    if ignored:
        st.warning(
            t(
                "explore.filter_ignored",
                kpi=kpi_label(kpi.name),
                dims=", ".join(dimension_label(d).lower() for d in ignored),
            )
        )
    return tuple((d, v) for d, v in flt.filters if d in kpi.dimensions)


def trend_start(flt: FilterState, window: str) -> date | None:
    """Where the trend starts: 12 months before the period's end, or the period's start."""
    assert flt.date_to is not None
    if window == TREND_WINDOWS[0]:
        return month_start(flt.date_to - timedelta(days=365))
    return flt.date_from


def table(df: pl.DataFrame, key: str, kpi: Kpi, **kw) -> object:
    """A result table with every column in people's words and the flags explained on hover.

    Shown without the KPI's internal name (the page names it) and without a reason column
    that says nothing; statuses in words, probabilities in %. Rows keep their order, so a
    selection's row numbers still index `df`; downloads take `df` itself."""
    empty = [c for c in ("reason",) if c in df.columns and df[c].null_count() == df.height]
    shown = df.drop("kpi", *empty, strict=False)
    if "status" in shown.columns:
        words = [t_or(f"status.{s}.word", s) if s else "" for s in shown["status"].to_list()]
        shown = shown.with_columns(pl.Series("status", words, dtype=pl.String))
    # Values stay numbers (sorting, selection, downloads); the text shown is written by
    # dashboard.numbers in the KPI's unit and the UI language (_styled).
    config = {
        c: st.column_config.DateColumn(column_label(c), format="YYYY-MM-DD")
        if c == "period"
        else st.column_config.Column(column_label(c))
        for c in shown.columns
    }
    config["small_sample"] = st.column_config.CheckboxColumn(
        t("explore.small_sample"), help=t("explore.small_sample_help", min_n=kpi.min_n)
    )
    if "partial" in df.columns:
        config["partial"] = st.column_config.CheckboxColumn(
            t("links.partial"), help=t("links.partial_help")
        )
    return st.dataframe(_styled(shown, kpi), hide_index=True, key=key, column_config=config, **kw)


def _styled(shown: pl.DataFrame, kpi: Kpi) -> Any:
    """The table's numbers written by dashboard.numbers in the KPI's unit (numbers.styled)."""
    fmt: dict[str, Any] = {
        c: partial(numbers.delta if c == "delta" else numbers.value, unit=kpi.unit)
        for c in shown.columns
        if c in numbers.VALUE_COLUMNS
    }
    fmt |= {c: numbers.probability for c in ("p_meets", "p_misses") if c in shown.columns}
    fmt |= {c: numbers.count for c in ("n",) if c in shown.columns}
    return numbers.styled(shown, fmt)


def picked_cell(event: Any, frame: pl.DataFrame, dims: tuple[str, ...]) -> Cell | None:
    """The (dimension, value) pairs of the row selected in a table shown with on_select."""
    rows = list(getattr(getattr(event, "selection", None), "rows", None) or [])
    if not rows or rows[0] >= frame.height:
        return None
    row = frame.row(rows[0], named=True)
    return tuple((d, row[d]) for d in dims)


def drill_section(
    kpi: Kpi,
    dim: str,
    breakdown: pl.DataFrame,
    trend: pl.DataFrame,
    grain: str,
    flt: FilterState,
    filters: tuple[tuple[str, tuple[str, ...]], ...],
    picked: Cell | None = None,
) -> None:
    """The contacts or answers behind one cell, with CSV and XLSX downloads: a row picked in
    the breakdown or channel × issue table (`picked`), else the value of `dim` chosen here;
    in the whole period or one of its trend periods."""
    st.subheader(t("links.drill"))
    if not drillable(kpi.name):
        st.caption(t("links.drill_not_available", kpi=kpi_label(kpi.name)))
        return
    st.caption(t("links.drill_help"))
    values = [None, *breakdown[dim].to_list()]
    left, right = st.columns(2)
    value = left.selectbox(
        dimension_label(dim),
        range(len(values)),
        key="ex_drill_value",
        format_func=[t("links.drill_none"), *(value_label(dim, v) for v in values[1:])].__getitem__,
    )
    assert flt.date_from is not None and flt.date_to is not None
    inside = [
        p
        for p in trend["period"].to_list()
        if p < flt.date_to and period_end(p, grain) > flt.date_from
    ]
    periods = [None, *inside]
    period = right.selectbox(
        t("links.drill_period"),
        range(len(periods)),
        key="ex_drill_period",
        format_func=[t("links.drill_whole"), *(date_text(p) for p in periods[1:])].__getitem__,
    )
    cell = picked or (((dim, values[value]),) if value else None)
    if cell is None:
        return
    request = DrillRequest(
        kpi.name,
        cell=cell,
        grain=grain if period else None,
        period=periods[period],
        date_from=flt.date_from,
        date_to=flt.date_to,
        filters=filters,
        limit=DRILL_ROWS,
    )
    result = cached(drill_rows, request)
    if result.total == 0:
        st.info(t("links.drill_empty"))
        return
    where = ", ".join(value_label(d, v) for d, v in cell) + (
        f", {date_text(periods[period])}" if period else f", {flt.label}"
    )
    st.caption(
        t(
            "links.drill_caption",
            shown=numbers.count(result.rows.height),
            total=numbers.count(result.total),
            kpi=kpi_label(kpi.name),
            cell=where,
        )
    )
    rows = result.rows
    config = {c: st.column_config.Column(column_label(c)) for c in rows.columns}
    st.dataframe(rows, hide_index=True, key="drill_table", column_config=config)
    slug = "_".join(str(v) for _, v in cell)
    download_buttons(rows, f"{kpi.name}_{slug}_rows", key="drill")
