"""Overview: every KPI against its target for the current period, what misses, channel mix."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard import numbers
from dashboard.downloads import download_buttons
from dashboard.figures.kpi import (
    channel_mix_figure,
    format_delta,
    format_value,
    small_sample_reason,
    sparkline,
)
from dashboard.filters import comparison_picker, month_start, sidebar_filters
from dashboard.i18n import current_language, date_text, kpi_definition, kpi_label, t, value_label
from dashboard.store_access import cached
from metrics.catalogue import CATALOGUE
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.periods import comparison_window, overview
from metrics.targets import near_tolerance, status_text, targets_frame

BADGE = {
    "meets": ":green-badge[{}]",
    "near": ":orange-badge[{}]",
    "misses": ":red-badge[{}]",
    "unclear": ":gray-badge[{}]",
}


def badge(status: str | None) -> str:
    return BADGE.get(status, ":gray-badge[{}]").format(t(f"status.{status or 'none'}.badge"))


st.title(t("overview.title"))
flt = sidebar_filters()
if flt.date_from is None:
    st.info(t("common.no_data"))
    st.stop()
compare = comparison_picker()  # the period before, a month or a year earlier (?compare=)
prev_from, prev_to = comparison_window(flt.date_from, flt.date_to, compare)
st.caption(
    t(
        "overview.caption",
        period=flt.label,
        prev_from=date_text(prev_from, year=False),
        prev_to=date_text(prev_to - timedelta(days=1)),
        rule=t("status.rule"),
    )
)
req = dict(date_from=flt.date_from, date_to=flt.date_to, filters=flt.filters)
try:
    # Current + previous period and the channel breakdown share one scan per source.
    now, by_channel = cached(overview, flt.date_from, flt.date_to, flt.filters, comparison=compare)
    spark_from = month_start(flt.date_to - timedelta(days=365))
    trend = cached(query_kpis, KpiRequest(grain="month", **{**req, "date_from": spark_from}))
    # The direction after settings (CES read as agreement is higher-is-better).
    direction = dict(cached(targets_frame).select("kpi", "direction").iter_rows())
except ValueError as exc:
    st.error(t("overview.error", error=exc))
    st.stop()

cards = now.filter(pl.col("kpi").is_in([k for k, v in CATALOGUE.items() if not v.implicit_dim]))
for start in range(0, cards.height, 4):
    for col, row in zip(st.columns(4), cards.slice(start, 4).iter_rows(named=True), strict=False):
        kpi, prob = CATALOGUE[row["kpi"]], row["prob_real"]
        box = col.container(border=True)
        if row["reason"]:  # absent is not zero: no value, no badge, no verdict; the reason
            box.metric(kpi_label(kpi.name), t("overview.no_data"), help=kpi_definition(kpi.name))
            box.caption(t("overview.no_data_reason", reason=row["reason"]))
            continue
        box.metric(
            kpi_label(kpi.name),
            format_value(row["value"], kpi.unit),
            delta=format_delta(row["delta"], kpi.unit, like=row["value"]),
            # A change that is probably noise is shown muted, not red or green.
            delta_color="off"
            if row["noise"]
            else ("normal" if direction[row["kpi"]] == "higher" else "inverse"),
            help=kpi_definition(kpi.name)
            + "\n\n"
            + t("overview.change_noise" if row["noise"] else "overview.change_real")
            + (numbers.p_phrase("overview.p_real", prob) if prob is not None else "."),
        )
        target = (
            t("overview.no_target")
            if row["target"] is None
            else t("overview.target", value=format_value(row["target"], kpi.unit))
        )
        box.markdown(f"{badge(row['status'])} {target} · n = {numbers.count(row['n'])}")
        if row["status"] is not None:  # "probably meets (P = 94 %)": the status with its odds
            box.caption(status_text(row, current_language()))
        if row["small_sample"]:
            box.caption(
                ":gray[" + t("overview.not_judged", min_n=kpi.min_n) + "]",
                help=small_sample_reason(row["n"], kpi.min_n),
            )
        series = trend.filter(pl.col("kpi") == row["kpi"])
        if series.height > 1:
            box.plotly_chart(
                sparkline(series, unit=kpi.unit),
                key=f"spark_{row['kpi']}",
                config={"displayModeBar": False},
            )

st.subheader(t("overview.missing_target"))
cols = ["kpi", "value", "n", "target", "status"]
cells = pl.concat(
    [
        cards.select(cols).with_columns(channel=pl.lit("all")),
        by_channel.filter(pl.col("kpi").is_in(cards["kpi"].to_list())).select(*cols, "channel"),
    ]
)
OFF_BY = t("overview.col.off_by")
slipping = [
    {
        t("overview.col.kpi"): kpi_label(kpi.name),
        t("overview.col.channel"): t("overview.all_channels")
        if r["channel"] == "all"
        else value_label("channel", r["channel"]),
        t("overview.col.value"): format_value(r["value"], kpi.unit),
        t("overview.col.target"): format_value(r["target"], kpi.unit),
        t("overview.col.status"): t(f"status.{r['status']}.word"),
        "n": r["n"],
        # Gaps in different units compare once measured in each KPI's "near" tolerance.
        OFF_BY: round(abs(r["value"] - r["target"]) / (near_tolerance(kpi, r["target"]) or 1.0), 2),
    }
    for r in cells.filter(pl.col("status").is_in(["near", "misses"])).iter_rows(named=True)
    if (kpi := CATALOGUE[r["kpi"]])
]
if slipping:
    missing = pl.DataFrame(slipping).sort(OFF_BY, descending=True)
    st.dataframe(missing, hide_index=True)
    download_buttons(missing, "missing_target")
else:
    st.success(t("overview.all_meet"))

mix = by_channel.filter(pl.col("kpi") == "channel_mix")
if not mix.is_empty():
    st.plotly_chart(channel_mix_figure(mix), key="channel_mix")
