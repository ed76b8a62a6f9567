"""Experiment figures: posteriors, P(better) and lift over time, guardrails, segment effects."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

CONTROL = "#6e7781"
VARIANT = "#0969da"
POOLED = "#8250df"
RIBBON = "rgba(9, 105, 218, 0.18)"
BAD = "#cf222e"
GOOD = "#1a7f37"


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def posterior_figure(
    posterior: dict[str, Any],
    *,
    control: str = "control",
    variant: str = "variant",
    metric: str = "",
) -> go.Figure:
    """Each arm's posterior density (left) and the density of the lift (right)."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=(f"{metric} by arm", "lift (variant − control)")
    )
    if not posterior:
        fig.add_annotation(
            text="not enough data for a posterior",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
        return fig
    fig.add_trace(
        go.Scatter(
            x=posterior["x"],
            y=posterior["control"],
            name=control,
            line={"color": CONTROL},
            fill="tozeroy",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=posterior["x"],
            y=posterior["variant"],
            name=variant,
            line={"color": VARIANT},
            fill="tozeroy",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=posterior["lift_x"],
            y=posterior["lift"],
            name="lift",
            line={"color": POOLED},
            fill="tozeroy",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    fig.add_vline(x=0, line={"dash": "dot", "color": "#57606a"}, row=1, col=2)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        height=320,
        margin={"l": 20, "r": 20, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def cumulative_figure(
    series: Sequence[dict[str, Any]], *, lower_is_better: bool = False, ship_threshold: float = 0.95
) -> go.Figure:
    """P(variant better) and the lift with its 95 % interval, for units assigned up to each day."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("P(variant better)", "lift and 95 % interval"),
    )
    days = [r["day"] for r in series]
    fig.add_trace(
        go.Scatter(
            x=days,
            y=[r["prob_variant_better"] for r in series],
            name="P(better)",
            line={"color": VARIANT},
        ),
        row=1,
        col=1,
    )
    fig.add_hline(y=ship_threshold, line={"dash": "dot", "color": GOOD}, row=1, col=1)
    fig.add_hline(y=1 - ship_threshold, line={"dash": "dot", "color": BAD}, row=1, col=1)
    ok = [r for r in series if _finite(r["ci_low"], r["ci_high"])]
    fig.add_trace(
        go.Scatter(
            x=[r["day"] for r in ok] + [r["day"] for r in reversed(ok)],
            y=[r["ci_high"] for r in ok] + [r["ci_low"] for r in reversed(ok)],
            fill="toself",
            fillcolor=RIBBON,
            line={"width": 0},
            name="95 % interval",
            hoverinfo="skip",
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=days, y=[r["lift"] for r in series], name="lift", line={"color": VARIANT}),
        row=2,
        col=1,
    )
    fig.add_hline(y=0, line={"dash": "dot", "color": "#57606a"}, row=2, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_layout(height=460, margin={"l": 20, "r": 20, "t": 40, "b": 30}, showlegend=False)
    return fig


def guardrail_figure(guardrails: Sequence[dict[str, Any]]) -> go.Figure:
    """Each guardrail's lift interval against its tolerance (the red line is "too much harm")."""
    fig = go.Figure()
    for i, g in enumerate(guardrails):
        lift = g["result"]["absolute_lift"]
        passed = (g.get("guardrail") or {}).get("passed")
        colour = GOOD if passed else BAD
        if _finite(lift["mean"], lift["ci_low"], lift["ci_high"]):
            fig.add_trace(
                go.Scatter(
                    x=[lift["mean"]],
                    y=[g["metric"]],
                    mode="markers",
                    marker={"color": colour, "size": 10},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [lift["ci_high"] - lift["mean"]],
                        "arrayminus": [lift["mean"] - lift["ci_low"]],
                    },
                    name=g["metric"],
                    showlegend=False,
                )
            )
        tol = g.get("tolerance")
        rel = (g.get("guardrail") or {}).get("relative")
        control = g["result"]["control"]["mean"]
        if _finite(tol) and (not rel or _finite(control)):
            bound = tol * abs(control) if rel else tol
            edge = bound if g.get("lower_is_better") else -bound
            fig.add_shape(
                type="line",
                x0=edge,
                x1=edge,
                y0=i - 0.4,
                y1=i + 0.4,
                line={"color": BAD, "dash": "dash"},
            )
    fig.add_vline(x=0, line={"dash": "dot", "color": "#57606a"})
    fig.update_layout(
        height=120 + 50 * len(guardrails),
        xaxis_title="lift (variant − control)",
        margin={"l": 20, "r": 20, "t": 20, "b": 40},
    )
    return fig


def segment_figure(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Per segment: the unpooled lift (grey) and, when fitted, the partially pooled one."""
    fig = go.Figure()
    labels = [f"{r['dimension']}: {r['level']}" for r in rows]
    for key, low, high, name, colour, offset in (
        ("lift", "ci_low", "ci_high", "unpooled", CONTROL, 0.15),
        ("pooled_mean", "pooled_ci_low", "pooled_ci_high", "partially pooled", POOLED, -0.15),
    ):
        pts = [(i, r) for i, r in enumerate(rows) if _finite(r.get(key), r.get(low), r.get(high))]
        if not pts:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r[key] for _, r in pts],
                y=[i + offset for i, _ in pts],
                mode="markers",
                marker={"color": colour, "size": 8},
                name=name,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [r[high] - r[key] for _, r in pts],
                    "arrayminus": [r[key] - r[low] for _, r in pts],
                },
                customdata=[[labels[i], r.get("n_control"), r.get("n_variant")] for i, r in pts],
                hovertemplate="%{customdata[0]}<br>lift %{x:.3g}<br>n %{customdata[1]} / "
                "%{customdata[2]}<extra></extra>",
            )
        )
    fig.add_vline(x=0, line={"dash": "dot", "color": "#57606a"})
    fig.update_yaxes(tickvals=list(range(len(rows))), ticktext=labels, autorange="reversed")
    fig.update_layout(
        height=140 + 26 * len(rows),
        xaxis_title="lift (variant − control)",
        margin={"l": 20, "r": 20, "t": 20, "b": 40},
        legend={"orientation": "h", "y": 1.05},
    )
    return fig
