"""Sections of the Churn & CLV page: each reads its widgets, calls metrics/, renders figures.

The page (dashboard/views/churn.py) only orders these. Tables show people's labels, shares
as %, money in SEK; the frames keep their column names (tests and downloads use them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import polars as pl
import streamlit as st

from dashboard import numbers
from dashboard.figures.churn import (
    band_label,
    churn_breakdown_figure,
    clv_interval_figure,
    drivers_figure,
    rate_unit_label,
    retention_figure,
    satisfaction_figure,
    sbg_clv_figure,
    survival_figure,
    what_if_figure,
)
from dashboard.figures.kpi import format_value, trend_figure
from dashboard.i18n import (
    current_language,
    kpi_label,
    month_text,
    no_data_reason,
    t,
    t_or,
    value_label,
)
from dashboard.safe_text import md_escape
from dashboard.store_access import cached, get_store
from experiments.readout_view import format_p
from metrics.auth import can, current_actor
from metrics.churn import (
    SWITCHING_REFERENCE,
    add_months,
    churn_breakdowns,
    data_start,
    retention_by_cohort,
)
from metrics.clv import clv_what_if, simple_clv
from metrics.clv_models.cache import cached_clv, start_clv_fit
from metrics.followups import FollowupError, detractor_counts, detractors, mark_done
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.retention.contractual import bound_notes, choose_model, contractual_clv
from metrics.retention.drivers import DRIVER_KPI, key_drivers
from metrics.retention.drivers import KPIS as DRIVER_KPIS
from metrics.retention.durations import DIMENSIONS
from metrics.retention.survival import survival_by

T = TypeVar("T")
CC = st.column_config


@dataclass(frozen=True)
class Written:
    """A column of numbers shown as `text` writes them (dashboard.numbers, the UI language);
    show_table keeps the numbers for sorting."""

    column: Any
    text: Callable[[Any], str]


def pct(label: str, help: str | None = None) -> Written:
    return Written(CC.Column(label, help=help), numbers.share)


def money(label: str, help: str | None = None) -> Written:
    return Written(CC.Column(label, help=help), numbers.money)  # "1 234 kr" / "SEK 1,234"


def count(label: str, help: str | None = None) -> Written:
    return Written(CC.Column(label, help=help), numbers.count)


def words(label: str, say: Callable[[Any], str]) -> Written:
    """A column of codes or English bands shown in people's words (`say`)."""
    return Written(CC.Column(label), say)


def decimal(label: str, digits: int) -> Written:
    return Written(CC.Column(label), partial(numbers.number, digits=digits))


def text(label: str) -> Any:
    return CC.TextColumn(label)


def flag(label: str | None = None) -> Any:
    return CC.CheckboxColumn(
        label or t("churn.col.n_below_30"), help=t("churn.col.n_below_30_help")
    )


def dim_name(key: str) -> str:
    """A retention dimension's name (metrics.retention.durations.DIMENSIONS) in the UI language."""
    return t_or(f"churn.dim.{key}", DIMENSIONS[key][0])


def show_table(df: pl.DataFrame, config: dict[str, Any]) -> None:
    """Only the configured columns, in that order, with their labels; Written columns in
    the UI language's numbers."""
    shown = df.select([c for c in config if c in df.columns])
    text = {c: v.text for c, v in config.items() if isinstance(v, Written) and c in shown.columns}
    columns = {c: v.column if isinstance(v, Written) else v for c, v in config.items()}
    st.dataframe(numbers.styled(shown, text), hide_index=True, column_config=columns)


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
        st.error(t("churn.not_computed", what=what, error=exc))
        return None


def monthly_churn(end) -> None:
    st.subheader(t("churn.monthly"))
    # The last 24 months, not before the exports begin (older months show no churn only
    # because nothing was recorded then).
    start = max(add_months(end, -24), (cached(data_start) or end).replace(day=1))
    req = KpiRequest(kpis=("churn_rate",), grain="month", date_from=start, date_to=end)
    trend = computed(t("churn.monthly"), query_kpis, req)
    if trend is not None and trend["reason"].is_not_null().any():  # absent is not zero
        st.info(t("churn.no_data_monthly", reason=no_data_reason(trend["reason"].drop_nulls()[0])))
        return
    if trend is None or (trend := trend.filter(pl.col("n") > 0)).height == 0:
        return
    last = trend.sort("period").row(-1, named=True)
    st.metric(
        t("churn.rate_in", month=month_text(last["period"])),
        numbers.share(last["value"], digits=2),
        help=t("churn.rate_help", n=numbers.count(last["n"])),
    )
    st.plotly_chart(
        trend_figure(
            trend,
            label=kpi_label("churn_rate"),
            unit="share",
            target=last["target"],
            direction="lower",
        ),
        config=numbers.plotly_config(),
    )


def satisfaction_and_churn() -> None:
    st.subheader(t("churn.satisfaction"))
    st.caption(t("churn.satisfaction_caption"))
    req = KpiRequest(kpis=("churn_by_satisfaction",), by=("satisfaction_band",))
    by_sat = computed(t("churn.by_satisfaction"), query_kpis, req)
    if by_sat is None:
        return
    sat = by_sat.filter(pl.col("reason").is_null()).select(  # no inputs: a reason row, no band
        "satisfaction_band", "value", "n", "ci_low", "ci_high", "small_sample"
    )
    why = by_sat["reason"].drop_nulls()  # absent is not zero: say which column no file had
    if sat.height == 0:
        st.info(
            t("churn.no_data", reason=no_data_reason(why[0])) if why.len() else t("churn.no_csat")
        )
    else:
        st.plotly_chart(
            satisfaction_figure(sat, SWITCHING_REFERENCE), config=numbers.plotly_config()
        )
    ref = pl.col("satisfaction_band").replace_strict(SWITCHING_REFERENCE, default=None)
    show_table(
        sat.with_columns(ref.alias("reference")),
        {
            "satisfaction_band": words(
                t("churn.col.satisfaction"), partial(value_label, "satisfaction_band")
            ),
            "value": pct(t("churn.col.churned_within_90_days")),
            "n": count(t("churn.col.answers_n")),
            "ci_low": pct(t("churn.col.95_low")),
            "ci_high": pct(t("churn.col.95_high")),
            "reference": pct(t("churn.col.think_of_switching_survey")),
            "small_sample": flag(),
        },
    )


def cohorts_and_breakdowns() -> None:
    st.subheader(t("churn.cohorts"))
    cohorts = computed(t("churn.cohort_retention"), retention_by_cohort)
    if cohorts is not None:
        st.plotly_chart(retention_figure(cohorts), config=numbers.plotly_config())
    st.subheader(t("churn.breakdowns"))
    breakdowns = computed(t("churn.breakdowns_what"), churn_breakdowns)
    if breakdowns is None:
        return
    dims = ("tenure", "invoice fee", "reminders", "last contact channel")
    names = {d: t(f"churn.breakdown.{d.replace(' ', '_')}") for d in dims}
    for tab, dim in zip(st.tabs([names[d] for d in dims]), dims, strict=True):
        with tab:
            st.plotly_chart(churn_breakdown_figure(breakdowns, dim), config=numbers.plotly_config())
            show_table(
                breakdowns.filter(pl.col("dimension") == dim),
                {
                    "band": words(names[dim], partial(band_label, dim)),
                    "n": count(t("churn.col.n")),
                    "churned": count(t("churn.col.churned")),
                    "rate": pct(t("churn.col.churn_rate")),
                    "rate_unit": words(t("churn.col.rate_per"), rate_unit_label),
                    "small_sample": flag(),
                },
            )


def simple_clv_section(margin: float) -> None:
    st.subheader(t("churn.simple_clv"))
    st.caption(t("churn.simple_clv_caption", margin=numbers.share(margin, digits=0)))
    simple = computed(t("churn.simple_clv_what"), simple_clv, margin=margin)
    if simple is None:
        return
    show_table(
        simple,
        {
            "segment": text(t("churn.col.segment")),
            "customers": count(t("churn.col.active_customers_n")),
            "monthly_churn": pct(t("churn.col.monthly_churn")),
            "arpu": money(t("churn.col.arpu_per_month")),
            "clv": money(t("churn.col.clv")),
            "small_sample": flag(),
        },
    )
    for row in simple.filter(pl.col("message").is_not_null()).iter_rows(named=True):
        st.warning(f"{md_escape(row['segment'])}: {md_escape(row['message'])}")  # from a file
    what_if = clv_what_if(simple)
    st.plotly_chart(what_if_figure(what_if), config=numbers.plotly_config())
    show_table(
        what_if,
        {
            "segment": text(t("churn.col.segment")),
            "churn_reduction": pct(t("churn.col.churn_reduction")),
            "clv": money(t("churn.col.clv_today")),
            "clv_after": money(t("churn.col.clv_after")),
            "change_pct": pct(t("churn.col.change")),
            "value_change": money(t("churn.col.value_over_today_s_customers")),
        },
    )


def model_reason(choice: Any) -> str:
    """Why the data suggests this CLV model (metrics.retention.contractual.choose_model's
    cases) in the UI language; English keeps the metrics layer's own words."""
    if current_language() == "en":
        return choice.reason
    churn = numbers.count(choice.churn_dates)
    if choice.customers == 0:
        return t(
            "churn.why.no_invoices_churn" if choice.churn_dates else "churn.why.no_invoices",
            churn=churn,
        )
    regular = t(
        "churn.why.regular",
        share=numbers.share(choice.regular_share, digits=0),
        customers=numbers.count(choice.customers),
    )
    if choice.kind == "contractual":
        return t("churn.why.contractual", regular=regular, churn=churn)
    why = t("churn.why.no_churn_dates" if choice.churn_dates == 0 else "churn.why.irregular")
    return t("churn.why.non_contractual", regular=regular, why=why)


def model_choice(margin: float, annual_discount: float) -> None:
    st.subheader(t("churn.model_clv"))
    choice = computed(t("churn.model_choice_what"), choose_model)
    kinds = ("contractual", "non-contractual")
    suggested = choice.kind if choice else "contractual"
    kind = st.radio(
        t("churn.model"),
        kinds,
        index=kinds.index(suggested),
        horizontal=True,
        format_func=lambda k: t(f"churn.kind.{k}"),
    )
    if choice:
        st.caption(
            t(
                "churn.suggested",
                kind=t(f"churn.kind_word.{choice.kind}"),
                reason=model_reason(choice),
            )
        )
    if kind == "contractual":
        sbg_section(margin, annual_discount)
    else:
        bgnbd_section()


def sbg_section(margin: float, annual_discount: float) -> None:
    by = st.radio(
        t("churn.per"),
        ("segment", "cohort"),
        horizontal=True,
        format_func=dim_name,
    )
    res = computed(
        t("churn.contractual_what"),
        contractual_clv,
        dimension=by,
        margin=margin,
        annual_discount=annual_discount,
    )
    if res is None:
        return
    st.caption(
        t(
            "churn.sbg_caption",
            margin=numbers.share(margin, digits=0),
            discount=numbers.share(annual_discount, digits=0),
            dim=dim_name(by),
            interval=res.interval,
        )
    )
    st.plotly_chart(
        sbg_clv_figure(res.groups, currency=numbers.current_currency(), label=dim_name(by)),
        config=numbers.plotly_config(),
    )
    show_table(
        pl.DataFrame(res.groups, infer_schema_length=None),
        {
            "group": text(dim_name(by).capitalize()),
            "customers": count(t("churn.col.customers_n")),
            "churned": count(t("churn.col.churned")),
            "active": count(t("churn.col.active_now")),
            "retention_12m": pct(t("churn.col.retained_after_12_months_new_customer")),
            "derl_new": decimal(t("churn.col.derl_new"), 1),
            "value_mean": money(t("churn.col.residual_value_per_customer")),
            "ci_low": money(t("churn.col.90_low")),
            "ci_high": money(t("churn.col.90_high")),
            "value_total": money(t("churn.col.residual_value_all_active")),
            "small_sample": flag(),
        },
    )
    for g in res.groups:
        if g["message"]:
            st.warning(f"{md_escape(str(g['group']))}: {md_escape(g['message'])}")  # from a file


def bgnbd_section() -> None:
    method = st.radio(
        t("churn.method"),
        ("map", "nuts"),
        horizontal=True,
        format_func=lambda m: t(f"churn.method_{m}"),
    )
    # Read live, not through cached(): fit progress is bookkeeping that keeps the data version.
    fit, status = cached_clv(get_store(), method)
    if st.button(t("churn.fit"), disabled=bool(status and status.status == "running")):
        status = start_clv_fit(get_store(), method=method)

    @st.fragment(run_every=1.5 if status and status.status == "running" else None)
    def progress_panel() -> None:
        fit, status = cached_clv(get_store(), method)
        if status is None:
            st.info(t("churn.not_fitted"))
        elif status.status == "running":
            st.progress(
                status.progress,
                text=t("churn.fitting", message=status.message or t("churn.working")),
            )
        elif status.status in ("failed", "interrupted"):
            st.error(t("churn.fit_failed", error=status.error or t("churn.app_stopped")))
        if fit is None:
            return
        if not status.current:
            st.warning(t("churn.fit_stale"))
        stuck = bound_notes(fit.notes)
        if stuck:
            # Not identified: a value whose interval ignores the stuck parameters misleads.
            st.warning(t("churn.bound") + " " + " ".join(stuck) + " " + t("churn.bound_advice"))
            return
        st.caption(
            t(
                "churn.fit_caption",
                n=numbers.count(fit.n_customers),
                as_of=fit.as_of,
                interval=fit.interval,
            )
        )
        st.plotly_chart(
            clv_interval_figure(fit.segments, fit.horizon_months), config=numbers.plotly_config()
        )
        show_table(
            pl.DataFrame([*fit.segments, fit.total]),
            {
                "segment": text(t("churn.col.segment")),
                "n": count(t("churn.col.customers_n")),
                "value_mean": money(
                    t("churn.col.expected_value", months=f"{fit.horizon_months:g}")
                ),
                "ci_low": money(t("churn.col.90_low")),
                "ci_high": money(t("churn.col.90_high")),
                "value_total": money(t("churn.col.total")),
            },
        )
        for note in fit.notes:
            st.caption(note)

    progress_panel()


def survival_section() -> None:
    st.subheader(t("churn.survival"))
    dims = ("segment", "tier", "region", "channel", "satisfaction")
    by = st.selectbox(t("churn.retention_by"), dims, format_func=dim_name)
    res = computed(t("churn.survival"), survival_by, by)
    if res is None or not res.groups:
        return
    st.plotly_chart(
        survival_figure(res.groups, label=dim_name(by), logrank_p=res.logrank_p),
        config=numbers.plotly_config(),
    )
    p = (
        ""
        if res.logrank_p is None
        else t(
            "churn.logrank",
            chi2=numbers.number(res.logrank_chi2, 1),
            df=res.logrank_df,
            p=format_p(res.logrank_p, current_language()),
        )
        + " "
    )
    st.caption(p + t("churn.survival_caption"))
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
            "group": text(dim_name(by).capitalize()),
            "n": count(t("churn.col.customers_n")),
            "events": count(t("churn.col.churned")),
            "median_months": count(t("churn.col.median_lifetime_months")),
            "s12": pct(t("churn.col.still_customers_after_12_months")),
            "small_sample": flag(),
        },
    )


def drivers_section() -> None:
    st.subheader(t("churn.drivers"))
    kpi = st.radio(
        t("churn.outcome"),
        tuple(DRIVER_KPIS),
        horizontal=True,
        format_func=lambda k: t(f"churn.outcome_{k}"),
    )
    res = computed(t("churn.key_drivers"), key_drivers, kpi)
    if res is None:
        return
    # Driver and KPI names in the UI language; the metrics layer's rows keep their keys.
    named = [d | {"label": t_or(f"churn.driver.{d['driver']}", d["label"])} for d in res.drivers]
    outcome = t_or(f"churn.driver_kpi.{kpi}", res.kpi_label)
    st.plotly_chart(
        drivers_figure(named, kpi_label=outcome, n=res.n), config=numbers.plotly_config()
    )
    st.caption(
        t(
            "churn.drivers_caption",
            method=res.method,
            r2=numbers.share(res.r2),
            low=numbers.share(res.r2_ci[0]),
            high=numbers.share(res.r2_ci[1]),
        )
        + "; ".join(res.notes)
        + "."
    )
    ranked = [
        d
        | {
            "direction": d["direction"] and t(f"churn.effect.{d['direction']}"),
            "kpi_label": d["kpi_label"]
            and t_or(f"kpi.{DRIVER_KPI.get(d['driver'])}.label", d["kpi_label"]),
            "now": format_value(d["current"], d["kpi_unit"] or ""),
            "goal": format_value(d["target"], d["kpi_unit"] or ""),
        }
        for d in sorted(named, key=lambda d: (d["fix_rank"] is None, d["fix_rank"] or 0))
    ]
    st.caption(t("churn.fix_first"))
    show_table(
        pl.DataFrame(ranked, infer_schema_length=None),
        {
            "fix_rank": count(t("churn.col.rank")),
            "label": text(t("churn.col.driver")),
            "share_of_r2": pct(t("churn.col.share_of_explained_variance")),
            "direction": text(t("churn.col.effect_on_outcome")),
            "kpi_label": text(t("churn.col.measured_by")),
            "now": text(t("churn.col.now")),  # in the KPI's unit (metrics.units)
            "goal": text(t("churn.col.target")),
            "gap": pct(t("churn.col.shortfall")),
            "fix_note": text(t("churn.col.why_not_ranked")),
        },
    )


def followups_section() -> None:
    st.subheader(t("churn.followups"))
    store = get_store()  # read live: marks are bookkeeping and do not change the data version
    if done := st.session_state.pop("followup_done", None):
        # Names and ids are people's text: shown with st.text, never rendered as Markdown.
        st.success(t("churn.marked"))
        st.text(done)
    try:
        counts, rows = detractor_counts(store), detractors(store, status="open", limit=200)
    except Exception as exc:  # noqa: BLE001
        st.error(t("churn.followups_error", error=exc))
        return
    st.caption(
        t(
            "churn.followups_caption",
            open=numbers.count(counts["open"]),
            total=numbers.count(counts["total"]),
        )
    )
    show_table(
        rows,
        {
            "response_id": text(t("churn.col.answer")),
            "answered_at": CC.DatetimeColumn(t("churn.col.answered")),
            "reason": text(t("churn.col.score")),
            "comment": text(t("churn.col.comment")),
            "channel": text(t("churn.col.channel")),
            "issue_type": text(t("churn.col.issue")),
            "team": text(t("churn.col.team")),
        },
    )
    if rows.height == 0:
        return
    if not can(current_actor(), "followup"):  # also refused in metrics.followups.mark_done
        st.caption("Follow-ups are marked by analysts and up.")
        return
    with st.form("followup"):
        rid = st.selectbox(t("churn.answer_followed_up"), rows["response_id"].to_list())
        by = st.text_input(t("churn.followed_up_by"))
        note = st.text_area(t("churn.note"))
        if st.form_submit_button(t("churn.mark")):
            try:
                mark = mark_done(store, rid, by=by, note=note)
            except FollowupError as exc:
                st.error(str(exc))
                return
            st.session_state["followup_done"] = t(
                "churn.followed_up", id=mark["response_id"], by=mark["followed_up_by"]
            )
            st.rerun()
