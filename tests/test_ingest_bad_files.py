"""Whole-file failures: one file per class in tests/data/ingest, exact message, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.ingest import IngestError, ingest_file, preview_file
from metrics.schema import INGEST_TABLES
from metrics.store import Store

DATA = Path(__file__).parent / "data" / "ingest"
EXPORTS = Path(__file__).resolve().parents[1] / "sample_data" / "exports"
FORMATS = "a CSV/TSV text file, an .xlsx workbook or a .parquet file"

# What a missing-column message ends with when no file column looks like the missing one.
MAPPING_HINT = (
    ". To load the file as it is, map it in a mapping file (cx ingest --mapping FILE.toml, or "
    'the Data page\'s editor): [columns] "<file column>" = "{}".'
)


def snapshot(store: Store) -> tuple:
    """Row counts of every table ingest may touch, plus the data version."""
    cur = store.cursor()
    tables = [*INGEST_TABLES, "ingest_batches", "rejected_rows", "settings"]
    counts = tuple(cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables)
    return counts, store.data_version()


CASES = [
    (
        "binary.csv",
        "contacts",
        {},
        f"binary.csv: cannot read the file: it looks binary, not text; expected {FORMATS}",
    ),
    (
        "empty.csv",
        "contacts",
        {},
        "empty.csv: the file is empty; expected a header row with column names and at least "
        "one data row",
    ),
    (
        "header_only.csv",
        "contacts",
        {},
        "header_only.csv: the file has a header but no data rows; expected at least one row "
        "under the header",
    ),
    (
        "blank_rows.csv",
        "contacts",
        {},
        "blank_rows.csv: the file has a header but no data rows; expected at least one row "
        "under the header",
    ),
    (
        "missing_column.csv",
        "contacts",
        {},
        "missing_column.csv: missing required column for table contacts: 'channel' (expected a "
        "header such as 'channel', 'via', 'source', 'kanal'). Columns found: 'contact_id', "
        "'opened_at', 'wait_s'" + MAPPING_HINT.format("channel"),
    ),
    (
        "survey_as_contacts.csv",
        "contacts",
        {},
        "survey_as_contacts.csv: this looks like a surveys file, not contacts: required "
        "column(s) contact_id, channel, opened_at for contacts are missing; expected --table "
        "surveys, or a contacts file",
    ),
    (
        "oversize.csv",
        "contacts",
        {"max_bytes": 100},
        "oversize.csv: the file is 559 bytes, over the limit of 100 bytes; expected a smaller "
        "file (split it, or raise the limit)",
    ),
    (
        "ragged.csv",
        "contacts",
        {},
        "ragged.csv: a row has more fields than the header's 3 columns (delimiter ','); expected "
        "every row to have as many fields as the header (quote values that contain the delimiter)",
    ),
    (
        "corrupt.xlsx",
        "contacts",
        {},
        f"corrupt.xlsx: cannot read the workbook: it is not a valid .xlsx file; expected {FORMATS}",
    ),
    (
        "corrupt.parquet",
        "invoices",
        {},
        f"corrupt.parquet: cannot read the Parquet file: it is not a valid .parquet file; "
        f"expected {FORMATS}",
    ),
    (
        "old_excel.xls",
        "contacts",
        {},
        f"old_excel.xls: this is an old Excel .xls workbook; expected {FORMATS} (save it as "
        ".xlsx or CSV)",
    ),
    (
        "missing_column.csv",
        "contacts",
        {"mapping": DATA / "bad_mapping.toml"},
        "bad_mapping.toml: column 'Ticket' maps to 'ticket_number', which is not a column of "
        "contacts; expected one of abandoned, agent_id, bot_handled, channel, contact_id, "
        "customer_id, escalated, first_contact_resolved, first_response_s, handle_s, issue_type, "
        "opened_at, resolved, resolved_at, team, updated_at, wait_s, extras, drop or hash",
    ),
    (
        "latin1_contacts.tsv",
        "contacts",
        {"timezone": "Mars/Olympus"},
        "latin1_contacts.tsv: unknown time zone 'Mars/Olympus'; expected an IANA name such as "
        "Europe/Stockholm or UTC",
    ),
    (
        "latin1_contacts.tsv",
        "surveys",
        {"preset": "zendesk"},
        "latin1_contacts.tsv: the zendesk preset is for table contacts, not surveys; expected "
        "--table contacts",
    ),
    (
        "latin1_contacts.tsv",
        "contacts",
        {"preset": "freshdesk"},
        "latin1_contacts.tsv: unknown preset 'freshdesk'; expected one of intercom, "
        "intercom_api, qualtrics, swedish, zendesk, zendesk_api",
    ),
    (
        "latin1_contacts.tsv",
        "orders",
        {},
        "latin1_contacts.tsv: unknown table 'orders'; expected one of customers, contacts, "
        "surveys, invoices, assignments",
    ),
    (
        "no_such_file.csv",
        "contacts",
        {},
        "no_such_file.csv: cannot open the file (No such file or directory)",
    ),
]


@pytest.mark.parametrize(
    ("name", "table", "kwargs", "message"),
    CASES,
    ids=[f"{c[0]}-{c[1]}-{'-'.join(c[2]) or 'plain'}" for c in CASES],
)
def test_bad_file_exact_error_and_store_unchanged(sample_store, name, table, kwargs, message):
    before = snapshot(sample_store)
    with pytest.raises(IngestError) as err:
        ingest_file(sample_store, DATA / name, table=table, **kwargs)
    assert str(err.value) == message
    assert snapshot(sample_store) == before


def test_bad_file_as_bytes_same_error(store):
    before = snapshot(store)
    with pytest.raises(IngestError, match=r"^upload\.csv: cannot read the file: it looks binary"):
        ingest_file(
            store, (DATA / "binary.csv").read_bytes(), table="contacts", file_name="upload.csv"
        )
    assert snapshot(store) == before


def test_xlsx_other_sheet_without_key_column_writes_nothing(store):
    before = snapshot(store)
    with pytest.raises(IngestError) as err:
        ingest_file(store, EXPORTS / "customers.xlsx", table="customers", sheet="Notes")
    assert str(err.value) == (
        "customers.xlsx: missing required column for table customers: 'customer_id' (expected "
        "a header such as 'customer_id', 'customer id', 'customer number', 'client id', "
        "'account id'). Columns found: 'Note'" + MAPPING_HINT.format("customer_id")
    )
    assert snapshot(store) == before


def test_cp1252_tab_file_is_handled_not_refused(store):
    report = ingest_file(store, DATA / "latin1_contacts.tsv", table="contacts")
    assert (report.encoding, report.delimiter, report.inserted) == ("cp1252", "\t", 2)
    rows = (
        store.cursor()
        .execute("SELECT contact_id, channel, issue_type, team FROM contacts ORDER BY contact_id")
        .fetchall()
    )
    assert rows == [
        ("L1", "phone", "billing", "Kundtjänst Göteborg"),
        ("L2", "chat", "other", "Åre"),
    ]


def test_preview_lists_missing_columns_instead_of_raising(store):
    preview = preview_file(
        DATA / "missing_column.csv", file_name="missing_column.csv", table="contacts"
    )
    assert preview.missing_required == ["channel"]
    assert dict(preview.mapping) == {
        "contact_id": "contact_id",
        "opened_at": "opened_at",
        "wait_s": "wait_s",
    }
    with pytest.raises(IngestError, match="^empty.csv: the file is empty"):
        preview_file(DATA / "empty.csv", file_name="empty.csv", table="contacts")
