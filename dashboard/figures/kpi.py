"""KPI figures: trend with target band and interval ribbon, breakdown, heatmap, channel mix."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl

from dashboard import numbers
from dashboard.i18n import dimension_label, t, value_label
from metrics.catalogue import MIN_SAMPLE_DEFAULT

# Status colours follow the usual traffic light; None (no status) is neutral grey.
STATUS_COLOURS: dict[str | None, str] = {
    "meets": "#1a7f37",
    "near": "#bf8700",
    "misses": "#cf222e",
    "unclear": "#6e7781",  # the interval spans the target: no colour from a point estimate
    None: "#6e7781",
}
GREY = "#c9ced6"  # small-sample cells: visibly "not solid"
BAND_COLOUR = "rgba(26, 127, 55, 0.10)"
RIBBON_COLOUR = "rgba(9, 105, 218, 0.18)"
LINE_COLOUR = "#0969da"
DEFAULT_MIN_N = MIN_SAMPLE_DEFAULT  # the catalogue's (one source)
# A breakdown bar's colour by its status; "small" (below the minimum n) is grey.
_BAR_COLOURS: dict[str | None, str] = {
    **{k: v for k, v in STATUS_COLOURS.items() if k is not None},
    "small": GREY,
}


def small_sample_reason(n: int | None, min_n: int = DEFAULT_MIN_N) -> str:
    """Why a cell is greyed, in words a manager reads in the tooltip."""
    return t("fig.small_sample", n=numbers.count(n or 0), min_n=numbers.count(min_n))


def legend_key(fig: go.Figure, name: str, colour: str, *, symbol: str = "square") -> None:
    """A legend entry for what a colour means (a status, a grey small sample), drawing nothing.

    Bars and heatmap cells take one colour per point, which Plotly cannot name in a legend.
    """
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"color": colour, "symbol": symbol, "size": 11},
            name=name,
            showlegend=True,
            hoverinfo="skip",
        )
    )


def small_sample_key(fig: go.Figure, min_n: int = DEFAULT_MIN_N) -> None:
    """The legend entry for grey: too few observations to judge."""
    legend_key(fig, t("fig.too_few", min_n=min_n), GREY)


def format_value(value: float | None, unit: str = "") -> str:
    """A KPI value in its catalogue unit, in the UI language and currency (metrics.units):
    "70.8 %" / "70,8 %", "6.1 min", "+12.3" (NPS), "1 234 kr"; an em dash when missing."""
    return numbers.value(value, unit)


def format_delta(delta: float | None, unit: str = "", like: float | None = None) -> str | None:
    """A period-over-period change in the KPI's unit (shares in pp / p.e.); with `like` (the
    value it belongs to) a duration's change reads in the value's scale. None when missing,
    so st.metric shows no arrow."""
    if delta is None or (isinstance(delta, float) and not math.isfinite(delta)):
        return None
    return numbers.delta(delta, unit, like=like)


def _hover_rows(df: pl.DataFrame, unit: str, min_n: int, key: str | None) -> list[str]:
    texts = []
    for row in df.iter_rows(named=True):
        head = f"{row[key]}: " if key else ""
        text = f"{head}{format_value(row.get('value'), unit)}<br>n = {numbers.count(row.get('n') or 0)}"
        if row.get("ci_low") is not None and row.get("ci_high") is not None:
            text += "<br>" + t(
                "fig.interval_hover",
                low=format_value(row["ci_low"], unit),
                high=format_value(row["ci_high"], unit),
            )
        if row.get("small_sample"):
            text += "<br>" + small_sample_reason(row.get("n"), min_n)
        texts.append(text)
    return texts


def _axis(unit: str) -> dict[str, Any]:
    """Tick format of an axis carrying values in `unit` (shares 0..1 read as %)."""
    if unit in ("share", "%"):
        # One decimal where the ticks need it ("2.5%"), none where they do not ("80%"):
        # ".0%" wrote 2.25 %, 2.5 % and 2.75 % all as "3%".
        return {"tickformat": ".1~%"}
    suffix = numbers.suffix(unit)
    return {"ticksuffix": f" {suffix}"} if suffix in ("s", "min", "h") else {}


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def target_band(
    target: float | None, direction: str, extent: Sequence[float]
) -> tuple[float, float] | None:
    """The 'meets target' zone from the target to the far edge of the shown values.

    The band stays finite so it does not stretch the axis; for lower-is-better KPIs it
    runs downward from the target.
    """
    if target is None or not math.isfinite(target):
        return None
    values = [*extent, target]
    span = (max(values) - min(values)) or abs(target) or 1.0
    if direction == "lower":
        return (min(values) - 0.05 * span, target)
    return (target, max(values) + 0.05 * span)


def trend_figure(
    df: pl.DataFrame,
    *,
    label: str,
    unit: str = "",
    target: float | None = None,
    direction: str = "higher",
    min_n: int = DEFAULT_MIN_N,
) -> go.Figure:
    """Value over `period` with its 95 % interval ribbon, the target line and its band.

    Expects columns period, value, n, ci_low, ci_high (null where undefined), small_sample,
    and optionally partial (periods covered only in part: hollow marker, dotted segment).
    Small-sample periods are drawn as grey markers with the reason in the tooltip.
    """
    df = df.sort("period")
    x = df["period"].to_list()
    fig = go.Figure()
    has_ci = "ci_low" in df.columns and df["ci_low"].drop_nulls().len() > 0
    if has_ci:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=df["ci_high"].to_list(),
                mode="lines",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                name="ci_high",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=df["ci_low"].to_list(),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=RIBBON_COLOUR,
                hoverinfo="skip",
                name=t("fig.interval"),
            )
        )
    small = (
        df["small_sample"].fill_null(False).to_list()
        if "small_sample" in df.columns
        else [False] * df.height
    )
    if any(small):  # before the line, which stays the last trace
        small_sample_key(fig, min_n)
    values = df["value"].to_list()
    # A period the range or the data covers only in part (metrics.periods.mark_partial): a
    # hollow marker on a dotted segment, with its own legend entry.
    partial = df["partial"].fill_null(False).to_list() if "partial" in df.columns else []
    hovers = _hover_rows(df, unit, min_n, None)
    if any(partial):
        near = [
            p or (i > 0 and partial[i - 1]) or (i + 1 < len(partial) and partial[i + 1])
            for i, p in enumerate(partial)
        ]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[v if n else None for v, n in zip(values, near, strict=True)],
                mode="lines+markers",
                name=t("links.partial"),
                line={"color": LINE_COLOUR, "width": 2, "dash": "dot"},
                marker={
                    "color": LINE_COLOUR,
                    "size": 9,
                    "symbol": ["circle-open" if p else "circle" for p in partial],
                },
                hovertext=[
                    f"{h} · {t('links.partial')}" if p else h
                    for h, p in zip(hovers, partial, strict=True)
                ],
                hoverinfo="x+text",
            )
        )
        values = [None if p else v for v, p in zip(values, partial, strict=True)]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=values,
            mode="lines+markers",
            name=label,
            line={"color": LINE_COLOUR, "width": 2},
            marker={"color": [GREY if s else LINE_COLOUR for s in small], "size": 7},
            hovertext=hovers,
            hoverinfo="x+text",
        )
    )
    extent = _finite(df["value"].to_list())
    if has_ci:
        extent += _finite(df["ci_low"].to_list()) + _finite(df["ci_high"].to_list())
    band = target_band(target, direction, extent or [0.0])
    if band is not None:
        fig.add_hrect(
            y0=band[0],
            y1=band[1],
            fillcolor=BAND_COLOUR,
            line_width=0,
            layer="below",
            name=t("fig.target_band"),
        )
        fig.add_hline(
            y=target,
            line={"color": STATUS_COLOURS["meets"], "dash": "dash", "width": 1},
            annotation_text=t("fig.target", value=format_value(target, unit)),
            annotation_position="top left",
        )
    fig.update_layout(
        title=label,
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        hovermode="x unified",
        showlegend=True,  # even with one line: it names the line and the grey points
        legend={"orientation": "h", "y": -0.15},
        yaxis=_axis(unit),
    )
    return numbers.localize(fig)


def breakdown_figure(
    df: pl.DataFrame,
    dim: str,
    *,
    label: str,
    unit: str = "",
    target: float | None = None,
    min_n: int = DEFAULT_MIN_N,
) -> go.Figure:
    """Horizontal bars of `value` per `dim` with 95 % interval whiskers.

    Bars take their status colour; small-sample bars are grey with the reason on hover.
    """
    df = df.filter(pl.col(dim).is_not_null()).sort("value", nulls_last=True, descending=True)
    small = df["small_sample"].fill_null(False).to_list() if "small_sample" in df else []
    status = df["status"].to_list() if "status" in df.columns else [None] * df.height
    # Without a status (no target) a bar is the plain line colour: grey means "too few".
    keys = ["small" if (small and small[i]) else status[i] for i in range(df.height)]
    colours = [_BAR_COLOURS.get(k, LINE_COLOUR) for k in keys]
    value = df["value"].to_list()
    error = {}
    if "ci_low" in df.columns and df["ci_low"].drop_nulls().len() > 0:
        error = {
            "type": "data",
            "symmetric": False,
            "array": [
                (h - v) if h is not None and v is not None else None
                for v, h in zip(value, df["ci_high"].to_list(), strict=True)
            ],
            "arrayminus": [
                (v - lo) if lo is not None and v is not None else None
                for v, lo in zip(value, df["ci_low"].to_list(), strict=True)
            ],
            "color": "#57606a",
        }
    fig = go.Figure(
        go.Bar(
            y=[str(v) for v in df[dim].to_list()],
            x=value,
            orientation="h",
            marker={"color": colours},
            showlegend=False,  # the legend names its colours (legend_key below)
            error_x=error or None,
            hovertext=_hover_rows(df, unit, min_n, dim),
            hoverinfo="text",
            text=[f"n = {numbers.count(n)}" for n in df["n"].to_list()],
            textposition="inside",
            insidetextanchor="start",
        )
    )
    for key in dict.fromkeys(keys):  # one legend entry per colour shown, in bar order
        if key == "small":
            small_sample_key(fig, min_n)
        elif key in STATUS_COLOURS and key is not None:
            legend_key(fig, t(f"status.{key}.badge"), STATUS_COLOURS[key])
        else:
            legend_key(fig, t("fig.no_target"), LINE_COLOUR)
    if target is not None:
        fig.add_vline(
            x=target,
            line={"color": STATUS_COLOURS["meets"], "dash": "dash", "width": 1},
            annotation_text=t("fig.target", value=format_value(target, unit)),
        )
    categories = [str(v) for v in df[dim].to_list()]
    fig.update_layout(
        title=t("fig.breakdown_title", label=label, dim=dimension_label(dim).lower()),
        height=max(260, 34 * df.height + 80),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.12},
        xaxis=_axis(unit),
        # The data keeps the stored values; the axis shows them in people's words, as
        # categories in the bars' order (a band like "2+" is not a number to drop).
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": categories,
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": categories,
            "ticktext": [value_label(dim, v) for v in categories],
        },
    )
    return numbers.localize(fig)


def heatmap_figure(
    df: pl.DataFrame,
    *,
    label: str,
    unit: str = "",
    x: str = "issue_type",
    y: str = "channel",
    direction: str = "higher",
    min_n: int = DEFAULT_MIN_N,
) -> go.Figure:
    """`value` for each (y, x) cell, green = good; small-sample cells are flat grey on top."""
    df = df.filter(pl.col(x).is_not_null() & pl.col(y).is_not_null())
    xs = sorted({str(v) for v in df[x].to_list()})
    ys = sorted({str(v) for v in df[y].to_list()})
    solid = [[None] * len(xs) for _ in ys]
    grey = [[None] * len(xs) for _ in ys]
    text = [[""] * len(xs) for _ in ys]
    for row in df.iter_rows(named=True):
        i, j = ys.index(str(row[y])), xs.index(str(row[x]))
        text[i][j] = _hover_rows(pl.DataFrame([row]), unit, min_n, None)[0]
        if row.get("small_sample"):
            grey[i][j] = 1.0
        else:
            solid[i][j] = row["value"]
    fig = go.Figure(
        [
            go.Heatmap(
                z=solid,
                x=xs,
                y=ys,
                colorscale="RdYlGn" if direction == "higher" else "RdYlGn_r",
                name=label,
                hovertext=text,
                hoverinfo="x+y+text",
                colorbar={"title": numbers.suffix(unit), **_axis(unit)},
            ),
            go.Heatmap(
                z=grey,
                x=xs,
                y=ys,
                colorscale=[[0, GREY], [1, GREY]],
                showscale=False,
                name=t("fig.below_min_sample"),
                hovertext=text,
                hoverinfo="x+y+text",
            ),
        ]
    )
    if any(v is not None for r in grey for v in r):
        small_sample_key(fig, min_n)  # the colour bar explains the rest
    axis = {"type": "category", "tickmode": "array"}
    fig.update_layout(
        title=f"{label}: {dimension_label(y).lower()} × {dimension_label(x).lower()}",
        height=max(300, 30 * len(ys) + 120),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.2},
        xaxis={**axis, "tickvals": xs, "ticktext": [value_label(x, v) for v in xs]},
        yaxis={**axis, "tickvals": ys, "ticktext": [value_label(y, v) for v in ys]},
    )
    return numbers.localize(fig)


def channel_mix_chart(df: pl.DataFrame) -> dict[str, Any]:
    """Horizontal bars of each channel's share (`value`), largest first, as a Vega-Lite spec.

    Each bar is labelled with its share; the tooltip adds the channel's contacts (`n` is all
    contacts, the share's denominator, so the count is share × n). Vega-Lite, not
    Plotly: the Overview's sparklines already load Vega in the browser, while Plotly's
    4.7 MB bundle alone took most of a warm Overview visit (benchmarks/overview_browser.py).
    """
    df = df.filter(pl.col("channel").is_not_null()).sort("value", descending=True)
    rows = [
        {
            "channel": value_label("channel", r["channel"]),
            "share": r["value"],
            "share_text": format_value(r["value"], "share"),
            # As text in the language's numbers: Vega would write 1,234 in Swedish too.
            "contacts": numbers.count(round(r["value"] * r["n"]) if r["n"] else 0),
        }
        for r in df.iter_rows(named=True)
    ]
    y = {"field": "channel", "type": "nominal", "sort": None, "title": None}
    return {
        "title": t("fig.mix_title"),
        "height": 28 * max(len(rows), 1) + 40,
        "data": {"values": rows},
        "encoding": {
            "y": y,
            "x": {
                "field": "share",
                "type": "quantitative",
                "title": t("fig.mix_share"),
                "axis": {"format": ".0%"},
            },
            "tooltip": [
                {"field": "channel", "type": "nominal", "title": dimension_label("channel")},
                {"field": "share_text", "type": "nominal", "title": t("fig.mix_share")},
                {"field": "contacts", "type": "nominal", "title": t("fig.mix_contacts")},
            ],
        },
        "layer": [
            {"mark": {"type": "bar", "color": LINE_COLOUR}},
            {  # the share written at the end of each bar: no legend to look up
                "mark": {"type": "text", "align": "left", "dx": 4, "color": "#1f2328"},
                "encoding": {"text": {"field": "share_text", "type": "nominal"}},
            },
        ],
    }
