"""Targets: each KPI's target in force with its source; edit, save, or reset to the default."""

from __future__ import annotations

import streamlit as st

from dashboard.downloads import download_buttons
from dashboard.figures.kpi import format_value
from dashboard.i18n import t, t_or
from dashboard.store_access import cached, get_store
from dashboard.target_sections import (
    FLASH,
    flash,
    row_name,
    row_shown,
    scope_input,
    table_section,
)
from metrics.targets import reset_target, set_target, targets_frame

st.title(t("targets.title"))
st.caption(t("targets.caption", rule=t("status.rule")))

if message := st.session_state.pop(FLASH, None):
    st.success(message)

try:
    table = cached(targets_frame)
except ValueError as exc:
    st.error(t("targets.read_error", error=exc))
    st.stop()

table_section(table)
download_buttons(table, "targets")

st.subheader(t("targets.change"))
rows = {row_name(r): r for r in table.iter_rows(named=True)}
row = rows[
    st.selectbox(
        t("targets.kpi"), tuple(rows), key="tgt_kpi", format_func=lambda k: row_shown(rows[k])
    )
]
share = row["unit"] == "share"  # shares are edited in percent, stored as 0..1
scale = 100.0 if share else 1.0
key = f"{row['kpi']}:{row['band']}" + (
    f"@{row['scope_dim']}={row['scope_value']}" if row.get("scope_dim") else ""
)
scope = scope_input(row)
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
        st.error(t("targets.enter_first", name=row_shown(row)))
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
            flash(t("targets.saved", name=row_shown(row), value=f"{value:g}"))
if reset.button(t("targets.reset"), key="tgt_reset", disabled=not row["overridden"]):
    reset_target(get_store(), row["kpi"], band=row["band"], scope=scope)
    st.session_state.pop(f"tgt_value_{key}", None)
    flash(t("targets.was_reset", name=row_shown(row)))
