"""Figures of the Churn & CLV page: data frames in, Plotly figures out."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard import numbers
from dashboard.figures.kpi import GREY, LINE_COLOUR, small_sample_key, small_sample_reason
from dashboard.i18n import current_language, month_name, t, t_or, value_label
from dashboard.numbers import localize
from experiments.readout_view import format_p
from metrics import units
from metrics.units import tidy_relations

REFERENCE_COLOUR = "#bf8700"
PALETTE = ("#0969da", "#1a7f37", "#8250df", "#bf3989", "#cf222e", "#9a6700", "#1b7c83")


def retention_figure(df: pl.DataFrame, *, max_cohorts: int = 12) -> go.Figure:
    """One line per signup cohort: share still a customer k months after signing up.

    Expects cohort, months, n, retention, small_sample (metrics.churn.retention_by_cohort).
    Only the latest `max_cohorts` cohorts are drawn. Small-sample points are grey and joined
    by a dotted grey line underneath, so a cohort of three customers dropping to 0 % does not
    read as a solid curve.

    A cohort's month k is drawn only while the whole cohort is observed there (n is the
    cohort's size): at its last month only the customers who signed up early in the month
    are, a handful whose share jumped back towards 100 % as if churned customers returned.
    """
    fig = go.Figure()
    cohorts = sorted(df["cohort"].unique().to_list())[-max_cohorts:]
    any_small = False
    for i, cohort in enumerate(cohorts):
        name = f"{month_name(cohort.month)} {cohort.year}"
        part = df.filter(pl.col("cohort") == cohort)
        part = part.filter(pl.col("n") == pl.col("n").max()).sort("months")
        small = part["small_sample"].to_list()
        any_small = any_small or any(small)
        colour = PALETTE[i % len(PALETTE)]
        months, retention = part["months"].to_list(), part["retention"].to_list()
        if any(small):
            fig.add_trace(
                go.Scatter(
                    x=months,
                    y=retention,
                    mode="lines",
                    hoverinfo="skip",
                    showlegend=False,
                    line={"color": GREY, "width": 1, "dash": "dot"},
                    name=f"{name} (n<30)",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=months,
                y=[None if s else r for r, s in zip(retention, small, strict=True)],
                mode="lines+markers",
                name=name,
                line={"color": colour, "width": 1.5},
                marker={"color": colour, "size": 6},
                connectgaps=False,
            )
        )
        fig.add_trace(  # every point with its n, small ones grey
            go.Scatter(
                x=months,
                y=retention,
                mode="markers",
                showlegend=False,
                name=t("cfig.points", cohort=name),
                marker={"color": [GREY if s else colour for s in small], "size": 6},
                hovertext=[
                    t("cfig.cohort_hover", cohort=name, month=m, share=_pct(r), n=n)
                    + (f"<br>{small_sample_reason(n)}" if s else "")
                    for m, r, n, s in zip(
                        part["months"], part["retention"], part["n"], small, strict=True
                    )
                ],
                hoverinfo="text",
            )
        )
    if any_small:
        small_sample_key(fig)
    fig.update_layout(
        title=t("churn.cohorts"),
        height=380,
        xaxis_title=t("cfig.months_since_signup"),
        yaxis={"title": t("cfig.still_customer"), "tickformat": ".0%"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return localize(fig)


def satisfaction_figure(df: pl.DataFrame, reference: dict[str, float]) -> go.Figure:
    """Churn within 90 days of a survey by satisfaction band, beside the seed's reference.

    Expects satisfaction_band, value, n, ci_low, ci_high, small_sample (the catalogue's
    churn_by_satisfaction); `reference` maps band -> the seed's share thinking of switching.
    """
    bands = [b for b in reference if b in set(df["satisfaction_band"].to_list())]
    rows = {r["satisfaction_band"]: r for r in df.iter_rows(named=True)}
    value = [rows[b]["value"] for b in bands]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=bands,
            y=value,
            name=t("cfig.churned_90"),
            marker={"color": [GREY if rows[b]["small_sample"] else LINE_COLOUR for b in bands]},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_gap(rows[b]["ci_high"], rows[b]["value"]) for b in bands],
                "arrayminus": [_gap(rows[b]["value"], rows[b]["ci_low"]) for b in bands],
            },
            text=[f"n={rows[b]['n']}" for b in bands],
            textposition="outside",
            hovertext=[
                t(
                    "cfig.sat_hover",
                    band=value_label("satisfaction_band", b),
                    share=_pct(rows[b]["value"]),
                    n=rows[b]["n"],
                )
                + (f"<br>{small_sample_reason(rows[b]['n'])}" if rows[b]["small_sample"] else "")
                for b in bands
            ],
            hoverinfo="text",
        )
    )
    fig.add_trace(
        go.Bar(
            x=bands,
            y=[reference[b] for b in bands],
            marker={"color": REFERENCE_COLOUR},
            name=t("cfig.switching"),
            opacity=0.55,
        )
    )
    if any(rows[b]["small_sample"] for b in bands):
        small_sample_key(fig)
    fig.update_layout(
        title=t("cfig.sat_title"),
        barmode="group",
        height=380,
        yaxis={"tickformat": ".1~%"},
        xaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": bands,
            "tickmode": "array",
            "tickvals": bands,
            "ticktext": [value_label("satisfaction_band", b) for b in bands],
        },
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return localize(fig)


def _pct(value: float | None) -> str:
    return numbers.share(value)


def _money(value: float | None, currency: str | None = None) -> str:
    """An amount in `currency` (default: the ui.currency setting), whole units."""
    if currency is None:
        return numbers.money(value)
    return units.format_money(value, lang=current_language(), currency=currency)


def _gap(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else a - b


def band_label(dimension: str, band: str) -> str:
    """A breakdown's band in people's words: the last contact's channel is a stored code
    ("phone"), tenure and fee bands are metrics.churn's English ("≤ 2 years", "charged")."""
    if dimension == "last contact channel":
        return value_label("channel", band)
    return value_label("churn_band", band)


def rate_unit_label(unit: str) -> str:
    """What a breakdown's rate is per ("per customer-month") in the UI language."""
    return t_or("cfig.rate_unit." + unit.replace(" ", "_").replace("-", "_"), unit)


def churn_breakdown_figure(df: pl.DataFrame, dimension: str) -> go.Figure:
    """Bars of one breakdown (metrics.churn): rate per band, n on the bar, small samples grey."""
    part = df.filter(pl.col("dimension") == dimension)
    bands = part["band"].to_list()  # in the metrics layer's order: 0, 1, 2+; tenure up
    unit = part["rate_unit"][0] if part.height else ""
    unit = rate_unit_label(unit)
    fig = go.Figure(
        go.Bar(
            y=bands,
            x=part["rate"].to_list(),
            orientation="h",
            marker={"color": [GREY if s else LINE_COLOUR for s in part["small_sample"]]},
            showlegend=False,
            text=[f"n={n}" for n in part["n"]],
            textposition="inside",
            insidetextanchor="start",
            hovertext=[
                t(
                    "cfig.breakdown_hover",
                    band=band_label(dimension, b),
                    share=_pct(r),
                    unit=unit,
                    churned=c,
                    n=n,
                )
                + (f"<br>{small_sample_reason(n)}" if s else "")
                for b, r, c, n, s in part.select(
                    "band", "rate", "churned", "n", "small_sample"
                ).iter_rows()
            ],
            hoverinfo="text",
        )
    )
    fig.update_layout(
        title=t(
            "cfig.breakdown_title",
            dim=t(f"churn.breakdown.{dimension.replace(' ', '_')}").lower(),
            unit=unit,
        ),
        height=max(220, 32 * part.height + 90),
        xaxis={"tickformat": ".1%"},
        # Categories in order: on a numeric axis "0", "1" plot as numbers and "2+" is dropped.
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": bands,
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": bands,
            "ticktext": [band_label(dimension, b) for b in bands],
        },
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    if any(part["small_sample"].to_list()):
        small_sample_key(fig)
    return localize(fig)


def what_if_figure(what_if: pl.DataFrame) -> go.Figure:
    """Simple CLV per segment now and with monthly churn 20 % and 30 % lower."""
    ok = what_if.filter(pl.col("clv").is_not_null())
    segments = ok["segment"].unique(maintain_order=True).to_list()
    base = {r["segment"]: r["clv"] for r in ok.iter_rows(named=True)}
    fig = go.Figure(
        go.Bar(
            x=segments, y=[base[s] for s in segments], name=t("cfig.today"), marker={"color": GREY}
        )
    )
    for i, d in enumerate(sorted(ok["churn_reduction"].unique().to_list())):
        part = {
            r["segment"]: r for r in ok.filter(pl.col("churn_reduction") == d).iter_rows(named=True)
        }
        fig.add_trace(
            go.Bar(
                x=segments,
                y=[part[s]["clv_after"] for s in segments],
                name=t("cfig.churn_minus", d=numbers.share(d, digits=0)),
                marker={"color": PALETTE[i]},
                text=[numbers.relative(part[s]["change_pct"], digits=0) for s in segments],
                textposition="outside",
            )
        )
    fig.update_layout(
        title=t("cfig.what_if_title"),
        barmode="group",
        xaxis={"type": "category"},
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return localize(fig)


def clv_interval_figure(segments: list[dict[str, Any]], horizon_months: float) -> go.Figure:
    """Expected value per customer over the horizon by segment, with its 90 % interval."""
    names = [r["segment"] for r in segments]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[r["value_mean"] for r in segments],
            marker={"color": [GREY if r["n"] < 30 else LINE_COLOUR for r in segments]},
            showlegend=False,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_gap(r["ci_high"], r["value_mean"]) for r in segments],
                "arrayminus": [_gap(r["value_mean"], r["ci_low"]) for r in segments],
            },
            text=[f"n={r['n']}" for r in segments],
            textposition="inside",
            hovertext=[
                f"{r['segment']}: {_money(r['value_mean'])} [{_money(r['ci_low'])}, "
                f"{_money(r['ci_high'])}] (n = {numbers.count(r['n'])})"
                for r in segments
            ],
            hoverinfo="text",
        )
    )
    if any(r["n"] < 30 for r in segments):
        small_sample_key(fig)
    fig.update_layout(
        title=t("cfig.clv_title", months=f"{horizon_months:g}"),
        height=340,
        xaxis={"type": "category"},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return localize(fig)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha})"


def survival_figure(
    groups: list[dict[str, Any]], *, label: str, logrank_p: float | None
) -> go.Figure:
    """Kaplan-Meier retention per group: steps with the 95 % band, n in the legend.

    Expects metrics.retention.survival.survival_by(...).groups. Small groups are grey.
    """
    fig = go.Figure()
    for i, g in enumerate(groups):
        colour = GREY if g["small_sample"] else PALETTE[i % len(PALETTE)]
        months = [c["month"] for c in g["curve"]]
        name = f"{g['group']} (n = {numbers.count(g['n'])})"
        fig.add_trace(
            go.Scatter(
                x=months + months[::-1],
                y=[c["ci_high"] for c in g["curve"]] + [c["ci_low"] for c in g["curve"]][::-1],
                fill="toself",
                fillcolor=_rgba(colour, 0.15),
                line={"width": 0, "shape": "hv"},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
                name=t("cfig.band", name=name),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=months,
                y=[c["survival"] for c in g["curve"]],
                mode="lines",
                line={"color": colour, "width": 2, "shape": "hv"},
                name=name,
                legendgroup=name,
                hovertext=[
                    t(
                        "cfig.survival_hover",
                        group=g["group"],
                        month=c["month"],
                        share=_pct(c["survival"]),
                        low=_pct(c["ci_low"]),
                        high=_pct(c["ci_high"]),
                        at_risk=numbers.count(c["at_risk"]),
                    )
                    for c in g["curve"]
                ],
                hoverinfo="text",
            )
        )
    if any(g["small_sample"] for g in groups):
        small_sample_key(fig)
    p = None if logrank_p is None else format_p(logrank_p, current_language())
    p_text = "" if p is None else tidy_relations(f" · log-rank p = {p}")
    fig.update_layout(
        title=t("cfig.survival_title", label=label) + p_text,
        height=400,
        xaxis_title=t("cfig.months_since_signup"),
        yaxis={"title": t("cfig.still_customer"), "tickformat": ".0%", "range": [0, 1.02]},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return localize(fig)


def sbg_clv_figure(groups: list[dict[str, Any]], *, currency: str, label: str) -> go.Figure:
    """Residual value per active customer by group (sBG × DERL) with its 90 % interval.

    Groups without a value (fit at a bound, no revenue) are left out: the page lists why.
    """
    ok = [g for g in groups if g["value_mean"] is not None]
    fig = go.Figure(
        go.Bar(
            x=[g["group"] for g in ok],
            y=[g["value_mean"] for g in ok],
            marker={"color": [GREY if g["small_sample"] else LINE_COLOUR for g in ok]},
            showlegend=False,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [_gap(g["ci_high"], g["value_mean"]) for g in ok],
                "arrayminus": [_gap(g["value_mean"], g["ci_low"]) for g in ok],
            },
            text=[f"n = {numbers.count(g['active'])}" for g in ok],
            textposition="inside",
            hovertext=[
                t(
                    "cfig.sbg_hover",
                    group=g["group"],
                    value=_money(g["value_mean"], currency),
                    low=_money(g["ci_low"], currency),
                    high=_money(g["ci_high"], currency),
                    n=numbers.count(g["active"]),
                )
                for g in ok
            ],
            hoverinfo="text",
        )
    )
    if any(g["small_sample"] for g in ok):
        small_sample_key(fig)
    fig.update_layout(
        title=t("cfig.sbg_title", label=label),
        height=340,
        xaxis={"type": "category"},  # cohorts are signup years: "2021" is a group, not a number
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": t("cfig.per_customer", currency=currency), "tickformat": ",.0f"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return localize(fig)


def drivers_figure(drivers: list[dict[str, Any]], *, kpi_label: str, n: int) -> go.Figure:
    """Share of the variance in the KPI each driver explains (Shapley R²), 95 % intervals."""
    rows = sorted(drivers, key=lambda d: d["importance"])
    fig = go.Figure(
        go.Bar(
            y=[d["label"] for d in rows],
            x=[d["importance"] for d in rows],
            orientation="h",
            marker={"color": LINE_COLOUR},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [d["ci_high"] - d["importance"] for d in rows],
                "arrayminus": [d["importance"] - d["ci_low"] for d in rows],
            },
            hovertext=[
                t(
                    "cfig.driver_hover",
                    label=d["label"],
                    share=numbers.share(d["importance"], digits=2),
                    low=numbers.share(d["ci_low"], digits=2),
                    high=numbers.share(d["ci_high"], digits=2),
                )
                + (", " + t(f"cfig.direction.{d['direction']}") if d["direction"] else "")
                for d in rows
            ],
            hoverinfo="text",
        )
    )
    fig.update_layout(
        title=t("cfig.drivers_title", kpi=kpi_label, n=numbers.count(n)),
        height=max(260, 34 * len(rows) + 90),
        xaxis={"title": t("cfig.drivers_axis"), "tickformat": ".1%"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return localize(fig)
