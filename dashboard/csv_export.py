"""CSV and XLSX bytes a spreadsheet opens as data: no cell from a file runs as a formula."""

from __future__ import annotations

import io

import polars as pl

# OWASP "CSV injection": a cell starting with one of these is a formula (or becomes one) in
# Excel, LibreOffice and Google Sheets. Such a text cell gets a leading single quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A text cell that is just a number ("-3.5", "+46") cannot run anything and is left as it
# is; "-3.5abc" or "-1+cmd|' /C calc'!A0" are not numbers and are quoted.
PLAIN_NUMBER = r"^[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?$"


def neutralise_text(values: pl.Series) -> pl.Series:
    """Text cells that a spreadsheet would read as a formula, prefixed with a single quote."""
    s = values.cast(pl.String)
    risky = s.str.contains(r"^[=+\-@\t\r]") & ~s.str.contains(PLAIN_NUMBER)
    if not risky.fill_null(False).any():
        return s
    return (
        pl.select(pl.when(pl.lit(risky)).then(pl.lit("'") + pl.lit(s)).otherwise(pl.lit(s)))
        .to_series()
        .alias(values.name)
    )


def neutralise_name(name: str) -> str:
    """A header by the same rule as a cell."""
    return neutralise_text(pl.Series([name]))[0]


def flat_frame(df: pl.DataFrame) -> pl.DataFrame:
    """CSV and Excel hold no nested values: lists and structs become text."""
    nested = [c for c, t in df.schema.items() if isinstance(t, pl.List | pl.Struct | pl.Array)]
    if not nested:
        return df
    return df.with_columns(
        pl.col(c).map_elements(lambda v: str(v), return_dtype=pl.String) for c in nested
    )


def safe_frame(df: pl.DataFrame) -> pl.DataFrame:
    """The flat frame with every text cell and header neutralised.

    Numeric, date and boolean columns are untouched, so -3.5 stays the number -3.5.
    """
    df = flat_frame(df)
    text = [
        c for c, t in df.schema.items() if t == pl.String or isinstance(t, pl.Categorical | pl.Enum)
    ]
    if text:
        df = df.with_columns(neutralise_text(df[c]) for c in text)
    renamed = {c: neutralise_name(c) for c in df.columns}
    return df.rename({k: v for k, v in renamed.items() if k != v})


def csv_text(df: pl.DataFrame) -> str:
    """The frame as CSV text with formula-looking cells neutralised (for `--format csv`)."""
    return safe_frame(df).write_csv()


def to_csv_bytes(df: pl.DataFrame) -> bytes:
    """UTF-8 with BOM so Excel opens å ä ö correctly; formula-looking cells neutralised."""
    return b"\xef\xbb\xbf" + csv_text(df).encode("utf-8")


def to_xlsx_bytes(df: pl.DataFrame, sheet: str = "data") -> bytes:
    """XLSX where every text cell is a string: never a formula, a link or a number.

    No quote prefix here: a string cell in XLSX is already inert, and a visible ' would
    change the value.
    """
    from xlsxwriter import Workbook

    buf = io.BytesIO()
    workbook = Workbook(
        buf,
        {
            "strings_to_formulas": False,
            "strings_to_urls": False,  # "http://x" in a cell must not become a hyperlink
            "strings_to_numbers": False,
            "nan_inf_to_errors": True,
            "in_memory": True,  # no temporary files per sheet (~0.15 s per table)
        },
    )
    try:
        flat_frame(df).write_excel(workbook, worksheet=sheet[:31] or "data", autofit=True)
    finally:
        workbook.close()
    return buf.getvalue()
