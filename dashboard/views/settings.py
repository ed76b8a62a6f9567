"""Settings: what a manager can change (KPI meaning, time zone, money, language, minimum n)."""

from __future__ import annotations

import streamlit as st

from dashboard.store_access import cached, get_store
from metrics.settings import (
    CES_READINGS,
    LANGUAGES,
    SETTINGS,
    SettingError,
    settings_frame_rows,
    write_settings,
)

CHOICES = {"kpi.ces_reading": CES_READINGS, "ui.language": LANGUAGES}
LABELS = {
    "kpi.ces_reading": "CES reading",
    "kpi.fcr_window_days": "FCR window (days)",
    "kpi.sl_phone_s": "Service level: phone threshold (s)",
    "kpi.sl_chat_s": "Service level: chat threshold (s)",
    "kpi.min_n": "Minimum sample (n)",
    "clv.margin": "Gross margin for CLV (0-1)",
    "ui.currency": "Currency (ISO code)",
    "business.time_zone": "Business time zone",
    "ui.language": "Language",
}

st.title("Settings")
st.caption("Changes apply to every page and to `cx`; nothing is saved while a value is wrong.")
if flash := st.session_state.pop("settings_flash", None):
    st.success(flash)

rows = {r["key"]: r for r in cached(settings_frame_rows)}
entered: dict[str, object] = {}
with st.form("settings_form"):
    for key in SETTINGS:
        row, label = rows[key], LABELS.get(key, key)
        if key in CHOICES:
            options = CHOICES[key]
            entered[key] = st.selectbox(
                label, options, index=options.index(row["value"]), help=row["help"], key=key
            )
        elif isinstance(row["default"], int | float):
            entered[key] = st.text_input(
                label, value=f"{row['value']:g}", help=row["help"], key=key
            )
        else:
            entered[key] = st.text_input(label, value=str(row["value"]), help=row["help"], key=key)
    saved = st.form_submit_button("Save settings", type="primary")

if saved:
    changed = {k: v for k, v in entered.items() if str(v) != str(rows[k]["value"])}
    changed = {
        k: v
        for k, v in changed.items()
        if not isinstance(rows[k]["value"], int | float) or str(v) != f"{rows[k]['value']:g}"
    }
    try:
        write_settings(get_store(), changed)
    except SettingError as exc:
        st.error(f"Not saved: {exc}")
    else:
        st.session_state["settings_flash"] = (
            "Saved: " + ", ".join(f"{LABELS.get(k, k)} = {v}" for k, v in changed.items())
            if changed
            else "Nothing changed."
        )
        st.cache_data.clear()
        st.rerun()
