"""Hostile files: refused from their first bytes, in seconds, in bounded memory, nothing written."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest
from conftest import start_page
from data_page import ingest_on_page

from metrics.ingest import IngestError, ingest_file, preview_file
from metrics.ingest.readers import Limits
from metrics.ingest.report import MAX_STORED_REJECTS
from metrics.schema import INGEST_TABLES
from metrics.store import Store

ROOT = Path(__file__).resolve().parents[1]

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Kontakter" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def _sheet_xml(dimension: str | None, cells: list[tuple[str, str]]) -> str:
    """A worksheet with inline-string cells [(ref, text)], one row per cell's row number."""
    rows: dict[int, list[str]] = {}
    for ref, text in cells:
        number = int("".join(ch for ch in ref if ch.isdigit()))
        rows.setdefault(number, []).append(f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>')
    body = "".join(f'<row r="{n}">{"".join(c)}</row>' for n, c in sorted(rows.items()))
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{dim}<sheetData>{body}</sheetData></worksheet>"
    )


def _xlsx(sheet_xml: str | None = None, *, sheet_writer=None) -> bytes:
    """A minimal workbook built by hand with zipfile (no spreadsheet library involved)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        if sheet_writer is not None:
            with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
                sheet_writer(part)
        else:
            zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return buf.getvalue()


CONTACT_CELLS = [
    ("A1", "contact_id"),
    ("B1", "channel"),
    ("C1", "opened_at"),
    ("A2", "K1"),
    ("B2", "phone"),
    ("C2", "2026-03-05 14:02"),
]


def _bomb_writer(unpacked: int):
    """Writes a sheet whose tail is `unpacked` bytes of spaces: deflate shrinks it ~1000x."""

    def write(part) -> None:
        part.write(_sheet_xml("A1:C2", CONTACT_CELLS).replace("</worksheet>", "").encode())
        block = b" " * (1 << 20)
        for _ in range(unpacked >> 20):
            part.write(block)
        part.write(b"</worksheet>")

    return write


def snapshot(store: Store) -> tuple:
    cur = store.cursor()
    tables = [*INGEST_TABLES, "ingest_batches", "rejected_rows"]
    counts = tuple(cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables)
    return counts, store.data_version()


def _refused(store: Store, data: bytes, name: str, **kwargs) -> str:
    """The one-line message of both preview and ingest; the store is checked unchanged."""
    before = snapshot(store)
    t0 = time.perf_counter()
    with pytest.raises(IngestError) as preview_err:
        preview_file(data, file_name=name, table="contacts", **kwargs)
    with pytest.raises(IngestError) as ingest_err:
        ingest_file(store, data, file_name=name, table="contacts", **kwargs)
    assert time.perf_counter() - t0 < 10
    assert str(preview_err.value) == str(ingest_err.value)
    assert "\n" not in str(ingest_err.value)
    assert snapshot(store) == before
    return str(ingest_err.value)


# -- XLSX -----------------------------------------------------------------------------------
def test_xlsx_declaring_cell_xfd1048576_is_refused_by_its_dimension(store):
    data = _xlsx(_sheet_xml("A1:XFD1048576", CONTACT_CELLS))
    assert len(data) < 2_000
    assert _refused(store, data, "evil.xlsx") == (
        "evil.xlsx: sheet 'Kontakter' spans 16,384 columns (to cell XFD1048576), over the "
        "limit of 1,000; expected at most 1,000 columns"
    )


def test_xlsx_with_a_far_cell_and_no_dimension_is_refused_by_the_scan(store):
    # No <dimension>: the reader sizes the sheet by the furthest cell actually used. This
    # 1.6 KB file made the code before these checks abort (SIGABRT under a 6 GB ulimit,
    # asking for 16,384 x 1,048,576 cells): the file that killed the Streamlit server.
    data = _xlsx(_sheet_xml(None, [*CONTACT_CELLS, ("XFD1048576", "x")]))
    assert len(data) < 2_000
    assert _refused(store, data, "far.xlsx") == (
        "far.xlsx: sheet 'Kontakter' spans 16,384 columns (to cell XFD1048576), over the "
        "limit of 1,000; expected at most 1,000 columns"
    )


def test_xlsx_too_many_cells_within_the_column_limit_is_refused(store):
    # 1,000 columns x 1,048,576 rows passes each of those limits, not the cells limit.
    data = _xlsx(_sheet_xml("A1:ALL1048576", CONTACT_CELLS))
    assert _refused(store, data, "wide.xlsx") == (
        "wide.xlsx: sheet 'Kontakter' spans 1,048,576 rows x 1,000 columns = 1,048,576,000 "
        "cells (to cell ALL1048576), over the limit of 25,000,000 cells; expected a smaller "
        "sheet (save it as CSV, or delete the empty rows and columns)"
    )


def test_xlsx_zip_bomb_is_refused_from_its_directory(store):
    # 600 MB of spaces in a sheet that zips to well under 1 MB.
    data = _xlsx(sheet_writer=_bomb_writer(600 << 20))
    assert len(data) < 2 << 20
    assert _refused(store, data, "bomb.xlsx") == (
        "bomb.xlsx: the workbook unpacks to 600.0 MB, over the limit of 512.0 MB; expected a "
        "smaller workbook (save the sheet as CSV, or split it)"
    )


def _lie_about_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size of `member` in its local and central headers."""
    out = bytearray(data)
    name = member.encode()
    local = out.find(b"PK\x03\x04" + bytes(22)[:0])
    while local >= 0:
        n = struct.unpack_from("<H", out, local + 26)[0]
        if out[local + 30 : local + 30 + n] == name:
            struct.pack_into("<I", out, local + 22, size)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        n = struct.unpack_from("<H", out, central + 28)[0]
        if out[central + 46 : central + 46 + n] == name:
            struct.pack_into("<I", out, central + 24, size)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


def test_xlsx_bomb_that_lies_about_its_size_is_refused_when_unpacked(store):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, text in (
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", ROOT_RELS),
            ("xl/workbook.xml", WORKBOOK),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
        ):
            zf.writestr(part, text)
        zf.writestr(
            "xl/worksheets/sheet1.xml", _sheet_xml("A1:C2", CONTACT_CELLS) + " " * (50 << 20)
        )
    data = _lie_about_size(buf.getvalue(), "xl/worksheets/sheet1.xml", 4096)
    message = _refused(store, data, "liar.xlsx")
    assert message.startswith("liar.xlsx: the workbook is damaged (xl/worksheets/sheet1.xml: ")
    assert message.endswith("expected an .xlsx saved by a spreadsheet program")


def test_xlsx_within_limits_still_loads(store):
    report = ingest_file(
        store, _xlsx(_sheet_xml("A1:C2", CONTACT_CELLS)), file_name="ok.xlsx", table="contacts"
    )
    assert (report.format, report.inserted, report.rejected) == ("xlsx", 1, 0)


HOSTILE_CHILD = textwrap.dedent(
    """
    import resource, sys, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from metrics.ingest import IngestError, ingest_file
    from metrics.store import open_store
    data = Path(sys.argv[2]).read_bytes()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open_store(Path(sys.argv[3])) as store:
        t0 = time.perf_counter()
        try:
            ingest_file(store, data, file_name="evil.xlsx", table="contacts")
        except IngestError as exc:
            print("refused", time.perf_counter() - t0,
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base, exc)
    """
)


@pytest.mark.parametrize("kind", ["far_cell", "dimension", "bomb"])
def test_hostile_xlsx_in_a_fresh_process_refused_fast_in_bounded_memory(tmp_path, kind):
    """A separate process, so a regression kills the child and fails here, not the runner."""
    data = {
        "far_cell": lambda: _xlsx(_sheet_xml(None, [*CONTACT_CELLS, ("XFD1048576", "x")])),
        "dimension": lambda: _xlsx(_sheet_xml("A1:XFD1048576", CONTACT_CELLS)),
        "bomb": lambda: _xlsx(sheet_writer=_bomb_writer(600 << 20)),
    }[kind]()
    path = tmp_path / "evil.xlsx"
    path.write_bytes(data)
    out = subprocess.run(
        [sys.executable, "-c", HOSTILE_CHILD, str(ROOT), str(path), str(tmp_path / "c.duckdb")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    word, seconds, grown_kb, *_ = out.stdout.split(" ", 3)
    assert word == "refused"
    assert float(seconds) < 10
    # Peak RSS grows by less than 64 MB over the process after imports and store open.
    assert int(grown_kb) < 64 * 1024, grown_kb


def test_data_page_shows_the_refusal_and_keeps_serving(sample_store, monkeypatch):
    at = start_page(
        ROOT / "dashboard" / "views" / "data.py", sample_store.path, monkeypatch, errors_ok=True
    )
    data = _xlsx(_sheet_xml(None, [*CONTACT_CELLS, ("XFD1048576", "x")]))
    at.file_uploader[0].upload("evil.xlsx", data, "application/octet-stream").run()
    assert not at.exception
    assert at.error[0].value == "The file cannot be loaded. Nothing was written."
    assert at.code[0].value == (
        "evil.xlsx: sheet 'Kontakter' spans 16,384 columns (to cell XFD1048576), over the "
        "limit of 1,000; expected at most 1,000 columns"
    )
    # The page still renders the history below for the next action.
    assert at.subheader[-1].value == "Ingest history"


# -- text and Parquet -----------------------------------------------------------------------
def test_csv_header_over_the_column_limit_is_refused(store):
    header = ",".join(["contact_id", "channel", "opened_at"] + [f"x{i}" for i in range(1_200)])
    data = (header + "\nK1,phone,2026-03-05 14:02" + "," * 1_200 + "\n").encode()
    assert _refused(store, data, "wide.csv") == (
        "wide.csv: the header has 1,203 columns, over the limit of 1,000; expected at most "
        "1,000 columns"
    )


def test_csv_field_over_the_size_limit_names_row_and_column(store):
    body = "contact_id,channel,opened_at,Note\n" + "".join(
        f"K{i},phone,2026-03-05 14:02,{'x' * (2 << 20) if i == 3 else 'ok'}\n" for i in range(5)
    )
    assert _refused(store, body.encode(), "long.csv") == (
        "long.csv: row 4, column 'Note': a value of 2.0 MB is over the field limit of 1.0 MB; "
        "expected shorter values (a quote left open makes the rest of the file one value)"
    )


def test_csv_over_the_row_limit_is_refused(store):
    body = "contact_id,channel,opened_at\n" + "".join(
        f"K{i},phone,2026-03-05 14:02\n" for i in range(150)
    )
    assert _refused(store, body.encode(), "many.csv", limits=Limits(max_rows=100)) == (
        "many.csv: more than 100 data rows, over the row limit; expected at most 100 rows "
        "(split the file)"
    )


def test_csv_with_a_quote_left_open_is_one_line_not_a_hang(store, monkeypatch):
    import metrics.ingest.readers as readers

    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 1 << 20)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 64 << 10)
    body = 'contact_id,channel,opened_at,Note\nK1,phone,2026-03-05 14:02,"open\n' + (
        "K2,chat,2026-03-05 14:02,more\n" * 60_000
    )
    assert _refused(store, body.encode(), "open.csv") == (
        "open.csv: a row is longer than 1.0 MB; expected rows of ordinary length (a quote "
        "left open makes the rest of the file one value)"
    )


def test_parquet_over_column_and_row_limits_is_refused_from_metadata(store):
    frame = pl.DataFrame(
        {"contact_id": ["K1", "K2"], "channel": ["phone", "chat"], "opened_at": ["2026-03-05"] * 2}
    )
    buf = io.BytesIO()
    frame.write_parquet(buf)
    assert _refused(store, buf.getvalue(), "p.parquet", limits=Limits(max_columns=2)) == (
        "p.parquet: the file has 3 columns, over the limit of 2; expected at most 2 columns"
    )
    assert _refused(store, buf.getvalue(), "p.parquet", limits=Limits(max_rows=1)) == (
        "p.parquet: the file has 2 rows, over the limit of 1; expected at most 1 rows (split "
        "the file)"
    )


# -- rejected rows are capped ---------------------------------------------------------------
def test_rejected_rows_stored_are_capped_with_counts_per_reason(store):
    n_bad, n_good = 25_000, 500
    lines = ["contact_id,channel,opened_at,wait_s"]
    for i in range(n_bad + n_good):
        if i < n_good:
            lines.append(f"G{i},phone,2026-03-05 14:02,10")
        elif i % 2:
            lines.append(f"B{i},Fax,2026-03-05 14:02,10")
        else:
            lines.append(f"B{i},chat,2026-03-05 14:02,-5")
    report = ingest_file(
        store,
        "\n".join(lines).encode(),
        file_name="bad.csv",
        table="contacts",
        max_reject_share=1.0,
    )
    assert (report.inserted, report.rejected, report.rejected_stored) == (
        n_good,
        n_bad,
        MAX_STORED_REJECTS,
    )
    fax = "channel '…' is not known; expected one of"
    wait = "wait_s '…' is not a number of seconds ≥ 0 (or h:mm:ss)"
    by_kind = {
        k.split(";")[0] if k.startswith("channel") else k: v
        for k, v in report.reason_counts.items()
    }
    assert sum(v for k, v in report.reason_counts.items() if k.startswith(fax)) == n_bad // 2
    assert sum(v for k, v in report.reason_counts.items() if k.startswith(wait)) == n_bad // 2
    assert len(by_kind) == 2
    cur = store.cursor()
    stored = cur.execute(
        "SELECT min(row_number), max(row_number), count(*) FROM rejected_rows WHERE batch_id = ?",
        [report.batch_id],
    ).fetchall()[0]
    # The first 10,000 rejected rows by row number: data rows 501 .. 10,500.
    assert stored == (n_good + 1, n_good + MAX_STORED_REJECTS, MAX_STORED_REJECTS)
    saved = json.loads(
        cur.execute(
            "SELECT CAST(report AS VARCHAR) FROM ingest_batches WHERE batch_id = ?",
            [report.batch_id],
        ).fetchall()[0][0]
    )
    assert saved["reason_counts"] == report.reason_counts
    assert saved["rejected"] == n_bad and saved["rejected_stored"] == MAX_STORED_REJECTS
    text = report.to_text()
    assert (
        "the first 10,000 rejected rows are stored with their values; the other 15,000 are only counted"
        in text
    )
    assert "12,500" in text


def test_data_page_after_a_batch_of_many_bad_rows_shows_counts_and_first_rows(
    sample_store, monkeypatch
):
    lines = ["contact_id,channel,opened_at"] + [
        f"X{i},{'Fax' if i else 'phone'},2026-03-05 14:02" for i in range(12_001)
    ]
    at = start_page(
        ROOT / "dashboard" / "views" / "data.py", sample_store.path, monkeypatch, errors_ok=True
    )
    at.file_uploader[0].upload("bad.csv", "\n".join(lines).encode(), "text/csv").run()
    ingest_on_page(at)
    assert not at.exception and not at.error
    message = at.warning[-1].value
    assert "read 12,001 rows: 1 inserted, 0 updated, 0 unchanged, 12,000 rejected" in message
    message = at.code[-1].value  # the details quote the file: plain text, not Markdown
    assert "- 12,000 × channel '…' is not known; expected one of" in message
    assert "the first 10,000 rejected rows are kept below; all are counted above" in message
    shown = at.dataframe[-1].value  # the rejected rows of the newest batch
    assert len(shown) == MAX_STORED_REJECTS and shown["row_number"].iloc[-1] == 10_001


def test_csv_of_empty_lines_under_a_wide_header_is_refused_before_parsing(store):
    # 8 MB of newlines under 1,000 columns: parsed, every line would be 1,000 cells.
    header = ",".join(["contact_id", "channel", "opened_at"] + [f"x{i}" for i in range(997)])
    data = (header + "\nK1,phone,2026-03-05 14:02" + "," * 997 + "\n").encode() + b"\n" * (8 << 20)
    message = _refused(store, data, "empty_lines.csv")
    assert message.startswith("empty_lines.csv: from data row 1 on, ")
    assert message.endswith(
        "for 1,000 columns (blank or short lines); expected rows with a field per column"
    )
