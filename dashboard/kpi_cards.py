"""The Overview's KPI cards: value, change, target, status and a 12-month sparkline each."""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard import numbers
from dashboard.figures.kpi import format_delta, format_value, small_sample_reason
from dashboard.i18n import (
    current_language,
    kpi_definition,
    kpi_label,
    month_name,
    no_data_reason,
    t,
    t_or,
)
from metrics.catalogue import CATALOGUE
from metrics.targets import status_text

BADGE = {
    "meets": ":green-badge[{}]",
    "near": ":orange-badge[{}]",
    "misses": ":red-badge[{}]",
    "unclear": ":gray-badge[{}]",
}


def badge(status: str | None) -> str:
    """A status as a coloured badge in the UI language; no status is grey."""
    return BADGE.get(status or "", ":gray-badge[{}]").format(t(f"status.{status or 'none'}.badge"))


def spark_values(trend: pl.DataFrame, kpi: str) -> tuple[list[float], str]:
    """One KPI's monthly values, oldest first, and the months they span in words.

    Months without a value are left out: st.metric's sparkline takes numbers only.
    """
    series = trend.filter((pl.col("kpi") == kpi) & pl.col("value").is_not_null()).sort("period")
    if series.height < 2:
        return [], ""
    first, last = series["period"][0], series["period"][-1]
    span = f"{month_name(first.month)} {first.year} – {month_name(last.month)} {last.year}"
    return [float(v) for v in series["value"]], span


def _help(row: dict[str, Any], span: str) -> str:
    prob = row["prob_real"]
    name = row["kpi"]
    full = f"**{kpi_label(name)}**: " if card_label(name) != kpi_label(name) else ""
    text = (
        full
        + kpi_definition(name)
        + "\n\n"
        + t("overview.change_noise" if row["noise"] else "overview.change_real")
        + (numbers.p_phrase("overview.p_real", prob) if prob is not None else ".")
    )
    # The sparkline has no axis or hover labels (st.metric draws values only): say its months.
    return text + ("\n\n" + t("overview.sparkline", span=span) if span else "")


def card_label(name: str) -> str:
    """A card's title: the KPI's short name where its full one would be cut off in a card
    ("Live first reply (p90)"), else its name; the full name is in the card's help."""
    return t_or(f"kpi.{name}.short", kpi_label(name))


def kpi_card(box: Any, row: dict[str, Any], trend: pl.DataFrame, direction: str) -> None:
    """One KPI card in `box` (a bordered container); `row` is a compare_periods row, `trend`
    its monthly values (or any KPIs': spark_values picks)."""
    kpi = CATALOGUE[row["kpi"]]
    if row.get("reason"):  # absent is not zero: no value, no badge, no verdict; the reason
        box.metric(card_label(kpi.name), t("overview.no_data"), help=kpi_definition(kpi.name))
        box.caption(t("overview.no_data_reason", reason=no_data_reason(row["reason"])))
        return
    values, span = spark_values(trend, row["kpi"])
    box.metric(
        card_label(kpi.name),
        format_value(row["value"], kpi.unit),
        delta=format_delta(row["delta"], kpi.unit, like=row["value"]),
        # A change that is probably noise is shown muted, not red or green (the line too).
        delta_color="off" if row["noise"] else ("normal" if direction == "higher" else "inverse"),
        help=_help(row, span),
        chart_data=values or None,
        chart_type="line",
    )
    target = (
        t("overview.no_target")
        if row["target"] is None
        else t("overview.target", value=format_value(row["target"], kpi.unit))
    )
    lines = [f"{badge(row['status'])} {target} · n = {numbers.count(row['n'])}"]
    if row["status"] is not None:  # "probably meets (P = 94 %)": the status with its odds
        lines.append(f":small[:gray[{status_text(row, current_language())}]]")
    if row["small_sample"]:
        lines.append(f":small[:gray[{t('overview.not_judged', min_n=kpi.min_n)}]]")
    # One element under the value, not a markdown and two captions: every element is a
    # render of its own in the browser (benchmarks/overview_browser.py).
    box.markdown(
        "  \n".join(lines),
        help=small_sample_reason(row["n"], kpi.min_n) if row["small_sample"] else None,
    )


def kpi_cards(
    cards: pl.DataFrame, trend: pl.DataFrame, direction: dict[str, str], per_row: int = 4
) -> None:
    """The cards in rows of `per_row`: one st.metric with its sparkline per KPI.

    `trend` holds kpi, period, value (monthly); `direction` maps kpi -> "higher" / "lower".
    """
    by_kpi = trend.partition_by("kpi", as_dict=True)  # one split, not a filter per card
    none = trend.clear()
    for start in range(0, cards.height, per_row):
        row_cols = st.columns(per_row)
        for col, row in zip(
            row_cols, cards.slice(start, per_row).iter_rows(named=True), strict=False
        ):
            own = by_kpi.get((row["kpi"],), none)
            kpi_card(col.container(border=True), row, own, direction[row["kpi"]])
