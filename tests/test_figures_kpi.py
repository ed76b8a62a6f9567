"""Figure builders of dashboard/figures/kpi.py on hand-made frames, without Streamlit."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from dashboard.figures import kpi as fk
from dashboard.filters import last_full_month, previous_period
from dashboard.kpi_cards import spark_values


def _trend_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "period": [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)],
            "value": [0.70, 0.74, 0.78],
            "n": [400, 12, 380],
            "ci_low": [0.65, 0.50, 0.74],
            "ci_high": [0.75, 0.95, 0.82],
            "small_sample": [False, True, False],
        }
    )


def test_trend_figure_with_ci_has_ribbon_from_ci_columns():
    fig = fk.trend_figure(_trend_frame(), label="FCR", unit="%", target=0.8)
    upper, lower = fig.data[0], fig.data[1]
    assert list(upper.y) == [0.75, 0.95, 0.82]
    assert list(lower.y) == [0.65, 0.50, 0.74]
    assert lower.fill == "tonexty"  # the ribbon fills between the two bounds
    assert lower.name == "95 % interval"


def test_trend_figure_with_target_has_band_on_meets_side():
    fig = fk.trend_figure(_trend_frame(), label="FCR", unit="%", target=0.8)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(rects) == 1 and len(lines) == 1
    assert rects[0].y0 == pytest.approx(0.8)
    # Higher is better: the band runs from the target up past the highest bound (0.95).
    assert rects[0].y1 > 0.95
    assert lines[0].y0 == pytest.approx(0.8) and lines[0].y1 == pytest.approx(0.8)


def test_trend_figure_lower_is_better_band_runs_below_target():
    fig = fk.trend_figure(_trend_frame(), label="AHT", unit="s", target=0.72, direction="lower")
    rect = next(s for s in fig.layout.shapes if s.type == "rect")
    assert rect.y1 == pytest.approx(0.72)
    assert rect.y0 < 0.50


def test_trend_figure_without_target_or_ci_has_no_band_or_ribbon():
    df = _trend_frame().with_columns(
        pl.lit(None, pl.Float64).alias("ci_low"), pl.lit(None, pl.Float64).alias("ci_high")
    )
    fig = fk.trend_figure(df, label="AHT", unit="s", target=None)
    drawn = [d for d in fig.data if list(d.x) != [None]]
    assert len(drawn) == 1
    assert not fig.layout.shapes
    # The one legend-only entry names the grey of August's small sample.
    assert [d.name for d in fig.data if list(d.x) == [None]] == ["n below 30: too few to judge"]


def test_trend_figure_small_sample_period_has_grey_marker_and_reason():
    fig = fk.trend_figure(_trend_frame(), label="FCR", unit="%", target=0.8, min_n=30)
    line = fig.data[-1]
    assert list(line.marker.color) == [fk.LINE_COLOUR, fk.GREY, fk.LINE_COLOUR]
    assert "n = 12 is below the minimum sample of 30" in line.hovertext[1]
    assert "minimum sample" not in line.hovertext[0]


def _breakdown_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "channel": ["phone", "chat", "sms"],
            "value": [0.60, 0.80, 0.90],
            "n": [500, 200, 7],
            "ci_low": [0.55, 0.74, 0.60],
            "ci_high": [0.65, 0.86, 1.00],
            "status": ["misses", "meets", None],
            "small_sample": [False, False, True],
        }
    )


def test_breakdown_figure_small_cell_is_grey_others_take_status_colour():
    fig = fk.breakdown_figure(_breakdown_frame(), "channel", label="FCR", unit="%")
    bar = fig.data[0]
    # Sorted by value descending: sms (0.9), chat (0.8), phone (0.6).
    assert list(bar.y) == ["sms", "chat", "phone"]
    assert list(bar.marker.color) == [
        fk.GREY,
        fk.STATUS_COLOURS["meets"],
        fk.STATUS_COLOURS["misses"],
    ]
    assert "n = 7 is below the minimum sample" in bar.hovertext[0]
    assert list(bar.text) == ["n = 7", "n = 200", "n = 500"]
    # Every colour is named in the legend, in the bars' order; the bars themselves are not.
    assert bar.showlegend is False
    keys = [(d.name, d.marker.color) for d in fig.data[1:]]
    assert keys == [
        ("n below 30: too few to judge", fk.GREY),
        ("meets target", fk.STATUS_COLOURS["meets"]),
        ("misses target", fk.STATUS_COLOURS["misses"]),
    ]


def test_breakdown_figure_without_target_is_not_grey_and_says_no_target():
    # Grey means "too few to judge": a KPI without a target keeps the plain colour.
    df = _breakdown_frame().with_columns(pl.lit(None, pl.Utf8).alias("status"))
    fig = fk.breakdown_figure(df, "channel", label="AHT", unit="seconds")
    assert list(fig.data[0].marker.color) == [fk.GREY, fk.LINE_COLOUR, fk.LINE_COLOUR]
    assert [d.name for d in fig.data[1:]] == ["n below 30: too few to judge", "no target"]


def test_breakdown_figure_numeric_looking_bands_are_categories_in_order():
    df = pl.DataFrame({"reminders": ["0", "1", "2+"], "value": [0.1, 0.2, 0.3], "n": [50, 40, 35]})
    axis = fk.breakdown_figure(df, "reminders", label="churn").layout.yaxis
    assert axis.type == "category"  # a linear axis would drop "2+"
    assert list(axis.categoryarray) == ["2+", "1", "0"]  # sorted by value, all three


def test_breakdown_figure_intervals_are_distances_from_value():
    bar = fk.breakdown_figure(_breakdown_frame(), "channel", label="FCR").data[0]
    # phone: 0.65 - 0.60 above, 0.60 - 0.55 below.
    assert bar.error_x.array[2] == pytest.approx(0.05)
    assert bar.error_x.arrayminus[2] == pytest.approx(0.05)
    assert bar.error_x.array[0] == pytest.approx(0.10)
    assert bar.error_x.arrayminus[0] == pytest.approx(0.30)


def test_heatmap_figure_small_cell_only_in_grey_layer():
    df = pl.DataFrame(
        {
            "channel": ["phone", "phone", "chat", "chat"],
            "issue_type": ["billing", "order", "billing", "order"],
            "value": [10.0, 20.0, 30.0, 40.0],
            "n": [100, 5, 80, 90],
            "ci_low": [None] * 4,
            "ci_high": [None] * 4,
            "small_sample": [False, True, False, False],
        },
        schema_overrides={"ci_low": pl.Float64, "ci_high": pl.Float64},
    )
    fig = fk.heatmap_figure(df, label="NPS", unit="points")
    solid, grey, key = fig.data
    assert key.name == "n below 30: too few to judge" and key.marker.color == fk.GREY
    assert fig.layout.xaxis.type == fig.layout.yaxis.type == "category"
    assert list(solid.y) == ["chat", "phone"] and list(solid.x) == ["billing", "order"]
    assert [list(r) for r in solid.z] == [[30.0, 40.0], [10.0, None]]
    assert [list(r) for r in grey.z] == [[None, None], [None, 1.0]]
    assert "n = 5 is below the minimum sample" in grey.hovertext[1][1]


def test_channel_mix_chart_bars_largest_first_with_share_labels_and_counts():
    df = pl.DataFrame(
        {"channel": ["email", None, "phone"], "value": [0.4, 0.0, 0.6], "n": [100, 100, 100]}
    )
    spec = fk.channel_mix_chart(df)
    rows = spec["data"]["values"]
    assert [r["channel"] for r in rows] == ["Phone", "E-mail"]  # people's words, no null
    assert [r["share"] for r in rows] == [0.6, 0.4]
    assert [r["share_text"] for r in rows] == [fk.format_value(0.6, "share"), "40.0 %"]
    assert [r["contacts"] for r in rows] == ["60", "40"]  # share × all contacts (n), as text
    # One colour, so no legend: each bar is named on the axis and labelled with its share.
    assert spec["encoding"]["y"] == {
        "field": "channel",
        "type": "nominal",
        "sort": None,
        "title": None,
    }
    assert spec["layer"][1]["encoding"]["text"]["field"] == "share_text"


def test_spark_values_oldest_first_without_gaps_and_span_in_words():
    df = pl.DataFrame(
        {
            "kpi": ["fcr", "fcr", "fcr", "csat"],
            "period": [date(2026, 9, 1), date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)],
            "value": [0.78, 0.70, None, 0.5],
        }
    )
    assert spark_values(df, "fcr") == ([0.70, 0.78], "Jul 2026 – Sep 2026")
    assert spark_values(df, "csat") == ([], "")  # one point is no line


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.756, "share", "75.6 %"),
        (None, "share", "—"),
        (45.0, "seconds", "45 s"),
        (900.0, "seconds", "15.0 min"),
        (12.34, "nps", "+12.3"),
        (2.853, "score", "2.85"),
        (72.04, "index", "72.0"),
    ],
)
def test_format_value_units_readable(value, unit, expected):
    assert fk.format_value(value, unit) == expected


def test_last_full_month_when_data_ends_on_month_end_is_that_month():
    assert last_full_month(date(2025, 10, 1), date(2026, 9, 30)) == (
        date(2026, 9, 1),
        date(2026, 10, 1),
    )


def test_last_full_month_when_data_ends_mid_month_is_previous_month():
    assert last_full_month(date(2025, 10, 1), date(2026, 9, 14)) == (
        date(2026, 8, 1),
        date(2026, 9, 1),
    )


def test_last_full_month_when_less_than_a_month_is_whole_extent():
    assert last_full_month(date(2026, 9, 3), date(2026, 9, 14)) == (
        date(2026, 9, 3),
        date(2026, 9, 15),
    )


def test_previous_period_same_length_just_before():
    assert previous_period(date(2026, 9, 1), date(2026, 10, 1)) == (
        date(2026, 8, 2),
        date(2026, 9, 1),
    )


def test_trend_figure_partial_last_period_is_hollow_dotted_with_legend_entry():
    df = _trend_frame().with_columns(pl.Series("partial", [False, False, True]))
    fig = fk.trend_figure(df, label="FCR", unit="%", target=0.8)
    line = fig.data[-1]
    partial = next(tr for tr in fig.data if tr.name == "partial period")
    # The whole periods on the solid line; the partial one only on the dotted segment.
    assert list(line.y) == [0.70, 0.74, None]
    assert list(partial.y) == [None, 0.74, 0.78] and partial.line.dash == "dot"
    assert list(partial.marker.symbol) == ["circle", "circle", "circle-open"]
    assert partial.showlegend is not False


def test_trend_figure_without_partial_periods_adds_no_trace():
    df = _trend_frame().with_columns(pl.Series("partial", [False, False, False]))
    assert [tr.name for tr in fk.trend_figure(df, label="FCR").data] == [
        tr.name for tr in fk.trend_figure(_trend_frame(), label="FCR").data
    ]
