"""Settings: what a manager can change (KPI meaning, time zone, money, language, minimum n)."""

from __future__ import annotations

import streamlit as st

from dashboard.i18n import t, t_or
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

st.title(t("settings.title"))
st.caption(t("settings.caption"))
if flash := st.session_state.pop("settings_flash", None):
    st.success(flash)

rows = {r["key"]: r for r in cached(settings_frame_rows)}
entered: dict[str, object] = {}
with st.form("settings_form"):
    for key in SETTINGS:
        row, label = rows[key], t_or(f"settings.label.{key}", LABELS.get(key, key))
        if key in CHOICES:
            options = CHOICES[key]
            entered[key] = st.selectbox(
                label,
                options,
                index=options.index(row["value"]),
                help=row["help"],
                key=key,
                format_func=lambda o: t_or(f"settings.choice.{o}", o),
            )
        elif isinstance(row["default"], int | float):
            entered[key] = st.text_input(
                label, value=f"{row['value']:g}", help=row["help"], key=key
            )
        else:
            entered[key] = st.text_input(label, value=str(row["value"]), help=row["help"], key=key)
    saved = st.form_submit_button(t("settings.save"), type="primary")

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
        st.error(t("settings.not_saved", error=exc))
    else:
        st.session_state["settings_flash"] = (
            t(
                "settings.saved",
                changes=", ".join(
                    f"{t_or(f'settings.label.{k}', LABELS.get(k, k))} = {v}"
                    for k, v in changed.items()
                ),
            )
            if changed
            else t("settings.nothing_changed")
        )
        st.cache_data.clear()
        st.rerun()
