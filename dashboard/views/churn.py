"""Churn & CLV: churn trend, cohorts, what drives churn, and what a point of churn is worth."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.figures.churn import (
    churn_breakdown_figure,
    clv_interval_figure,
    retention_figure,
    satisfaction_figure,
    what_if_figure,
)
from dashboard.figures.kpi import trend_figure
from dashboard.safe_text import md_escape
from dashboard.store_access import cached, get_store
from metrics.churn import (
    MIN_SAMPLE,
    SWITCHING_REFERENCE,
    add_months,
    churn_breakdowns,
    data_end,
    data_start,
    retention_by_cohort,
)
from metrics.clv import clv_what_if, load_margin, simple_clv
from metrics.clv_models import cached_clv, start_clv_fit
from metrics.kpi_query import KpiRequest, query_kpis

# Shares as percentages and money as whole numbers in the tables (column names per table).
PCT, MONEY = (st.column_config.NumberColumn(format=f) for f in ("percent", "localized"))
SHARES = ("value", "ci_low", "ci_high", "reference", "rate", "monthly_churn", "change_pct")
AMOUNTS = ("arpu", "clv", "clv_after", "value_change", "value_mean", "value_total")
FORMATS = {c: PCT for c in (*SHARES, "churn_reduction")} | {c: MONEY for c in AMOUNTS}
# In the probabilistic table the interval columns are money.
PROB_FORMATS = {c: MONEY for c in (*AMOUNTS, "ci_low", "ci_high", "total_ci_low", "total_ci_high")}

st.title("Churn & CLV")
end = cached(data_end)
if end is None:
    st.info("The store has no customers yet. Load customers and invoices on the Data page.")
    st.stop()
margin = st.sidebar.number_input(
    "Gross margin for CLV",
    0.01,
    1.0,
    cached(load_margin),
    0.01,
    help="Share of revenue kept; stored default: setting clv.margin",
)
try:
    # The last 24 months, but not before the exports begin (older months show no churn
    # only because nothing was recorded then).
    start = max(add_months(end, -24), (cached(data_start) or end).replace(day=1))
    trend = cached(
        query_kpis, KpiRequest(kpis=("churn_rate",), grain="month", date_from=start, date_to=end)
    )
    by_sat = cached(
        query_kpis, KpiRequest(kpis=("churn_by_satisfaction",), by=("satisfaction_band",))
    )
    cohorts = cached(retention_by_cohort)
    breakdowns = cached(churn_breakdowns)
    simple = cached(simple_clv, margin=margin)
except Exception as exc:  # noqa: BLE001 - a readable message, never a traceback
    st.error(f"Churn figures could not be computed: {exc}")
    st.stop()
small_rule = f"Cells with n below {MIN_SAMPLE} are greyed and marked: too few to judge."
st.caption(f"Data up to {end:%-d %b %Y}. {small_rule}")

st.subheader("Monthly churn")
trend = trend.filter(pl.col("n") > 0)
if trend.height:
    last = trend.sort("period").row(-1, named=True)
    st.metric(
        f"Churn rate, {last['period']:%B %Y}",
        f"{last['value']:.2%}",
        help=f"n = {last['n']:,} customers active at the month's start",
    )
    st.plotly_chart(
        trend_figure(
            trend,
            label="Monthly churn rate",
            unit="share",
            target=last["target"],
            direction="lower",
        )
    )

st.subheader("Satisfaction and churn")
st.caption(
    "Share of surveyed customers who churned within 90 days of answering, beside the "
    "share who think of switching when the invoice arrives (SEED_FACTS: 4/21/35/67/73 %)."
)
sat = by_sat.select("satisfaction_band", "value", "n", "ci_low", "ci_high", "small_sample")
if sat.height == 0:
    st.info("No survey answers with a CSAT score yet: load surveys to see this link.")
else:
    st.plotly_chart(satisfaction_figure(sat, SWITCHING_REFERENCE))
st.dataframe(
    sat.with_columns(
        pl.col("satisfaction_band")
        .replace_strict(SWITCHING_REFERENCE, default=None)
        .alias("reference")
    ),
    hide_index=True,
    column_config=FORMATS,
)

st.subheader("Retention by signup cohort")
st.plotly_chart(retention_figure(cohorts))

st.subheader("What goes with churn")
tabs = st.tabs(["Tenure", "Invoice fee", "Reminders", "Last contact channel"])
for tab, dim in zip(
    tabs, ("tenure", "invoice fee", "reminders", "last contact channel"), strict=True
):
    with tab:
        st.plotly_chart(churn_breakdown_figure(breakdowns, dim))
        st.dataframe(
            breakdowns.filter(pl.col("dimension") == dim).drop("dimension"),
            hide_index=True,
            column_config=FORMATS,
        )

st.subheader("Customer lifetime value, simple")
st.caption(f"CLV = ARPU × margin ({margin:.0%}) ÷ monthly churn, last 12 months, per segment.")
st.dataframe(simple.drop("margin"), hide_index=True, column_config=FORMATS)
for row in simple.filter(pl.col("message").is_not_null()).iter_rows(named=True):
    st.warning(f"{md_escape(row['segment'])}: {md_escape(row['message'])}")  # from a file
what_if = clv_what_if(simple)
st.plotly_chart(what_if_figure(what_if))
st.dataframe(
    what_if.select("segment", "churn_reduction", "clv", "clv_after", "change_pct", "value_change"),
    hide_index=True,
    column_config=FORMATS,
)

st.subheader("Customer lifetime value, probabilistic (BG/NBD + Gamma-Gamma)")
method = st.radio(
    "Method",
    ("map", "nuts"),
    horizontal=True,
    format_func={"map": "MAP + Laplace (seconds)", "nuts": "NUTS (minutes)"}.get,
)
# Read live, not through cached(): fit progress is bookkeeping that keeps the data version.
fit, status = cached_clv(get_store(), method)
if st.button("Fit model", disabled=bool(status and status.status == "running")):
    status = start_clv_fit(get_store(), method=method)


@st.fragment(run_every=1.5 if status and status.status == "running" else None)
def progress_panel() -> None:
    fit, status = cached_clv(get_store(), method)
    if status is None:
        st.info("Not fitted yet: press **Fit model**. The fit runs in the background.")
    elif status.status == "running":
        st.progress(status.progress, text=f"Fitting: {status.message or 'working'}")
    elif status.status in ("failed", "interrupted"):
        st.error(f"The last fit did not finish: {status.error or 'the app stopped during it'}")
    if fit is None:
        return
    if not status.current:
        st.warning("The data changed since this fit; press **Fit model** to refit.")
    st.caption(f"{fit.n_customers:,} invoiced customers, as of {fit.as_of}; {fit.interval}.")
    st.plotly_chart(clv_interval_figure(fit.segments, fit.horizon_months))
    st.dataframe(
        pl.DataFrame([*fit.segments, fit.total]), hide_index=True, column_config=PROB_FORMATS
    )
    for note in fit.notes:
        st.caption(note)


progress_panel()
