"""Targets: each KPI's target in force with its source; edit, save, or reset to the default."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.downloads import download_buttons
from dashboard.figures.kpi import format_value
from dashboard.store_access import cached, get_store
from metrics.targets import STATUS_RULE, reset_target, set_target, targets_frame

st.title("Targets")
st.caption(
    f"Defaults come from the benchmarks in SEED_FACTS.md, with their source. Status rule: "
    f"{STATUS_RULE}."
)

if flash := st.session_state.pop("targets_flash", None):
    st.success(flash)

try:
    table = cached(targets_frame)
except ValueError as exc:
    st.error(f"The targets could not be read: {exc}")
    st.stop()


def _name(row: dict) -> str:
    scope = f" — {row['scope_dim']} {row['scope_value']}" if row.get("scope_dim") else ""
    return row["label"] + (f" — {row['band']}" if row["band"] else "") + scope


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
st.dataframe(shown, hide_index=True, key="targets_table")
download_buttons(table, "targets")

st.subheader("Change a target")
rows = {_name(r): r for r in table.iter_rows(named=True)}
row = rows[st.selectbox("KPI", tuple(rows), key="tgt_kpi")]
share = row["unit"] == "share"  # shares are edited in percent, stored as 0..1
scale = 100.0 if share else 1.0
key = f"{row['kpi']}:{row['band']}" + (
    f"@{row['scope_dim']}={row['scope_value']}" if row.get("scope_dim") else ""
)
scope = (row["scope_dim"], row["scope_value"]) if row.get("scope_dim") else None
if scope is None and row["band"] is None:  # a new target for one channel or team only
    dim = st.selectbox("Applies to", ("all", "channel", "team"), key="tgt_scope_dim")
    if dim != "all":
        scope = (dim, st.text_input(f"Which {dim}", key="tgt_scope_value").strip())
current = row["target"] if row["target"] is not None else row["default"]
value = st.number_input(
    f"Target ({'%' if share else row['unit']}; {row['direction']} is better)",
    value=None if current is None else round(current * scale, 4),
    key=f"tgt_value_{key}",
)
source = st.text_input("Source", value="set by user", key=f"tgt_source_{key}")
st.caption(f"Default: {format_value(row['default'], row['unit'])} — {row['default_source']}")
save, reset = st.columns(2)
if save.button("Save target", type="primary", key="tgt_save"):
    if value is None:
        st.error(f"Enter a target for {_name(row)} before saving.")
    else:
        try:
            set_target(
                get_store(),
                row["kpi"],
                value / scale,
                source or "set by user",
                band=row["band"],
                scope=scope,
            )
        except ValueError as exc:
            st.error(f"Not saved: {exc}")
        else:
            st.session_state["targets_flash"] = f"Saved: {_name(row)} target {value:g}."
            st.rerun()
if reset.button("Reset to default", key="tgt_reset", disabled=not row["overridden"]):
    reset_target(get_store(), row["kpi"], band=row["band"], scope=scope)
    st.session_state.pop(f"tgt_value_{key}", None)
    st.session_state["targets_flash"] = f"Reset: {_name(row)} uses its default again."
    st.rerun()
