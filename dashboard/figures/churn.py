"""Figures of the Churn & CLV page: data frames in, Plotly figures out."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard.figures.kpi import GREY, LINE_COLOUR, small_sample_reason

REFERENCE_COLOUR = "#bf8700"
PALETTE = ("#0969da", "#1a7f37", "#8250df", "#bf3989", "#cf222e", "#9a6700", "#1b7c83")


def retention_figure(df: pl.DataFrame, *, max_cohorts: int = 12) -> go.Figure:
    """One line per signup cohort: share still a customer k months after signing up.

    Expects cohort, months, n, retention, small_sample (metrics.churn.retention_by_cohort).
    Only the latest `max_cohorts` cohorts are drawn. Small-sample points are grey and joined
    by a dotted grey line underneath, so a cohort of three customers dropping to 0 % does not
    read as a solid curve.
    """
    fig = go.Figure()
    cohorts = sorted(df["cohort"].unique().to_list())[-max_cohorts:]
    for i, cohort in enumerate(cohorts):
        part = df.filter(pl.col("cohort") == cohort).sort("months")
        small = part["small_sample"].to_list()
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
                    name=f"{cohort:%b %Y} (n<30)",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=months,
                y=[None if s else r for r, s in zip(retention, small, strict=True)],
                mode="lines+markers",
                name=f"{cohort:%b %Y}",
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
                name=f"{cohort:%b %Y} points",
                marker={"color": [GREY if s else colour for s in small], "size": 6},
                hovertext=[
                    f"{cohort:%b %Y} cohort, month {m}: {_pct(r)} retained (n = {n})"
                    + (f"<br>{small_sample_reason(n)}" if s else "")
                    for m, r, n, s in zip(
                        part["months"], part["retention"], part["n"], small, strict=True
                    )
                ],
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title="Retention by signup cohort",
        height=380,
        xaxis_title="months since signup",
        yaxis={"title": "still a customer", "tickformat": ".0%"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


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
            name="churned within 90 days (this data)",
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
                f"{b}: {_pct(rows[b]['value'])} churned (n = {rows[b]['n']})"
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
            name="think of switching at the invoice (Novus/Billogram)",
            opacity=0.55,
        )
    )
    fig.update_layout(
        title="Churn after a survey, by satisfaction",
        barmode="group",
        height=380,
        yaxis={"tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _gap(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else a - b


def churn_breakdown_figure(df: pl.DataFrame, dimension: str) -> go.Figure:
    """Bars of one breakdown (metrics.churn): rate per band, n on the bar, small samples grey."""
    part = df.filter(pl.col("dimension") == dimension)
    unit = part["rate_unit"][0] if part.height else ""
    fig = go.Figure(
        go.Bar(
            y=part["band"].to_list(),
            x=part["rate"].to_list(),
            orientation="h",
            marker={"color": [GREY if s else LINE_COLOUR for s in part["small_sample"]]},
            text=[f"n={n}" for n in part["n"]],
            textposition="inside",
            insidetextanchor="start",
            hovertext=[
                f"{b}: {_pct(r)} {unit} ({c} of n = {n})"
                + (f"<br>{small_sample_reason(n)}" if s else "")
                for b, r, c, n, s in part.select(
                    "band", "rate", "churned", "n", "small_sample"
                ).iter_rows()
            ],
            hoverinfo="text",
        )
    )
    fig.update_layout(
        title=f"Churn by {dimension} ({unit})",
        height=max(220, 32 * part.height + 90),
        xaxis={"tickformat": ".1%"},
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def what_if_figure(what_if: pl.DataFrame) -> go.Figure:
    """Simple CLV per segment now and with monthly churn 20 % and 30 % lower."""
    ok = what_if.filter(pl.col("clv").is_not_null())
    segments = ok["segment"].unique(maintain_order=True).to_list()
    base = {r["segment"]: r["clv"] for r in ok.iter_rows(named=True)}
    fig = go.Figure(
        go.Bar(x=segments, y=[base[s] for s in segments], name="today", marker={"color": GREY})
    )
    for i, d in enumerate(sorted(ok["churn_reduction"].unique().to_list())):
        part = {
            r["segment"]: r for r in ok.filter(pl.col("churn_reduction") == d).iter_rows(named=True)
        }
        fig.add_trace(
            go.Bar(
                x=segments,
                y=[part[s]["clv_after"] for s in segments],
                name=f"churn −{d:.0%}",
                marker={"color": PALETTE[i]},
                text=[f"+{part[s]['change_pct']:.0%}" for s in segments],
                textposition="outside",
            )
        )
    fig.update_layout(
        title="Simple CLV per customer: what lower churn is worth",
        barmode="group",
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def clv_interval_figure(segments: list[dict[str, Any]], horizon_months: float) -> go.Figure:
    """Expected value per customer over the horizon by segment, with its 90 % interval."""
    names = [r["segment"] for r in segments]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[r["value_mean"] for r in segments],
            marker={"color": [GREY if r["n"] < 30 else LINE_COLOUR for r in segments]},
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
                f"{_money(r['ci_high'])}] (n = {r['n']})"
                for r in segments
            ],
            hoverinfo="text",
        )
    )
    fig.update_layout(
        title=f"Expected {horizon_months:g}-month value per customer (90 % interval)",
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig
