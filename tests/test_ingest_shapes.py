"""Real export shapes, in small files made in their image: what each one stores."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from metrics.ingest import ingest_file, readers
from metrics.store import Store

SHAPES = Path(__file__).resolve().parent / "data" / "ingest" / "shapes"


def _rows(store: Store, sql: str) -> list[tuple]:
    return store.cursor().execute(sql).fetchall()


def _reasons(store: Store, batch_id: str) -> dict[int, str]:
    sql = "SELECT row_number, reason FROM rejected_rows WHERE batch_id = ? ORDER BY 1"
    return dict(store.cursor().execute(sql, [batch_id]).fetchall())


# -- item 1: dates ------------------------------------------------------------------------
def test_day_first_column_is_detected_from_a_first_part_over_12(store):
    report = ingest_file(store, SHAPES / "calls_dayfirst.csv", table="contacts")
    assert (report.inserted, report.rejected) == (3, 0)
    assert _rows(store, "SELECT contact_id, opened_at FROM contacts ORDER BY 1") == [
        ("C1", datetime(2010, 12, 1, 8, 0)),  # 1/12/2010 is 1 December, not 12 January
        ("C2", datetime(2010, 12, 25, 9, 30)),
        ("C3", datetime(2023, 3, 4, 10, 0)),  # 04/03/2023 is 4 March, not 3 April
    ]
    assert report.warnings == []


def test_month_first_column_is_detected_from_a_second_part_over_12(store):
    report = ingest_file(store, SHAPES / "contacts_monthfirst.csv", table="contacts")
    assert report.inserted == 2
    assert _rows(store, "SELECT opened_at FROM contacts ORDER BY contact_id") == [
        (datetime(2010, 1, 12, 8, 0),),
        (datetime(2010, 12, 25, 9, 30),),
    ]


def test_ambiguous_column_loads_month_first_with_a_warning_naming_it(store):
    report = ingest_file(store, SHAPES / "contacts_ambiguous.csv", table="contacts")
    assert report.inserted == 2
    assert _rows(store, "SELECT opened_at FROM contacts ORDER BY contact_id") == [
        (datetime(2010, 1, 12, 8, 0),),
        (datetime(2023, 4, 3, 10, 0),),
    ]
    assert any(w.startswith("opened_at: every slashed date") for w in report.warnings)


def test_ambiguous_column_follows_dayfirst_from_the_mapping(store):
    report = ingest_file(
        store, SHAPES / "contacts_ambiguous.csv", table="contacts", mapping={"dayfirst": True}
    )
    assert report.inserted == 2 and report.warnings == []
    assert _rows(store, "SELECT opened_at FROM contacts ORDER BY contact_id") == [
        (datetime(2010, 12, 1, 8, 0),),
        (datetime(2023, 3, 4, 10, 0),),
    ]


def test_format_from_the_mapping_is_the_only_one_tried(store):
    body = b"contact_id,channel,opened_at\nC1,phone,05-03-2026 14h02\nC2,phone,2026-03-05 14:02\n"
    report = ingest_file(
        store,
        body,
        file_name="fmt.csv",
        table="contacts",
        mapping={"formats": {"opened_at": "%d-%m-%Y %Hh%M"}},
        max_reject_share=1.0,
    )
    assert (report.inserted, report.rejected) == (1, 1)
    assert _rows(store, "SELECT opened_at FROM contacts") == [(datetime(2026, 3, 5, 14, 2),)]
    assert "does not match the format %d-%m-%Y %Hh%M" in _reasons(store, report.batch_id)[2]


def test_day_first_decided_on_the_first_chunk_holds_for_the_whole_file(store, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", 2048)  # ~60 rows a chunk: many chunks
    lines = ["contact_id,channel,opened_at", "C0,phone,25/12/2010 09:30"]
    lines += [f"C{i},phone,{1 + i % 12}/{1 + (7 * i) % 12}/2011 08:00" for i in range(1, 400)]
    lines.append("C400,phone,3/15/2011 08:00")  # month-first: contradicts the column
    report = ingest_file(store, "\n".join(lines).encode(), file_name="c.csv", table="contacts")
    assert (report.inserted, report.rejected) == (400, 1)
    got = dict(_rows(store, "SELECT contact_id, opened_at FROM contacts"))
    # Every later value is day/month, even in chunks where nothing shows it.
    for i in range(1, 400):
        assert got[f"C{i}"] == datetime(2011, 1 + (7 * i) % 12, 1 + i % 12, 8, 0)
    assert _reasons(store, report.batch_id)[401] == (
        "opened_at '3/15/2011 08:00' contradicts the column's date order: it is read as "
        "day/month/year ('25/12/2010 09:30' has a first part over 12); expected one order "
        "throughout the column"
    )


def test_late_value_contradicting_an_ambiguous_first_chunk_is_a_row_error(store, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", 2048)
    lines = ["contact_id,channel,opened_at"]
    lines += [f"C{i},phone,{1 + i % 12}/{1 + i % 12}/2011 08:00" for i in range(300)]
    lines.append("C300,phone,25/12/2011 08:00")  # day-first, but month-first was decided
    report = ingest_file(store, "\n".join(lines).encode(), file_name="c.csv", table="contacts")
    assert (report.inserted, report.rejected) == (300, 1)
    assert "contradicts the column's date order" in _reasons(store, report.batch_id)[301]
    assert any("opened_at: every slashed date" in w for w in report.warnings)


def test_yyyymmdd_and_excel_serial_dates(store):
    report = ingest_file(store, SHAPES / "invoices_compact_dates.csv", table="invoices")
    assert report.rejected == 0
    # 40179 days after 1899-12-30 is 2010-01-01 (datetime arithmetic, independent of polars)
    assert date(1899, 12, 30).toordinal() + 40179 == date(2010, 1, 1).toordinal()
    assert _rows(store, "SELECT invoice_id, issued_at FROM invoices ORDER BY 1") == [
        ("I1", date(2010, 1, 12)),
        ("I2", date(2010, 1, 1)),
        ("I3", date(2010, 1, 1)),
        ("I4", date(2010, 2, 3)),
    ]


# -- item 1: durations ------------------------------------------------------------------------
def test_excel_time_cells_and_clock_durations_load_and_nonsense_is_rejected(store):
    report = ingest_file(
        store, SHAPES / "call_durations.csv", table="contacts", max_reject_share=1.0
    )
    assert (report.inserted, report.rejected) == (3, 2)
    assert _rows(store, "SELECT contact_id, handle_s, wait_s FROM contacts ORDER BY 1") == [
        ("C1", 5 * 60 + 30.0, 45.0),  # 1899-12-31 00:05:30 is a 5 min 30 s cell
        ("C2", 3600 + 2 * 60 + 3.0, 12.0),
        ("C3", 86400 + 2 * 3600.0, 75 * 60 + 30.0),  # day 1 of an [h]:mm:ss cell: 26 h
    ]
    reasons = _reasons(store, report.batch_id)
    assert reasons[4].startswith("handle_s '1e300' is not a number of seconds")
    assert reasons[5].startswith("handle_s '1:99:99' is not a number of seconds")


def _xlsx(rows: list[list[str]]) -> bytes:
    """A minimal workbook of inline-string cells, built with zipfile alone."""
    ns = "http://schemas.openxmlformats.org/"
    cells = "".join(
        f'<row r="{r + 1}">'
        + "".join(
            f'<c r="{chr(65 + c)}{r + 1}" t="inlineStr"><is><t>{v}</t></is></c>'
            for c, v in enumerate(row)
        )
        + "</row>"
        for r, row in enumerate(rows)
    )
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="'
        + ns
        + 'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType='
        '"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="'
        + ns
        + 'package/2006/relationships"><Relationship Id="rId1" Type="'
        + ns
        + 'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": '<?xml version="1.0"?><workbook xmlns="'
        + ns
        + 'spreadsheetml/2006/main" xmlns:r="'
        + ns
        + 'officeDocument/2006/relationships"><sheets><sheet name="Calls" sheetId="1" '
        'r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="'
        + ns
        + 'package/2006/relationships"><Relationship Id="rId1" Type="'
        + ns
        + 'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>",
        "xl/worksheets/sheet1.xml": '<?xml version="1.0"?><worksheet xmlns="'
        + ns
        + f'spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>',
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return buf.getvalue()


def test_workbook_durations_as_fractions_of_a_day(store):
    data = _xlsx(
        [
            ["contact_id", "channel", "opened_at", "handle_s"],
            ["C1", "phone", "2026-03-05 14:02", str(330 / 86400)],
            ["C2", "phone", "2026-03-05 14:03", "0.5"],
        ]
    )
    report = ingest_file(store, data, file_name="calls.xlsx", table="contacts")
    assert report.inserted == 2
    got = _rows(store, "SELECT handle_s FROM contacts ORDER BY contact_id")
    assert got == [(pytest.approx(330.0),), (43200.0,)]
    assert "handle_s read as Excel durations (fractions of a day, 0.5 = 12 h)" in report.warnings


# -- item 3: Qualtrics header rows ------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "header_rows"),
    [
        ("qualtrics_3rows_double.csv", 3),
        ("qualtrics_3rows_single.csv", 3),
        ("qualtrics_2rows.csv", 2),
        ("qualtrics_1row.csv", 1),
        ("qualtrics_legacy.csv", 2),
    ],
)
def test_qualtrics_header_rows_detected_and_no_data_row_dropped(store, name, header_rows):
    path = SHAPES / name
    stream = readers.open_source(path)
    assert stream.header_rows == header_rows
    report = ingest_file(store, path, table="surveys", preset="qualtrics")
    assert (report.rows_read, report.inserted, report.rejected) == (3, 3, 0)
    year = 2015 if "legacy" in name else 2026
    assert _rows(store, "SELECT response_id, answered_at, nps FROM surveys ORDER BY 1") == [
        ("R_1", datetime(year, 3, 5, 18, 1), 9),
        ("R_2", datetime(year, 3, 5, 19, 1), 6),
        ("R_3", datetime(year, 3, 5, 20, 1), 10),
    ]


def test_single_quoted_import_id_row_gives_the_metadata():
    stream = readers.open_source(SHAPES / "qualtrics_3rows_single.csv")
    assert stream.import_meta["Q1"] == {"ImportId": "QID1"}
    assert stream.questions["Q1"] == "How likely are you to recommend us to a friend?"


def test_a_plain_file_whose_second_row_is_data_keeps_one_header_row():
    rows = [["StartDate", "ResponseId", "Status"], ["2026-03-05", "R_1", "0"], ["x", "y", "z"]]
    assert readers.survey_header_rows(rows) == 1
    assert readers.survey_header_rows([["contact_id", "channel"], ["Start", "x"]]) == 1


# -- item 3: call-centre names ------------------------------------------------------------------
def test_call_centre_workbook_names_map_without_a_preset(store):
    report = ingest_file(store, SHAPES / "call_centre.csv", table="contacts")
    assert (report.inserted, report.rejected) == (3, 0)
    assert _rows(
        store,
        "SELECT contact_id, channel, opened_at, wait_s, handle_s, abandoned FROM contacts "
        "ORDER BY 1",
    ) == [
        ("CL1", "phone", datetime(2021, 1, 1, 9, 12), 109.0, 2 * 60 + 23.0, False),
        ("CL2", "chat", datetime(2021, 1, 1, 9, 12), 70.0, 4 * 60 + 2.0, False),
        ("CL3", "phone", datetime(2021, 1, 1, 9, 47), 10.0, None, True),  # not answered
    ]
    assert report.warnings == [
        "abandoned read from 'Answered (Y/N)' with yes and no swapped (answered = not abandoned)"
    ]


def test_satisfaction_rating_is_csat(store):
    report = ingest_file(
        store,
        SHAPES / "call_centre_survey.csv",
        table="surveys",
        mapping={"columns": {"Survey ID": "response_id"}},
    )
    assert report.inserted == 2
    assert _rows(store, "SELECT response_id, csat FROM surveys ORDER BY 1") == [
        ("S1", 4),
        ("S2", 2),
    ]


def test_qualtrics_previews_tests_spam_and_unfinished_are_left_out_with_counts(store):
    report = ingest_file(
        store, SHAPES / "qualtrics_with_previews.csv", table="surveys", preset="qualtrics"
    )
    assert (report.rows_read, report.inserted, report.rejected) == (2, 2, 0)
    assert _rows(store, "SELECT response_id FROM surveys ORDER BY 1") == [("R_1",), ("R_2",)]
    assert "2 rows left out by [filter] on 'Status' (filtered, not rejected)" in report.warnings
    assert "1 row left out by [filter] on 'DistributionChannel' (filtered, not rejected)" in (
        report.warnings
    )
    assert "1 row left out by [filter] on 'Finished' (filtered, not rejected)" in report.warnings


# -- whitespace-aligned text and files without a header row --------------------------------
CDNOW_MAPPING = {
    "table": "invoices",
    "columns": {"column_1": "customer_id", "column_2": "issued_at", "column_4": "amount"},
    "ids": {"invoice_id": "row"},
}


def test_cdnow_aligned_file_without_header_loads_with_generated_ids(store):
    """cdnow_master.txt: fields aligned by runs of spaces, no header row, no invoice id."""
    path = SHAPES / "cdnow_master.txt"
    report = ingest_file(store, path, table="invoices", mapping=CDNOW_MAPPING)
    assert report.delimiter == " " and (report.inserted, report.rejected) == (7, 0)
    got = _rows(
        store,
        "SELECT customer_id, issued_at, amount, extras->>'column_3' FROM invoices "
        "ORDER BY customer_id, issued_at, invoice_id",
    )
    # Reference: the file split on whitespace by str.split, an independent reader.
    lines = [ln.split() for ln in path.read_text().splitlines()]
    want = sorted(
        (c, date(int(d[:4]), int(d[4:6]), int(d[6:])), float(a), n) for c, d, n, a in lines
    )
    assert sorted(got) == want
    # The two identical purchases of customer 00004 are two invoices with two ids; a re-load
    # finds every id again.
    assert len({r[0] for r in _rows(store, "SELECT invoice_id FROM invoices")}) == 7
    again = ingest_file(store, path, table="invoices", mapping=CDNOW_MAPPING)
    assert (again.inserted, again.unchanged) == (0, 7)


def test_aligned_file_with_spaced_names_splits_at_runs_of_two_spaces(store):
    report = ingest_file(store, SHAPES / "calls_aligned.txt", table="contacts")
    assert report.delimiter == "  " and (report.inserted, report.rejected) == (3, 0)
    assert _rows(
        store, "SELECT contact_id, opened_at, channel, wait_s FROM contacts ORDER BY 1"
    ) == [
        ("X1", datetime(2026, 3, 5, 14, 2), "phone", 45.0),
        ("X2", datetime(2026, 3, 5, 15, 10), "chat", 0.0),
        ("X3", datetime(2026, 3, 6, 8, 0), "phone", 120.0),
    ]


def test_header_of_space_separated_names_without_delimiter_says_so(store):
    from metrics.ingest import IngestError

    with pytest.raises(IngestError) as err:
        ingest_file(store, SHAPES / "calls_spaces_no_delimiter.txt", table="contacts")
    message = str(err.value)
    assert message.startswith("calls_spaces_no_delimiter.txt: the delimiter was not found: ")
    assert "'Call Id Opened at Channel Wait' looks like 6 names separated by spaces" in message
    assert "save the file as CSV" in message and "\n" not in message


def test_headerless_file_without_mapping_names_its_columns(store):
    from metrics.ingest import IngestError

    with pytest.raises(IngestError) as err:
        ingest_file(store, SHAPES / "cdnow_master.txt", table="invoices")
    assert "Columns found: 'column_1', 'column_2', 'column_3', 'column_4'" in str(err.value)
    assert "no header row" in str(err.value)


def test_unix_seconds_and_milliseconds_are_utc_whatever_the_zone(store):
    body = b"contact_id,channel,opened_at\nU1,chat,1772359200\nU2,chat,1772359200123\n"
    report = ingest_file(
        store, body, file_name="u.csv", table="contacts", timezone="Europe/Stockholm"
    )
    assert report.inserted == 2
    # datetime.fromtimestamp(1772359200, UTC) = 2026-03-01 10:00:00 (stored as naive UTC)
    assert _rows(store, "SELECT opened_at FROM contacts ORDER BY 1") == [
        (datetime(2026, 3, 1, 10, 0),),
        (datetime(2026, 3, 1, 10, 0, 0, 123000),),
    ]


def test_google_forms_responses_load_with_a_mapping_and_generated_ids(store):
    """A Google Forms sheet: a month-first 'Timestamp', questions as headers, a respondent's
    e-mail, no response id. The mapping names the three columns and makes ids."""
    mapping = {
        "columns": {
            "Timestamp": "answered_at",
            "How likely are you to recommend us to a friend or colleague?": "nps",
            "How satisfied are you with the help you got?": "csat",
        },
        "ids": {"response_id": "row"},
    }
    path = SHAPES / "google_forms_responses.csv"
    report = ingest_file(store, path, table="surveys", mapping=mapping)
    assert (report.inserted, report.rejected) == (3, 0)
    assert report.pii == {"Email Address": "hashed"}
    got = _rows(store, "SELECT answered_at, nps, csat FROM surveys ORDER BY answered_at")
    # '4/13/2023' makes the column month-first: 4/3/2023 is 3 April, not 4 March.
    assert got == [
        (datetime(2023, 4, 3, 10, 15, 22), 9, 5),
        (datetime(2023, 4, 3, 11, 2, 10), 6, 3),
        (datetime(2023, 4, 13, 9, 44, 51), 10, 5),
    ]
    ids = [r[0] for r in _rows(store, "SELECT response_id FROM surveys ORDER BY answered_at")]
    again = ingest_file(store, path, table="surveys", mapping=mapping)
    assert (again.inserted, again.unchanged) == (0, 3)  # the same ids: nothing duplicated
    assert all(len(i) == 17 and i.startswith("r") for i in ids)
    text = " ".join(str(r) for r in _rows(store, "SELECT * FROM surveys"))
    assert "@example.se" not in text  # the e-mail is stored hashed only
