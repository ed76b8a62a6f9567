"""Parts of the Targets page: the table of targets in force, each row's name, the scope picker.

Widgets and words only; targets, their defaults and the status rule live in metrics.targets.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from dashboard.figures.kpi import format_value
from dashboard.i18n import dimension_label, kpi_label, t, value_label

FLASH = "targets_flash"
# The frame's columns as shown, in order (the frame keeps its names for tests and downloads).
SHOWN = (
    "kpi",
    "band",
    "label",
    "target shown",
    "target",
    "source",
    "default",
    "default_source",
    "overridden",
    "direction",
    "unit",
    "min_n",
)


def row_name(row: dict[str, Any]) -> str:
    """A target row's name in the catalogue's words: the picker's value."""
    scope = f" — {row['scope_dim']} {row['scope_value']}" if row.get("scope_dim") else ""
    return row["label"] + (f" — {row['band']}" if row["band"] else "") + scope


def row_shown(row: dict[str, Any]) -> str:
    """row_name in the UI language (the selectbox keeps row_name as its value)."""
    band = row["band"]
    if band:
        band = value_label("channel", value_label("satisfaction_band", band))
    scope = ""
    if row.get("scope_dim"):
        scope = f" — {value_label(row['scope_dim'], row['scope_value'])}"
    return kpi_label(row["kpi"]) + (f" — {band}" if band else "") + scope


def row_scope(row: dict[str, Any]) -> tuple[str, str] | None:
    """The (dimension, value) a row's target is scoped to, or None."""
    return (row["scope_dim"], row["scope_value"]) if row.get("scope_dim") else None


def table_section(table: pl.DataFrame) -> None:
    """Every target in force with its source, default and unit; people see words."""
    shown = table.with_columns(
        pl.struct("target", "unit")
        .map_elements(lambda r: format_value(r["target"], r["unit"]), return_dtype=pl.String)
        .alias("target shown"),
    ).select(*SHOWN)
    cc = st.column_config
    st.dataframe(
        shown,
        hide_index=True,
        key="targets_table",
        column_config={
            c: cc.Column(t(f"targets.col.{c}"))
            for c in shown.columns
            if c not in ("overridden", "min_n")
        }
        | {
            "overridden": cc.CheckboxColumn(t("targets.col.overridden")),
            "min_n": cc.NumberColumn(t("targets.col.min_n")),
        },
    )


def scope_input(row: dict[str, Any]) -> tuple[str, str] | None:
    """The row's scope; for a KPI-wide row a choice of a new target for one channel or team."""
    scope = row_scope(row)
    if scope is not None or row["band"] is not None:
        return scope
    dim = st.selectbox(
        t("targets.applies_to"),
        ("all", "channel", "team"),
        key="tgt_scope_dim",
        format_func=lambda d: t(f"targets.scope.{d}"),
    )
    if dim == "all":
        return None
    which = t("targets.which", dim=dimension_label(dim).lower())
    return (dim, st.text_input(which, key="tgt_scope_value").strip())


def flash(message: str) -> None:
    """Show `message` after the rerun that refreshes the table."""
    st.session_state[FLASH] = message
    st.rerun()
