"""Data page: upload an export, map it (the mapping editor), preview, load it, review history.

The sections live in dashboard/data_sections.py and dashboard/data_mapping.py.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.data_sections import show_history, show_upload
from dashboard.i18n import t
from metrics.ingest import PRESETS
from metrics.ingest.pii import key_location
from metrics.schema import INGEST_TABLES

EXPORTS = Path(__file__).resolve().parents[2] / "sample_data" / "exports"
AUTO = "auto"
TYPES = ["csv", "tsv", "txt", "xlsx", "parquet"]

st.title(t("data.title"))
st.caption(t("data.caption"))

with st.expander(t("data.examples")):
    st.caption(t("data.examples_caption"))
    for path in sorted(p for p in EXPORTS.glob("*") if p.suffix.lstrip(".") in TYPES):
        st.download_button(
            path.name,
            path.read_bytes(),
            file_name=path.name,
            key=f"example_{path.name}",
            icon=":material/download:",
        )

upload = st.file_uploader(t("data.file"), type=TYPES)
left, mid, right = st.columns(3)
preset = mid.selectbox(
    t("data.preset"),
    (AUTO, *PRESETS),
    key="data_preset",
    format_func=lambda p: t("data.auto") if p == AUTO else f"{p}: {PRESETS[p].description}",
    help=t("data.preset_help"),
)
preset = None if preset == AUTO else preset
tables = tuple(INGEST_TABLES)
default = PRESETS[preset].table if preset and PRESETS[preset].table else "contacts"
table = left.selectbox(
    t("data.table"),
    tables,
    index=tables.index(default),
    key=f"data_table_{preset}",
    format_func=lambda x: t(f"data.tables.{x}"),
)
sheet = right.text_input(t("data.sheet"), placeholder=t("data.first_sheet"))

st.text(t("data.pii_note", key=key_location()))

if upload is not None:
    # A refused file ends this section only: the history below stays on the page.
    show_upload(upload, dict(table=table, preset=preset, sheet=sheet or None))

show_history()
