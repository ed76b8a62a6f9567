"""Sections of the Churn & CLV page: each reads its widgets, calls metrics/, renders figures.

The page (dashboard/views/churn.py) only orders these. Tables show people's labels, shares
as %, money in SEK; the frames keep their column names (tests and downloads use them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import polars as pl
import streamlit as st

from dashboard.figures.churn import (
    churn_breakdown_figure,
    clv_interval_figure,
    drivers_figure,
    retention_figure,
    satisfaction_figure,
    sbg_clv_figure,
    survival_figure,
    what_if_figure,
)
from dashboard.figures.kpi import format_value, trend_figure
from dashboard.safe_text import md_escape
from dashboard.store_access import cached, get_store
from metrics.churn import (
    SWITCHING_REFERENCE,
    add_months,
    churn_breakdowns,
    data_start,
    retention_by_cohort,
)
from metrics.clv import clv_what_if, simple_clv
from metrics.clv_models import cached_clv, start_clv_fit
from metrics.followups import FollowupError, detractor_counts, detractors, mark_done
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.retention.contractual import CURRENCY, bound_notes, choose_model, contractual_clv
from metrics.retention.drivers import KPIS as DRIVER_KPIS
from metrics.retention.drivers import key_drivers
from metrics.retention.durations import DIMENSIONS
from metrics.retention.survival import survival_by

T = TypeVar("T")
CC = st.column_config


def pct(label: str, help: str | None = None) -> Any:
    return CC.NumberColumn(label, format="percent", help=help)


def money(label: str, help: str | None = None) -> Any:
    return CC.NumberColumn(f"{label} ({CURRENCY})", format="localized", help=help)


def count(label: str, help: str | None = None) -> Any:
    return CC.NumberColumn(label, format="localized", help=help)


def text(label: str) -> Any:
    return CC.TextColumn(label)


def flag(label: str = "n below 30") -> Any:
    return CC.CheckboxColumn(label, help="too few to judge: greyed in the figures")


def show_table(df: pl.DataFrame, config: dict[str, Any]) -> None:
    """Only the configured columns, in that order, with their labels."""
    st.dataframe(
        df.select([c for c in config if c in df.columns]), hide_index=True, column_config=config
    )


def computed(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """cached(fn, ...) or a readable error (never a traceback) and None.

    ValueError is the metrics layer's "not enough data" (too few rows, no churn yet): said
    as information, not as a failure.
    """
    try:
        return cached(fn, *args, **kwargs)
    except ValueError as exc:
        st.info(f"{what}: {exc}")
        return None
    except Exception as exc:  # noqa: BLE001 - one sentence for the manager
        st.error(f"{what} could not be computed: {exc}")
        return None


def monthly_churn(end) -> None:
    st.subheader("Monthly churn")
    # The last 24 months, not before the exports begin (older months show no churn only
    # because nothing was recorded then).
    start = max(add_months(end, -24), (cached(data_start) or end).replace(day=1))
    req = KpiRequest(kpis=("churn_rate",), grain="month", date_from=start, date_to=end)
    trend = computed("Monthly churn", query_kpis, req)
    if trend is None or (trend := trend.filter(pl.col("n") > 0)).height == 0:
        return
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


def satisfaction_and_churn() -> None:
    st.subheader("Satisfaction and churn")
    st.caption(
        "Share of surveyed customers who churned within 90 days of answering, beside the "
        "share who think of switching when the invoice arrives (Novus/Billogram survey of telecom customers: 4/21/35/67/73 %)."
    )
    req = KpiRequest(kpis=("churn_by_satisfaction",), by=("satisfaction_band",))
    by_sat = computed("Churn by satisfaction", query_kpis, req)
    if by_sat is None:
        return
    sat = by_sat.select("satisfaction_band", "value", "n", "ci_low", "ci_high", "small_sample")
    if sat.height == 0:
        st.info("No survey answers with a CSAT score yet: load surveys to see this link.")
    else:
        st.plotly_chart(satisfaction_figure(sat, SWITCHING_REFERENCE))
    ref = pl.col("satisfaction_band").replace_strict(SWITCHING_REFERENCE, default=None)
    show_table(
        sat.with_columns(ref.alias("reference")),
        {
            "satisfaction_band": text("Satisfaction"),
            "value": pct("Churned within 90 days"),
            "n": count("Answers (n)"),
            "ci_low": pct("95 % low"),
            "ci_high": pct("95 % high"),
            "reference": pct("Think of switching (survey)"),
            "small_sample": flag(),
        },
    )


def cohorts_and_breakdowns() -> None:
    st.subheader("Retention by signup cohort")
    cohorts = computed("Cohort retention", retention_by_cohort)
    if cohorts is not None:
        st.plotly_chart(retention_figure(cohorts))
    st.subheader("What goes with churn")
    breakdowns = computed("Churn breakdowns", churn_breakdowns)
    if breakdowns is None:
        return
    dims = ("tenure", "invoice fee", "reminders", "last contact channel")
    for tab, dim in zip(st.tabs([d.capitalize() for d in dims]), dims, strict=True):
        with tab:
            st.plotly_chart(churn_breakdown_figure(breakdowns, dim))
            show_table(
                breakdowns.filter(pl.col("dimension") == dim),
                {
                    "band": text(dim.capitalize()),
                    "n": count("n"),
                    "churned": count("Churned"),
                    "rate": pct("Churn rate"),
                    "rate_unit": text("Rate per"),
                    "small_sample": flag(),
                },
            )


def simple_clv_section(margin: float) -> None:
    st.subheader("Customer lifetime value, simple")
    st.caption(f"CLV = ARPU × margin ({margin:.0%}) ÷ monthly churn, last 12 months, per segment.")
    simple = computed("Simple CLV", simple_clv, margin=margin)
    if simple is None:
        return
    show_table(
        simple,
        {
            "segment": text("Segment"),
            "customers": count("Active customers (n)"),
            "monthly_churn": pct("Monthly churn"),
            "arpu": money("ARPU per month"),
            "clv": money("CLV"),
            "small_sample": flag(),
        },
    )
    for row in simple.filter(pl.col("message").is_not_null()).iter_rows(named=True):
        st.warning(f"{md_escape(row['segment'])}: {md_escape(row['message'])}")  # from a file
    what_if = clv_what_if(simple)
    st.plotly_chart(what_if_figure(what_if))
    show_table(
        what_if,
        {
            "segment": text("Segment"),
            "churn_reduction": pct("Churn reduction"),
            "clv": money("CLV today"),
            "clv_after": money("CLV after"),
            "change_pct": pct("Change"),
            "value_change": money("Value over today's customers"),
        },
    )


def model_choice(margin: float, annual_discount: float) -> None:
    st.subheader("Customer lifetime value, model-based")
    choice = computed("The CLV model choice", choose_model)
    kinds = ("contractual", "non-contractual")
    suggested = choice.kind if choice else "contractual"
    kind = st.radio(
        "Model",
        kinds,
        index=kinds.index(suggested),
        horizontal=True,
        format_func={
            "contractual": "Contractual: subscription (sBG)",
            "non-contractual": "Non-contractual: purchases (BG/NBD)",
        }.get,
    )
    if choice:
        st.caption(f"Suggested by the data: {choice.kind}. {choice.reason}.")
    if kind == "contractual":
        sbg_section(margin, annual_discount)
    else:
        bgnbd_section()


def sbg_section(margin: float, annual_discount: float) -> None:
    by = st.radio(
        "Per",
        ("segment", "cohort"),
        horizontal=True,
        format_func={"segment": "segment", "cohort": "signup year"}.get,
    )
    res = computed(
        "Contractual CLV",
        contractual_clv,
        dimension=by,
        margin=margin,
        annual_discount=annual_discount,
    )
    if res is None:
        return
    st.caption(
        f"Residual value per active customer = margin ({margin:.0%}) × monthly revenue × "
        f"discounted expected residual lifetime (DERL, Fader & Hardie 2010) at "
        f"{annual_discount:.0%} a year, from a shifted-beta-geometric retention fit "
        f"(Fader & Hardie 2007) per {DIMENSIONS[by][0]}; {res.interval}."
    )
    st.plotly_chart(sbg_clv_figure(res.groups, currency=res.currency, label=DIMENSIONS[by][0]))
    show_table(
        pl.DataFrame(res.groups, infer_schema_length=None),
        {
            "group": text(DIMENSIONS[by][0].capitalize()),
            "customers": count("Customers (n)"),
            "churned": count("Churned"),
            "active": count("Active now"),
            "retention_12m": pct("Retained after 12 months (new customer)"),
            "derl_new": CC.NumberColumn("DERL, new customer (months)", format="%.1f"),
            "value_mean": money("Residual value per customer"),
            "ci_low": money("90 % low"),
            "ci_high": money("90 % high"),
            "value_total": money("Residual value, all active"),
            "small_sample": flag(),
        },
    )
    for g in res.groups:
        if g["message"]:
            st.warning(f"{md_escape(str(g['group']))}: {md_escape(g['message'])}")  # from a file


def bgnbd_section() -> None:
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
        stuck = bound_notes(fit.notes)
        if stuck:
            # Not identified: a value whose interval ignores the stuck parameters misleads.
            st.warning(
                "BG/NBD reached a parameter bound, so no value is shown. "
                + " ".join(stuck)
                + " Use the contractual model for subscriptions."
            )
            return
        st.caption(f"{fit.n_customers:,} invoiced customers, as of {fit.as_of}; {fit.interval}.")
        st.plotly_chart(clv_interval_figure(fit.segments, fit.horizon_months))
        show_table(
            pl.DataFrame([*fit.segments, fit.total]),
            {
                "segment": text("Segment"),
                "n": count("Customers (n)"),
                "value_mean": money(f"Expected {fit.horizon_months:g}-month value"),
                "ci_low": money("90 % low"),
                "ci_high": money("90 % high"),
                "value_total": money("Total"),
            },
        )
        for note in fit.notes:
            st.caption(note)

    progress_panel()


def survival_section() -> None:
    st.subheader("Survival curves")
    dims = ("segment", "tier", "region", "channel", "satisfaction")
    by = st.selectbox("Retention by", dims, format_func=lambda d: DIMENSIONS[d][0])
    res = computed("Survival curves", survival_by, by)
    if res is None or not res.groups:
        return
    st.plotly_chart(survival_figure(res.groups, label=res.label, logrank_p=res.logrank_p))
    p = (
        ""
        if res.logrank_p is None
        else (
            f"Log-rank test across groups: chi-square {res.logrank_chi2:.1f} on {res.logrank_df} "
            f"df, p = {'< 0.001' if res.logrank_p < 0.001 else f'{res.logrank_p:.3f}'}. "
        )
    )
    st.caption(
        p + "Censored at the data's end; customers who signed up before the data "
        "begins count from the month they were first seen. Median: first month with "
        "half or fewer still customers (— if not reached)."
    )
    rows = [
        {
            "group": g["group"],
            "n": g["n"],
            "events": g["events"],
            "median_months": g["median_months"],
            "s12": next((c["survival"] for c in g["curve"] if c["month"] == 12), None),
            "small_sample": g["small_sample"],
        }
        for g in res.groups
    ]
    show_table(
        pl.DataFrame(rows, infer_schema_length=None),
        {
            "group": text(res.label.capitalize()),
            "n": count("Customers (n)"),
            "events": count("Churned"),
            "median_months": count("Median lifetime (months)"),
            "s12": pct("Still customers after 12 months"),
            "small_sample": flag(),
        },
    )


def drivers_section() -> None:
    st.subheader("What drives satisfaction and churn")
    kpi = st.radio(
        "Outcome",
        tuple(DRIVER_KPIS),
        horizontal=True,
        format_func={"csat": "CSAT", "nps": "NPS", "churn": "Churn in 90 days"}.get,
    )
    res = computed("Key drivers", key_drivers, kpi)
    if res is None:
        return
    st.plotly_chart(drivers_figure(res.drivers, kpi_label=res.kpi_label, n=res.n))
    st.caption(
        f"{res.method}. The drivers together explain {res.r2:.1%} "
        f"[{res.r2_ci[0]:.1%}, {res.r2_ci[1]:.1%}] of the variance; " + "; ".join(res.notes) + "."
    )
    ranked = [
        d
        | {
            "now": format_value(d["current"], d["kpi_unit"] or ""),
            "goal": format_value(d["target"], d["kpi_unit"] or ""),
        }
        for d in sorted(res.drivers, key=lambda d: (d["fix_rank"] is None, d["fix_rank"] or 0))
    ]
    st.caption(
        "Fix first: share of the explained variance × shortfall of the driver's KPI "
        "from its target."
    )
    show_table(
        pl.DataFrame(ranked, infer_schema_length=None),
        {
            "fix_rank": count("Rank"),
            "label": text("Driver"),
            "share_of_r2": pct("Share of explained variance"),
            "direction": text("Effect on outcome"),
            "kpi_label": text("Measured by"),
            "current": CC.NumberColumn("Now", format="%.3g"),
            "target": CC.NumberColumn("Target", format="%.3g"),
            "gap": pct("Shortfall"),
            "fix_note": text("Why not ranked"),
        },
    )


def followups_section() -> None:
    st.subheader("Follow up detractors")
    store = get_store()  # read live: marks are bookkeeping and do not change the data version
    if done := st.session_state.pop("followup_done", None):
        # Names and ids are people's text: shown with st.text, never rendered as Markdown.
        st.success("Marked as followed up; who, when and the note are kept in its history.")
        st.text(done)
    try:
        counts, rows = detractor_counts(store), detractors(store, status="open", limit=200)
    except Exception as exc:  # noqa: BLE001
        st.error(f"The follow-up list could not be read: {exc}")
        return
    st.caption(
        f"{counts['open']:,} of {counts['total']:,} detractor answers (NPS 0–6 or "
        "CSAT 1–2) not followed up yet; the oldest 200 first. Comments as written."
    )
    show_table(
        rows,
        {
            "response_id": text("Answer"),
            "answered_at": CC.DatetimeColumn("Answered"),
            "reason": text("Score"),
            "comment": text("Comment"),
            "channel": text("Channel"),
            "issue_type": text("Issue"),
            "team": text("Team"),
        },
    )
    if rows.height == 0:
        return
    with st.form("followup"):
        rid = st.selectbox("Answer followed up", rows["response_id"].to_list())
        by = st.text_input("Followed up by")
        note = st.text_area("Note")
        if st.form_submit_button("Mark as followed up"):
            try:
                mark = mark_done(store, rid, by=by, note=note)
            except FollowupError as exc:
                st.error(str(exc))
                return
            st.session_state["followup_done"] = (
                f"{mark['response_id']} followed up by {mark['followed_up_by']}"
            )
            st.rerun()
