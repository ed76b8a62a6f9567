"""Explore: one KPI's trend with target band, its breakdown by a dimension, and a heatmap."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard.downloads import download_buttons
from dashboard.figures.kpi import breakdown_figure, heatmap_figure, trend_figure
from dashboard.filters import month_start, sidebar_filters
from dashboard.i18n import (
    column_label,
    dimension_label,
    interval_text,
    kpi_definition,
    kpi_label,
    t,
)
from dashboard.store_access import cached
from metrics.catalogue import CATALOGUE, GRAINS
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.targets import targets_frame

# Mix and band KPIs are always split by their own dimension; the Overview and Churn pages
# show them. Everything else can be explored here.
KPIS = {k.label: k for k in CATALOGUE.values() if not k.implicit_dim}
TREND_WINDOWS = ("12 months", "period")  # keys: explore.window.<key>

st.title(t("explore.title"))
flt = sidebar_filters()
if flt.date_from is None:
    st.info(t("common.no_data"))
    st.stop()
left, mid, right = st.columns([2, 1, 1])
kpi = KPIS[
    left.selectbox(
        t("explore.kpi"), tuple(KPIS), key="ex_kpi", format_func=lambda k: kpi_label(KPIS[k].name)
    )
]
grain = mid.selectbox(
    t("explore.grain"),
    GRAINS,
    index=GRAINS.index("week"),
    key="ex_grain",
    format_func=lambda g: t(f"grain.{g}"),
)
window = right.selectbox(
    t("explore.trend_over"),
    TREND_WINDOWS,
    key="ex_window",
    format_func=lambda w: t(f"explore.window.{w.replace(' ', '_')}"),
)
st.caption(
    t(
        "explore.caption",
        definition=(d := kpi_definition(kpi.name))[:1].upper() + d[1:],
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
filters = tuple((d, v) for d, v in flt.filters if d in kpi.dimensions)
dim = st.selectbox(
    t("explore.break_down_by"), kpi.dimensions, key="ex_dim", format_func=dimension_label
)
trend_from = (
    month_start(flt.date_to - timedelta(days=365)) if window == TREND_WINDOWS[0] else flt.date_from
)
base = dict(kpis=(kpi.name,), filters=filters, date_to=flt.date_to)
try:
    trend = cached(query_kpis, KpiRequest(grain=grain, date_from=trend_from, **base))
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

# The small-sample flag explains itself on hover in every table; every column has a label.
flag = {
    "small_sample": st.column_config.CheckboxColumn(
        t("explore.small_sample"), help=t("explore.small_sample_help", min_n=kpi.min_n)
    )
}


def labels(df: pl.DataFrame) -> dict:
    return {c: st.column_config.Column(column_label(c)) for c in df.columns}


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
    )
    st.dataframe(trend, hide_index=True, key="trend_table", column_config=labels(trend) | flag)
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
    )
    # The caption says what the colours mean here: grey only for small samples.
    no_status = "status" not in breakdown.columns or breakdown["status"].is_null().all()
    notes = [t("explore.no_target_bars" if no_status else "explore.status_bars")]
    if breakdown["small_sample"].fill_null(False).any():
        notes.append(t("explore.grey_bars", min_n=kpi.min_n))
    st.caption(" ".join(notes))
    st.dataframe(
        breakdown, hide_index=True, key="breakdown_table", column_config=labels(breakdown) | flag
    )
    download_buttons(breakdown, f"{kpi.name}_by_{dim}", key="breakdown")

if cross is not None and not cross.is_empty():
    st.subheader(t("explore.cross"))
    st.plotly_chart(
        heatmap_figure(
            cross, label=kpi_label(kpi.name), unit=kpi.unit, direction=direction, min_n=kpi.min_n
        ),
        key="heatmap",
    )
    st.dataframe(cross, hide_index=True, key="cross_table", column_config=labels(cross) | flag)
    download_buttons(cross, f"{kpi.name}_channel_issue", key="cross")
