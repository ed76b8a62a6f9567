"""Overview: every KPI against its target for the current period, what misses, channel mix."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard.downloads import download_buttons
from dashboard.figures.kpi import (
    channel_mix_figure,
    format_delta,
    format_value,
    small_sample_reason,
    sparkline,
)
from dashboard.filters import month_start, previous_period, sidebar_filters
from dashboard.store_access import cached
from metrics.catalogue import CATALOGUE
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.periods import overview
from metrics.targets import STATUS_RULE, near_tolerance, status_text, targets_frame

BADGE = {
    "meets": ":green-badge[meets target]",
    "near": ":orange-badge[near target]",
    "misses": ":red-badge[misses target]",
    "unclear": ":gray-badge[unclear vs target]",
    None: ":gray-badge[no status]",
}

st.title("Overview")
flt = sidebar_filters()
if flt.date_from is None:
    st.info("The store has no contacts or surveys yet. Load an export on the Data page.")
    st.stop()
prev_from, prev_to = previous_period(flt.date_from, flt.date_to)
st.caption(
    f"Current period **{flt.label}** (the last full month in the data unless you pick "
    f"dates in the sidebar), compared with {prev_from:%-d %b} – "
    f"{prev_to - timedelta(days=1):%-d %b %Y}. {STATUS_RULE}."
)
req = dict(date_from=flt.date_from, date_to=flt.date_to, filters=flt.filters)
try:
    # Current + previous period and the channel breakdown share one scan per source.
    now, by_channel = cached(overview, flt.date_from, flt.date_to, flt.filters)
    spark_from = month_start(flt.date_to - timedelta(days=365))
    trend = cached(query_kpis, KpiRequest(grain="month", **{**req, "date_from": spark_from}))
    # The direction after settings (CES read as agreement is higher-is-better).
    direction = dict(cached(targets_frame).select("kpi", "direction").iter_rows())
except ValueError as exc:
    st.error(f"The KPIs could not be computed for this selection: {exc}")
    st.stop()

cards = now.filter(pl.col("kpi").is_in([k for k, v in CATALOGUE.items() if not v.implicit_dim]))
for start in range(0, cards.height, 4):
    for col, row in zip(st.columns(4), cards.slice(start, 4).iter_rows(named=True), strict=False):
        kpi, prob = CATALOGUE[row["kpi"]], row["prob_real"]
        box = col.container(border=True)
        box.metric(
            kpi.label,
            format_value(row["value"], kpi.unit),
            delta=format_delta(row["delta"], kpi.unit),
            # A change that is probably noise is shown muted, not red or green.
            delta_color="off"
            if row["noise"]
            else ("normal" if direction[row["kpi"]] == "higher" else "inverse"),
            help=f"{kpi.definition}\n\nChange vs the previous period: "
            + ("probably noise" if row["noise"] else "probably real")
            + (f" (P(real) = {prob:.0%})." if prob is not None else "."),
        )
        target = (
            "no target"
            if row["target"] is None
            else ("target " + format_value(row["target"], kpi.unit))
        )
        box.markdown(f"{BADGE[row['status']]} {target} · n = {row['n']:,}")
        if row["status"] is not None:  # "probably meets (P = 94 %)": the status with its odds
            box.caption(status_text(row))
        if row["small_sample"]:
            box.caption(
                f":gray[n below the minimum of {kpi.min_n}: not judged]",
                help=small_sample_reason(row["n"], kpi.min_n),
            )
        series = trend.filter(pl.col("kpi") == row["kpi"])
        if series.height > 1:
            box.plotly_chart(
                sparkline(series), key=f"spark_{row['kpi']}", config={"displayModeBar": False}
            )

st.subheader("Missing target")
cols = ["kpi", "value", "n", "target", "status"]
cells = pl.concat(
    [
        cards.select(cols).with_columns(channel=pl.lit("all")),
        by_channel.filter(pl.col("kpi").is_in(cards["kpi"].to_list())).select(*cols, "channel"),
    ]
)
slipping = [
    {
        "KPI": kpi.label,
        "channel": r["channel"],
        "value": format_value(r["value"], kpi.unit),
        "target": format_value(r["target"], kpi.unit),
        "status": r["status"],
        "n": r["n"],
        # Gaps in different units compare once measured in each KPI's "near" tolerance.
        "off by (× near tolerance)": round(
            abs(r["value"] - r["target"]) / (near_tolerance(kpi, r["target"]) or 1.0), 2
        ),
    }
    for r in cells.filter(pl.col("status").is_in(["near", "misses"])).iter_rows(named=True)
    if (kpi := CATALOGUE[r["kpi"]])
]
if slipping:
    missing = pl.DataFrame(slipping).sort("off by (× near tolerance)", descending=True)
    st.dataframe(missing, hide_index=True)
    download_buttons(missing, "missing_target")
else:
    st.success("Every KPI with a target and enough data meets it in this period.")

mix = by_channel.filter(pl.col("kpi") == "channel_mix")
if not mix.is_empty():
    st.plotly_chart(channel_mix_figure(mix), key="channel_mix")
