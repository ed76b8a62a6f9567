"""Targets: each KPI's target in force with its source; edit, save, or reset to the default."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.downloads import download_buttons
from dashboard.figures.kpi import format_value
from dashboard.i18n import dimension_label, kpi_label, t, t_or, value_label
from dashboard.store_access import cached, get_store
from metrics.targets import reset_target, set_target, targets_frame

st.title(t("targets.title"))
st.caption(t("targets.caption", rule=t("status.rule")))

if flash := st.session_state.pop("targets_flash", None):
    st.success(flash)

try:
    table = cached(targets_frame)
except ValueError as exc:
    st.error(t("targets.read_error", error=exc))
    st.stop()


def _name(row: dict) -> str:
    scope = f" — {row['scope_dim']} {row['scope_value']}" if row.get("scope_dim") else ""
    return row["label"] + (f" — {row['band']}" if row["band"] else "") + scope


def _shown(row: dict) -> str:
    """_name in the UI language (the selectbox keeps _name as its value)."""
    band = row["band"]
    if band:
        band = value_label("channel", value_label("satisfaction_band", band))
    scope = ""
    if row.get("scope_dim"):
        scope = f" — {value_label(row['scope_dim'], row['scope_value'])}"
    return kpi_label(row["kpi"]) + (f" — {band}" if band else "") + scope


shown = table.with_columns(
    pl.struct("target", "unit")
    .map_elements(lambda r: format_value(r["target"], r["unit"]), return_dtype=pl.String)
    .alias("target shown"),
).select(
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
CC = st.column_config
st.dataframe(
    shown,
    hide_index=True,
    key="targets_table",
    # The frame keeps its column names (downloads, tests); people see words.
    column_config={
        c: CC.Column(t(f"targets.col.{c}"))
        for c in shown.columns
        if c not in ("overridden", "min_n")
    }
    | {
        "overridden": CC.CheckboxColumn(t("targets.col.overridden")),
        "min_n": CC.NumberColumn(t("targets.col.min_n")),
    },
)
download_buttons(table, "targets")

st.subheader(t("targets.change"))
rows = {_name(r): r for r in table.iter_rows(named=True)}
row = rows[
    st.selectbox(
        t("targets.kpi"), tuple(rows), key="tgt_kpi", format_func=lambda k: _shown(rows[k])
    )
]
share = row["unit"] == "share"  # shares are edited in percent, stored as 0..1
scale = 100.0 if share else 1.0
key = f"{row['kpi']}:{row['band']}" + (
    f"@{row['scope_dim']}={row['scope_value']}" if row.get("scope_dim") else ""
)
scope = (row["scope_dim"], row["scope_value"]) if row.get("scope_dim") else None
if scope is None and row["band"] is None:  # a new target for one channel or team only
    dim = st.selectbox(
        t("targets.applies_to"),
        ("all", "channel", "team"),
        key="tgt_scope_dim",
        format_func=lambda d: t(f"targets.scope.{d}"),
    )
    if dim != "all":
        which = t("targets.which", dim=dimension_label(dim).lower())
        scope = (dim, st.text_input(which, key="tgt_scope_value").strip())
current = row["target"] if row["target"] is not None else row["default"]
value = st.number_input(
    t(
        "targets.value",
        unit="%" if share else t_or(f"unit.{row['unit']}", row["unit"]),
        direction=t(f"targets.direction.{row['direction']}"),
    ),
    value=None if current is None else round(current * scale, 4),
    key=f"tgt_value_{key}",
)
source = st.text_input(t("targets.source"), value=t("targets.by_user"), key=f"tgt_source_{key}")
st.caption(
    t(
        "targets.default",
        value=format_value(row["default"], row["unit"]),
        source=row["default_source"],
    )
)
save, reset = st.columns(2)
if save.button(t("targets.save"), type="primary", key="tgt_save"):
    if value is None:
        st.error(t("targets.enter_first", name=_shown(row)))
    else:
        try:
            set_target(
                get_store(),
                row["kpi"],
                value / scale,
                source or t("targets.by_user"),
                band=row["band"],
                scope=scope,
            )
        except ValueError as exc:
            st.error(t("targets.not_saved", error=exc))
        else:
            st.session_state["targets_flash"] = t(
                "targets.saved", name=_shown(row), value=f"{value:g}"
            )
            st.rerun()
if reset.button(t("targets.reset"), key="tgt_reset", disabled=not row["overridden"]):
    reset_target(get_store(), row["kpi"], band=row["band"], scope=scope)
    st.session_state.pop(f"tgt_value_{key}", None)
    st.session_state["targets_flash"] = t("targets.was_reset", name=_shown(row))
    st.rerun()
