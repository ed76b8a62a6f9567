"""Every shown table downloadable as CSV and XLSX (two st.download_button side by side)."""

from __future__ import annotations

import io
import re

import polars as pl
import streamlit as st

from dashboard.i18n import t


def to_csv_bytes(df: pl.DataFrame) -> bytes:
    """UTF-8 with BOM so Excel opens å ä ö correctly."""
    return b"\xef\xbb\xbf" + _flat(df).write_csv().encode("utf-8")


def to_xlsx_bytes(df: pl.DataFrame, sheet: str = "data") -> bytes:
    buf = io.BytesIO()
    _flat(df).write_excel(buf, worksheet=sheet[:31] or "data", autofit=True)
    return buf.getvalue()


def _flat(df: pl.DataFrame) -> pl.DataFrame:
    # CSV and Excel hold no nested values: lists and structs become JSON text.
    nested = [c for c, t in df.schema.items() if isinstance(t, pl.List | pl.Struct | pl.Array)]
    if not nested:
        return df
    return df.with_columns(
        pl.col(c).map_elements(lambda v: str(v), return_dtype=pl.String) for c in nested
    )


def download_buttons(df: pl.DataFrame, name: str, *, key: str | None = None) -> None:
    """CSV and XLSX buttons for `df`; `name` becomes the file name (slugged)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "table"
    key = key or slug
    left, right = st.columns(2)
    left.download_button(
        t("common.download_csv"),
        to_csv_bytes(df),
        file_name=f"{slug}.csv",
        mime="text/csv",
        key=f"dl_csv_{key}",
        icon=":material/download:",
    )
    right.download_button(
        t("common.download_xlsx"),
        to_xlsx_bytes(df, slug),
        file_name=f"{slug}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"dl_xlsx_{key}",
        icon=":material/download:",
    )
