"""CSV/XLSX injection and Markdown from files: downloads and `--format csv` stay data, pages text."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import polars as pl
import pytest
from conftest import start_page
from data_page import ingest_on_page

from dashboard.cli.main import main as cx
from dashboard.csv_export import csv_text, neutralise_text, to_csv_bytes, to_xlsx_bytes
from metrics.ingest import ingest_file, rejected_rows
from metrics.store import open_store

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "dashboard" / "views" / "data.py"

FORMULA = '=HYPERLINK("http://x","y")'
IMAGE = "![x](http://evil/img)"
LINK = "[link](http://x)"


def _hostile_csv() -> bytes:
    """Formula, image and link in header names and in values (written by the csv module)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["contact_id", "channel", "opened_at", "team", FORMULA, IMAGE, LINK])
    w.writerow(["H1", "phone", "2026-03-05 10:00", FORMULA, FORMULA, IMAGE, LINK])
    w.writerow(["H2", FORMULA, "2026-03-05 11:00", "north", "a", "b", "c"])
    w.writerow(["H3", IMAGE, "2026-03-05 12:00", "north", "a", "b", "c"])
    w.writerow(["H4", LINK, "2026-03-05 13:00", "north", "a", "b", "c"])
    return buf.getvalue().encode()


def _cells(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_neutralise_prefixes_formula_cells_and_keeps_numbers():
    frame = pl.DataFrame(
        {
            "text": [FORMULA, "@SUM(A1)", "+cmd", "-3.5abc", "\tx", "\r=1", "-3.5", "+46", "ok"],
            "delta": [-3.5, 1.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    rows = _cells(to_csv_bytes(frame))
    assert rows[0] == ["text", "delta"]
    got = [r[0] for r in rows[1:]]
    # Each of = + - @ tab CR starts a formula; a text cell that is just a number cannot.
    assert got == [
        "'" + FORMULA,
        "'@SUM(A1)",
        "'+cmd",
        "'-3.5abc",
        "'\tx",
        "'\r=1",
        "-3.5",
        "+46",
        "ok",
    ]
    assert rows[1][1] == "-3.5" and rows[3][1] == "-2.0"  # the numeric column is untouched


def test_neutralise_headers_and_nulls():
    frame = pl.DataFrame({FORMULA: ["a", None], "n": [1, None]})
    rows = _cells(to_csv_bytes(frame))
    assert rows[0] == ["'" + FORMULA, "n"] and rows[2] == ["", ""]
    assert neutralise_text(pl.Series([None, "=1"], dtype=pl.String)).to_list() == [None, "'=1"]


def test_xlsx_writes_strings_as_strings_never_formulas_or_links():
    frame = pl.DataFrame({"v": [FORMULA, "http://x", "-3.5abc"], "n": [-3.5, 1.0, 2.0]})
    with zipfile.ZipFile(io.BytesIO(to_xlsx_bytes(frame))) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        shared = z.read("xl/sharedStrings.xml").decode()
        rels = [z.read(n).decode() for n in z.namelist() if n.endswith("sheet1.xml.rels")]
    assert "<f>" not in sheet and "<hyperlink" not in sheet
    assert not [r for r in rels if "hyperlink" in r]
    # The exact text, without a visible quote: an XLSX string cell is already inert.
    assert f"<t>{FORMULA}</t>" in shared and "<t>http://x</t>" in shared
    assert "<v>-3.5</v>" in sheet  # the number is a number


def test_rejected_rows_download_is_neutralised(store):
    report = ingest_file(
        store, _hostile_csv(), table="contacts", file_name="hostile.csv", max_reject_share=1.0
    )
    assert (report.inserted, report.rejected) == (1, 3)
    frame = rejected_rows(store, report.batch_id)
    # Reasons quote the channel values; the raw JSON holds them too; neither starts a formula.
    rows = _cells(to_csv_bytes(frame.with_columns(pl.col("raw").alias("raw"))))
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for c in r)
    team = store.cursor().sql("SELECT team, -3.5 AS delta FROM contacts").pl()
    rows = _cells(to_csv_bytes(team))
    assert rows[1] == ["'" + FORMULA, "-3.5"]


def test_cx_kpis_format_csv_neutralises_a_team_named_like_a_formula(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    with open_store(db) as s:
        ingest_file(
            s, _hostile_csv(), table="contacts", file_name="hostile.csv", max_reject_share=1.0
        )
    assert cx(["kpis", "--db", str(db), "--by", "team", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    rows = list(csv.reader(io.StringIO(out)))
    team_col = rows[0].index("team")
    teams = {r[team_col] for r in rows[1:]}
    assert "'" + FORMULA in teams and FORMULA not in teams
    # Every cell that starts like a formula is quoted, and numbers stay numbers.
    for r in rows[1:]:
        for c in r:
            assert not c.startswith(("=", "+", "@", "\t", "\r"))
            if c.startswith("-"):
                float(c)
    assert csv_text(pl.DataFrame({"x": [-1.5]})) == "x\n-1.5\n"


MARKDOWN_ELEMENTS = (
    "markdown",
    "caption",
    "error",
    "warning",
    "success",
    "info",
    "title",
    "subheader",
)
LINKISH = re.compile(r"\]\(|!\[|HYPERLINK|http://")


def _markdown_values(at) -> list[str]:
    return [e.value for kind in MARKDOWN_ELEMENTS for e in getattr(at, kind)]


@pytest.fixture
def app(sample_store, monkeypatch):
    return start_page(PAGE, sample_store.path, monkeypatch, errors_ok=True)


def test_data_page_shows_file_text_as_text_never_markdown(app, sample_store):
    app.file_uploader[0].upload("hostile.csv", _hostile_csv(), "text/csv").run()
    assert not app.exception
    # Header names reach the page only inside the mapping table (plain cells).
    mapping = dict(app.dataframe[0].value.itertuples(index=False, name=None))
    assert mapping[IMAGE] == "extras" and mapping[LINK] == "extras"
    assert [t for h, t in mapping.items() if h.startswith("=HYPERLINK(")] == ["extras"]
    ingest_on_page(app)
    assert not app.exception
    values = _markdown_values(app)
    assert values and not [v for v in values if LINKISH.search(v)], values
    # The report's details, which quote the file's values, are a code (plain text) element.
    details = "\n".join(c.value for c in app.code)
    assert "hostile.csv -> contacts" in details
    assert 'channel \'=HYPERLINK("http://x","y")\' is not known' in details
    assert f"channel '{IMAGE}' is not known" in details
    assert "inserted" in app.warning[-1].value and "hostile" not in app.warning[-1].value


def test_data_page_error_from_a_hostile_file_name_is_text(app):
    app.file_uploader[0].upload(f"{LINK}.csv", b"", "text/csv").run()
    assert not app.exception
    assert app.error[0].value == "The file cannot be loaded. Nothing was written."
    assert app.code[0].value.startswith(f"{LINK}.csv:")
    assert not [v for v in _markdown_values(app) if LINKISH.search(v)]


def test_md_escape_makes_links_and_images_literal():
    from dashboard.safe_text import md_escape

    escaped = md_escape(f"{IMAGE} {LINK} www.evil.se :red[x]")
    assert not LINKISH.search(escaped) and "www.evil" not in escaped and ":red[" not in escaped
    # Removing the escapes gives back exactly the text.
    assert re.sub(r"\\(.)", r"\1", escaped) == f"{IMAGE} {LINK} www.evil.se :red[x]"
