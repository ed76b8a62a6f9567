"""Explore: one KPI's trend with target band, its breakdown by a dimension, a heatmap, and the
rows behind a cell. The KPI, grain, breakdown and filters live in the URL (a link opens it)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import numbers
from dashboard.downloads import download_buttons
from dashboard.explore_sections import (
    controls,
    drill_section,
    header,
    picked_cell,
    table,
    trend_start,
)
from dashboard.figures.kpi import breakdown_figure, heatmap_figure, trend_figure
from dashboard.filters import sidebar_filters
from dashboard.i18n import dimension_label, kpi_label, no_data_reason, t
from dashboard.store_access import cached
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.periods import kpi_series
from metrics.targets import targets_frame

PICK = dict(on_select="rerun", selection_mode="single-row")
picked = None

st.title(t("explore.title"))
flt = sidebar_filters()
if flt.date_from is None or flt.date_to is None:
    st.info(t("common.no_data"))
    st.stop()
kpi, grain, window, dim = controls()
filters = header(kpi, flt)  # the definition, and filters this KPI cannot take dropped
base = dict(kpis=(kpi.name,), filters=filters, date_to=flt.date_to)
try:
    # The series marks periods the dates or the data cover only in part (`partial`).
    trend = cached(kpi_series, KpiRequest(grain=grain, date_from=trend_start(flt, window), **base))
    breakdown = cached(query_kpis, KpiRequest(by=(dim,), date_from=flt.date_from, **base))
    cross = None
    if {"channel", "issue_type"} <= set(kpi.dimensions):
        cross = cached(
            query_kpis, KpiRequest(by=("channel", "issue_type"), date_from=flt.date_from, **base)
        )
    # The direction after settings (CES read as agreement is higher-is-better).
    direction = cached(targets_frame).filter(pl.col("kpi") == kpi.name)["direction"][0]
except ValueError as exc:
    st.error(t("explore.error", kpi=kpi_label(kpi.name), error=exc))
    st.stop()

if not trend.is_empty() and trend["reason"].is_not_null().any():  # absent is not zero
    st.info(t("explore.no_data", reason=no_data_reason(trend["reason"].drop_nulls()[0])))
    st.stop()
# A scoped target (chat first response) applies only once the filters select that scope.
target = trend["target"].drop_nulls().first() if not trend.is_empty() else None
st.subheader(t("explore.trend"))
if trend.is_empty():
    st.info(t("explore.no_trend"))
else:
    st.plotly_chart(
        trend_figure(
            trend,
            label=kpi_label(kpi.name),
            unit=kpi.unit,
            target=target,
            direction=direction,
            min_n=kpi.min_n,
        ),
        key="trend",
        config=numbers.plotly_config(),
    )
    table(trend, "trend_table", kpi)
    download_buttons(trend, f"{kpi.name}_trend_{grain}", key="trend")

st.subheader(t("explore.by", dim=dimension_label(dim).lower()))
if breakdown.is_empty():
    st.info(t("explore.no_breakdown"))
else:
    st.plotly_chart(
        breakdown_figure(
            breakdown,
            dim,
            label=kpi_label(kpi.name),
            unit=kpi.unit,
            target=None if kpi.target_scope else target,
            min_n=kpi.min_n,
        ),
        key="breakdown",
        config=numbers.plotly_config(),
    )
    # The caption says what the colours mean here: grey only for small samples.
    no_status = "status" not in breakdown.columns or breakdown["status"].is_null().all()
    notes = [t("explore.no_target_bars" if no_status else "explore.status_bars")]
    if breakdown["small_sample"].fill_null(False).any():
        notes.append(t("explore.grey_bars", min_n=kpi.min_n))
    st.caption(" ".join(notes))
    # A row picked in this table (or the channel × issue one) shows the rows behind it.
    picked = picked_cell(table(breakdown, "breakdown_table", kpi, **PICK), breakdown, (dim,))
    download_buttons(breakdown, f"{kpi.name}_by_{dim}", key="breakdown")

if cross is not None and not cross.is_empty():
    st.subheader(t("explore.cross"))
    st.plotly_chart(
        heatmap_figure(
            cross, label=kpi_label(kpi.name), unit=kpi.unit, direction=direction, min_n=kpi.min_n
        ),
        key="heatmap",
        config=numbers.plotly_config(),
    )
    event = table(cross, "cross_table", kpi, **PICK)
    picked = picked_cell(event, cross, ("channel", "issue_type")) or picked
    download_buttons(cross, f"{kpi.name}_channel_issue", key="cross")
if not breakdown.is_empty():
    drill_section(kpi, dim, breakdown, trend, grain, flt, filters, picked)
