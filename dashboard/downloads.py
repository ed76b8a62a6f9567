"""Every shown table downloadable as CSV and XLSX (two st.download_button side by side).

The bytes come from dashboard/csv_export.py: formula-looking cells neutralised. They are
made when a button is clicked (Streamlit calls `data` then), not on every page run: the
Overview's XLSX alone cost ~0.17 s of each visit.
"""

from __future__ import annotations

import re
from functools import partial

import polars as pl
import streamlit as st

from dashboard.csv_export import to_csv_bytes, to_xlsx_bytes
from dashboard.i18n import t

__all__ = ["download_buttons", "to_csv_bytes", "to_xlsx_bytes"]


def download_buttons(df: pl.DataFrame, name: str, *, key: str | None = None) -> None:
    """CSV and XLSX buttons for `df`; `name` becomes the file name (slugged)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "table"
    key = key or slug
    left, right = st.columns(2)
    left.download_button(
        t("common.download_csv"),
        partial(to_csv_bytes, df),
        file_name=f"{slug}.csv",
        mime="text/csv",
        key=f"dl_csv_{key}",
        icon=":material/download:",
    )
    right.download_button(
        t("common.download_xlsx"),
        partial(to_xlsx_bytes, df, slug),
        file_name=f"{slug}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"dl_xlsx_{key}",
        icon=":material/download:",
    )
