"""Figures of A/B posteriors: both arms' densities, and the lift's density with its interval."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard.i18n import t
from dashboard.numbers import localize, share
from experiments.stats.curves import PosteriorCurves
from experiments.stats.results import ComparisonResult

CONTROL_COLOR, VARIANT_COLOR, LIFT_COLOR = "#7f8c8d", "#1f77b4", "#2ca02c"


def arms_figure(
    curves: PosteriorCurves,
    *,
    title: str | None = None,
    percent: bool = False,
) -> go.Figure:
    """Posterior densities of control and variant on one axis."""
    fig = go.Figure()
    for name, ys, color in (
        (t("calc.arm.control").lower(), curves.control, CONTROL_COLOR),
        (t("calc.arm.variant").lower(), curves.variant, VARIANT_COLOR),
    ):
        fig.add_trace(
            go.Scatter(
                x=list(curves.x),
                y=list(ys),
                name=name,
                mode="lines",
                fill="tozeroy",
                line={"color": color},
            )
        )
    fig.update_layout(
        title=title or t("calc.arms_title"),
        yaxis_title=t("fig.density"),
        height=320,
        margin={"l": 40, "r": 10, "t": 50, "b": 40},
    )
    if percent:
        fig.update_xaxes(tickformat=".1%")
    return localize(fig)


def lift_figure(
    curves: PosteriorCurves,
    result: ComparisonResult,
    *,
    title: str | None = None,
    percent: bool = False,
) -> go.Figure:
    """Density of the absolute lift, its credible interval shaded, zero marked."""
    lo, hi = result.absolute_lift.ci_low, result.absolute_lift.ci_high
    xs, ys = list(curves.lift_x), list(curves.lift)
    inside = [(x, y) for x, y in zip(xs, ys, strict=True) if lo <= x <= hi]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=xs, y=ys, name=t("fig.lift"), mode="lines", line={"color": LIFT_COLOR})
    )
    if inside:
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in inside],
                y=[p[1] for p in inside],
                fill="tozeroy",
                mode="none",
                name=t("fig.level_interval", level=share(result.ci_level, digits=0)),
                fillcolor="rgba(44,160,44,0.3)",
            )
        )
    fig.add_vline(x=0, line_dash="dash", line_color="black")
    fig.update_layout(
        title=title or t("calc.lift_title"),
        yaxis_title=t("fig.density"),
        height=320,
        showlegend=True,
        margin={"l": 40, "r": 10, "t": 50, "b": 40},
    )
    if percent:
        fig.update_xaxes(tickformat="+.1%")
    return localize(fig)
