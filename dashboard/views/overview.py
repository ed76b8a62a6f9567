"""Overview: every KPI against its target for the current period, what misses, channel mix."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard import numbers
from dashboard.downloads import download_buttons
from dashboard.figures.kpi import channel_mix_chart, format_value
from dashboard.filters import comparison_picker, month_start, sidebar_filters
from dashboard.i18n import date_text, kpi_label, t, value_label
from dashboard.kpi_cards import kpi_cards
from dashboard.store_access import cached
from metrics.catalogue import CATALOGUE
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.periods import comparison_window, overview
from metrics.targets import near_tolerance, targets_frame

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
kpi_cards(cards, trend, direction)

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
    # A plain table, not st.dataframe: a short list reads the same, and the data grid's
    # canvas was the Overview's last paint (~1 s of a warm visit in Chromium).
    shown = missing.with_columns(  # formatted here: the language lives in this thread
        pl.Series("n", [numbers.count(n) for n in missing["n"]]),
        pl.Series(OFF_BY, [numbers.number(x, 2) for x in missing[OFF_BY]]),
    )
    st.table(shown, hide_index=True)
    download_buttons(missing, "missing_target")  # the numbers stay numbers
else:
    st.success(t("overview.all_meet"))

mix = by_channel.filter(pl.col("kpi") == "channel_mix")
if not mix.is_empty():
    # Vega-Lite, like the cards' sparklines: the Overview loads no Plotly in the browser.
    st.vega_lite_chart(spec=channel_mix_chart(mix), key="channel_mix")
