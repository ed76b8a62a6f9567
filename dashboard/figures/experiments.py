"""Experiment figures: posteriors, P(better) and lift over time, guardrails, segment effects."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.i18n import dimension_label, t, t_or, value_label
from dashboard.numbers import localize, share
from experiments.readout_view import band_points, display_scale, interval_name, metric_unit

CONTROL = "#6e7781"
VARIANT = "#0969da"
POOLED = "#8250df"
RIBBON = "rgba(9, 105, 218, 0.18)"
BAD = "#cf222e"
GOOD = "#1a7f37"


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def _scale(unit: str) -> tuple[float, str]:
    """display_scale with the suffix in the UI language ('pp' is 'p.e.' in Swedish)."""
    factor, suffix = display_scale(unit)
    return factor, t_or(f"xfig.suffix.{suffix}", suffix) if suffix else suffix


def posterior_figure(
    posterior: dict[str, Any],
    *,
    control: str = "control",
    variant: str = "variant",
    metric: str = "",
    unit: str = "",
) -> go.Figure:
    """Each arm's posterior density (left) and the density of the lift (right).

    In the metric's unit: a share's arms in % and its lift in percentage points. A density
    is rescaled with its x axis, so the curves keep their area of one.
    """
    factor, suffix = _scale(unit)
    level = "%" if unit == "share" else suffix
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(t("xfig.by_arm", metric=metric), t("xfig.lift_title")),
    )
    if not posterior:
        fig.add_annotation(
            text=t("xfig.no_posterior"),
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
        return fig
    x = [v * factor for v in posterior["x"]]
    lift_x = [v * factor for v in posterior["lift_x"]]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[v / factor for v in posterior["control"]],
            name=control,
            line={"color": CONTROL},
            fill="tozeroy",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[v / factor for v in posterior["variant"]],
            name=variant,
            line={"color": VARIANT},
            fill="tozeroy",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=lift_x,
            y=[v / factor for v in posterior["lift"]],
            name=t("fig.lift"),
            line={"color": POOLED},
            fill="tozeroy",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    fig.add_vline(x=0, line={"dash": "dot", "color": "#57606a"}, row=1, col=2)
    fig.update_xaxes(title_text=level, row=1, col=1)
    fig.update_xaxes(title_text=suffix, row=1, col=2)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        height=320,
        margin={"l": 20, "r": 20, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.15},
    )
    return localize(fig)


def cumulative_figure(
    series: Sequence[dict[str, Any]],
    *,
    unit: str = "",
    lower_is_better: bool = False,
    ship_threshold: float = 0.95,
) -> go.Figure:
    """P(variant better) and the lift with its interval, day by day.

    The band is each point's ci_low / ci_high; it is labelled "sequential 95 % interval" when
    the points say `interval == "sequential"` (an always-valid / group-sequential interval
    from the readout), else "credible interval". The lift is drawn in the metric's unit
    (shares in percentage points).
    """
    factor, suffix = _scale(unit)
    series = band_points(list(series))
    name = interval_name(series)
    band = t_or("xfig.band." + name.replace(" ", "_").replace("%", "pct"), name)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=(t("xfig.p_variant_better"), t("xfig.lift_and", band=band)),
    )
    days = [r["day"] for r in series]
    fig.add_trace(
        go.Scatter(
            x=days,
            y=[r.get("prob_variant_better") for r in series],
            name=t("exp.p_better"),
            line={"color": VARIANT},
        ),
        row=1,
        col=1,
    )
    # The decision lines say what they are where they are drawn (no legend to look up).
    fig.add_hline(
        y=ship_threshold,
        line={"dash": "dot", "color": GOOD},
        annotation_text=t("xfig.better_line", p=share(ship_threshold, digits=0)),
        annotation_position="bottom left",
        row=1,
        col=1,
    )
    fig.add_hline(
        y=1 - ship_threshold,
        line={"dash": "dot", "color": BAD},
        annotation_text=t("xfig.worse_line", p=share(1 - ship_threshold, digits=0)),
        annotation_position="top left",
        row=1,
        col=1,
    )
    ok = [r for r in series if _finite(r.get("ci_low"), r.get("ci_high"))]
    fig.add_trace(
        go.Scatter(
            x=[r["day"] for r in ok] + [r["day"] for r in reversed(ok)],
            y=[r["ci_high"] * factor for r in ok] + [r["ci_low"] * factor for r in reversed(ok)],
            fill="toself",
            fillcolor=RIBBON,
            line={"width": 0},
            name=band,
            hoverinfo="skip",
        ),
        row=2,
        col=1,
    )
    lift = [r["lift"] * factor if _finite(r.get("lift")) else None for r in series]
    rules = [r.get("rule") or r.get("decision_rule") or "" for r in series]
    fig.add_trace(
        go.Scatter(
            x=days,
            y=lift,
            name=t("fig.lift"),
            line={"color": VARIANT},
            customdata=[[rule] for rule in rules],
            hovertemplate=f"%{{x}}<br>{t('fig.lift')} %{{y:.3g}} {suffix}<br>%{{customdata[0]}}"
            "<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.add_hline(y=0, line={"dash": "dot", "color": "#57606a"}, row=2, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text=suffix, row=2, col=1)
    fig.update_layout(
        height=460,
        margin={"l": 20, "r": 20, "t": 40, "b": 30},
        showlegend=True,
        legend={"orientation": "h", "y": -0.12},
    )
    return localize(fig)


def guardrail_figure(guardrails: Sequence[dict[str, Any]]) -> go.Figure:
    """One small chart per guardrail, each on its own axis in its metric's unit.

    A dot with its 95 % interval for the lift (green: shown safe, red: not), the dashed red
    line at the tolerance ("too much harm") and a dotted line at no change. Each guardrail has
    its own x axis because their units differ (pp of CSAT, seconds of handle time).
    """
    rows = max(len(guardrails), 1)
    titles = [str(g.get("label") or g["metric"]) for g in guardrails] or [""]
    fig = make_subplots(rows=rows, cols=1, subplot_titles=titles, vertical_spacing=0.25 / rows)
    shown: set[str] = set()
    for i, g in enumerate(guardrails, start=1):
        factor, suffix = _scale(metric_unit(g["metric"]))
        lift = g["result"]["absolute_lift"]
        verdict = g.get("guardrail") or {}
        colour = GOOD if verdict.get("passed") else BAD
        shown.add(colour)
        xs: list[float] = [0.0]
        if _finite(lift["mean"], lift["ci_low"], lift["ci_high"]):
            mean, lo, hi = (lift[k] * factor for k in ("mean", "ci_low", "ci_high"))
            xs += [lo, hi]
            fig.add_trace(
                go.Scatter(
                    x=[mean],
                    y=[0],
                    mode="markers",
                    marker={"color": colour, "size": 10},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [hi - mean],
                        "arrayminus": [mean - lo],
                    },
                    name=titles[i - 1],
                    showlegend=False,
                    hovertemplate=f"{t('fig.lift')} %{{x:.3g}} {suffix}<extra></extra>",
                ),
                row=i,
                col=1,
            )
        tol = g.get("tolerance")
        control = g["result"]["control"]["mean"]
        rel = verdict.get("relative")
        if _finite(tol) and (not rel or _finite(control)):
            bound = (tol * abs(control) if rel else tol) * factor
            edge = bound if g.get("lower_is_better") else -bound
            xs.append(edge)
            shown.add("tolerance")
            fig.add_vline(x=edge, line={"color": BAD, "dash": "dash"}, row=i, col=1)
        fig.add_vline(x=0, line={"dash": "dot", "color": "#57606a"}, row=i, col=1)
        pad = (max(xs) - min(xs)) * 0.15 or 1.0
        fig.update_xaxes(range=[min(xs) - pad, max(xs) + pad], title_text=suffix, row=i, col=1)
        fig.update_yaxes(visible=False, range=[-1, 1], row=i, col=1)
    # What the colours and the dashed line mean, for those this figure shows.
    for key, name, marker in (
        (GOOD, t("exp.guard.holds"), "circle"),
        (BAD, t("exp.guard.not_safe"), "circle"),
        ("tolerance", t("xfig.tolerance"), None),
    ):
        if key not in shown:
            continue
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                name=name,
                mode="markers" if marker else "lines",
                marker={"color": key, "size": 10} if marker else None,
                line=None if marker else {"color": BAD, "dash": "dash"},
                showlegend=True,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
    fig.update_layout(
        height=100 + 130 * rows,
        margin={"l": 20, "r": 20, "t": 40, "b": 30},
        legend={"orientation": "h", "y": -0.1},
    )
    return localize(fig)


def segment_label(row: dict[str, Any]) -> str:
    """A segment in people's words: 'Kanal: Telefon' / 'Channel: Phone'."""
    dim = str(row.get("dimension"))
    return f"{dimension_label(dim)}: {value_label(dim, row.get('level'))}"


def segment_figure(rows: Sequence[dict[str, Any]], unit: str = "") -> go.Figure:
    """Per segment: the unpooled lift (grey) and, when fitted, the partially pooled one, in
    the metric's unit (a share's lift in pp, as everywhere else)."""
    factor, suffix = _scale(unit)
    fig = go.Figure()
    labels = [segment_label(r) for r in rows]
    for key, low, high, name, colour, offset in (
        ("lift", "ci_low", "ci_high", t("xfig.unpooled"), CONTROL, 0.15),
        ("pooled_mean", "pooled_ci_low", "pooled_ci_high", t("xfig.pooled"), POOLED, -0.15),
    ):
        pts = [(i, r) for i, r in enumerate(rows) if _finite(r.get(key), r.get(low), r.get(high))]
        if not pts:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r[key] * factor for _, r in pts],
                y=[i + offset for i, _ in pts],
                mode="markers",
                marker={"color": colour, "size": 8},
                name=name,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [(r[high] - r[key]) * factor for _, r in pts],
                    "arrayminus": [(r[key] - r[low]) * factor for _, r in pts],
                },
                customdata=[[labels[i], r.get("n_control"), r.get("n_variant")] for i, r in pts],
                hovertemplate="%{customdata[0]}<br>"
                + t("fig.lift")
                + f" %{{x:+.3g}} {suffix}<br>n %{{customdata[1]}} / %{{customdata[2]}}"
                + "<extra></extra>",
            )
        )
    fig.add_vline(x=0, line={"dash": "dot", "color": "#57606a"})
    fig.update_yaxes(tickvals=list(range(len(rows))), ticktext=labels, autorange="reversed")
    fig.update_layout(
        height=140 + 26 * len(rows),
        xaxis_title=f"{t('xfig.lift_title')} ({suffix})" if suffix else t("xfig.lift_title"),
        margin={"l": 20, "r": 20, "t": 20, "b": 40},
        legend={"orientation": "h", "y": 1.05},
    )
    return localize(fig)
