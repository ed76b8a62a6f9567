"""AppTest of the Data page: upload an example export, see the report, rows land in the store."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from conftest import start_page
from data_page import ingest_on_page
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "dashboard" / "views" / "data.py"
EXPORTS = ROOT / "sample_data" / "exports"
SWEDISH = EXPORTS / "swedish_contacts.csv"


@pytest.fixture
def app(sample_store, monkeypatch) -> AppTest:
    at = start_page(PAGE, sample_store.path, monkeypatch, errors_ok=True)
    return at


def _count(store, sql: str) -> int:
    return store.cursor().execute(sql).fetchall()[0][0]


def _data_rows(path: Path) -> list[dict[str, str]]:
    """The file's data rows read with the csv module (an independent reader)."""
    text = path.read_bytes().decode("cp1252")
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def test_data_page_swedish_export_report_and_rows_in_store(app, sample_store):
    rows = _data_rows(SWEDISH)
    assert len(rows) == 10
    before = _count(sample_store, "SELECT count(*) FROM contacts")
    app.selectbox(key="data_preset").select("swedish").run()
    app.file_uploader[0].upload(SWEDISH.name, SWEDISH.read_bytes(), "text/csv").run()
    assert not app.exception and not app.error
    # The preview states the detected format and where each column goes.
    head = app.markdown[0].value
    assert "**CSV** · 10 rows" in head and "cp1252" in head and "';'" in head
    mapping = dict(app.dataframe[0].value.itertuples(index=False, name=None))
    assert mapping["Kanal"] == "channel" and mapping["Skapad"] == "opened_at"
    assert "personal data" in mapping["Namn"] and "personal data" in mapping["Telefonnummer"]

    ingest_on_page(app)
    assert not app.exception and not app.error
    batch, inserted, rejected = (
        sample_store.cursor()
        .execute(
            "SELECT batch_id, inserted, rejected FROM ingest_batches WHERE file_name = ?",
            [SWEDISH.name],
        )
        .fetchall()[0]
    )
    # The store holds what the report says: every data row inserted or rejected.
    assert inserted + rejected == len(rows)
    stored = _count(sample_store, f"SELECT count(*) FROM contacts WHERE batch_id = '{batch}'")
    assert stored == inserted
    assert _count(sample_store, "SELECT count(*) FROM contacts") == before + inserted
    assert (
        _count(sample_store, f"SELECT count(*) FROM rejected_rows WHERE batch_id = '{batch}'")
        >= rejected
        > 0
    )
    text = app.warning[-1].value  # some rows were rejected: a warning, not a success
    assert (
        f"read {len(rows)} rows: {inserted} inserted, 0 updated, 0 unchanged, "
        f"{rejected} rejected" in text
    )
    # File-derived text (column names, reasons) is plain text in a code element, not Markdown.
    assert "personal data column 'Namn' dropped" in app.code[-1].value
    # The first data row, read by hand: Telefon / Fakturafråga / wait 12,5 s (decimal comma).
    first = rows[0]
    assert first["Kanal"] == "Telefon" and first["Väntetid (s)"] == "12,5"
    got = (
        sample_store.cursor()
        .execute(
            "SELECT channel, issue_type, wait_s FROM contacts WHERE contact_id = ?",
            [first["Ärende-ID"]],
        )
        .fetchall()
    )
    assert got == [("phone", "billing", 12.5)]
    # History and the batch's rejected rows are shown (and downloadable).
    history = app.dataframe[2].value
    assert history["file_name"].tolist()[0] == SWEDISH.name
    rejects = app.dataframe[3].value
    assert len(rejects) >= rejected and rejects["reason"].str.len().min() > 0
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels.count("Download CSV") == 2 and labels.count("Download XLSX") == 2


def test_data_page_reupload_same_file_is_unchanged(app, sample_store):
    app.selectbox(key="data_preset").select("swedish").run()
    app.file_uploader[0].upload(SWEDISH.name, SWEDISH.read_bytes(), "text/csv").run()
    ingest_on_page(app)
    count = _count(sample_store, "SELECT count(*) FROM contacts")
    inserted = _count(sample_store, "SELECT max(inserted) FROM ingest_batches")
    ingest_on_page(app)
    assert not app.exception and not app.error
    assert _count(sample_store, "SELECT count(*) FROM contacts") == count
    assert f"0 inserted, 0 updated, {inserted} unchanged" in app.warning[-1].value


def test_data_page_binary_file_shows_error_and_writes_nothing(app, sample_store):
    version = sample_store.data_version()
    app.file_uploader[0].upload("export.csv", b"\x00\x01\x02\xff\xfe binary", "text/csv").run()
    assert not app.exception
    assert app.error[0].value == "The file cannot be loaded. Nothing was written."
    assert app.code[0].value.startswith("export.csv:")
    assert not [b for b in app.button if b.label == "Ingest"]
    assert sample_store.data_version() == version
    assert _count(sample_store, "SELECT count(*) FROM ingest_batches") == 0


def test_data_page_missing_required_column_disables_ingest(app, sample_store):
    body = b"contact_id,channel\nA1,phone\nA2,chat\n"
    app.file_uploader[0].upload("no_time.csv", body, "text/csv").run()
    assert not app.exception
    assert "Missing required column(s) for contacts: opened_at" in app.error[0].value
    ingest = next(b for b in app.button if b.label == "Ingest")
    assert ingest.disabled
    assert _count(sample_store, "SELECT count(*) FROM ingest_batches") == 0


def test_data_page_offers_every_example_export(app):
    expected = sorted(
        p.name for p in EXPORTS.iterdir() if p.suffix in (".csv", ".xlsx", ".parquet", ".tsv")
    )
    shown = sorted(b.proto.label for b in app.get("download_button") if b.proto.label in expected)
    assert shown == expected and len(expected) >= 3


@pytest.mark.parametrize(
    ("file", "table", "key", "key_column"),
    [
        ("customers.xlsx", "customers", "customer_id", "Customer ID"),
        ("invoices.parquet", "invoices", "invoice_id", "invoice_id"),
    ],
)
def test_data_page_xlsx_and_parquet_exports_land_in_store(
    app, sample_store, file, table, key, key_column
):
    import polars as pl

    path = EXPORTS / file
    frame = pl.read_excel(path) if file.endswith(".xlsx") else pl.read_parquet(path)
    app.selectbox(key="data_table_None").select(table).run()
    app.file_uploader[0].upload(file, path.read_bytes(), "application/octet-stream").run()
    assert not app.exception and not app.error
    assert app.markdown[0].value.startswith(f"**{path.suffix[1:].upper()}** · {frame.height} rows")
    ingest_on_page(app)
    assert not app.exception and not app.error
    read, ins, upd, same, rej = (
        sample_store.cursor()
        .execute("SELECT rows_read, inserted, updated, unchanged, rejected FROM ingest_batches")
        .fetchall()[0]
    )
    assert read == frame.height == ins + upd + same + rej
    alert = (app.warning if rej else app.success)[-1].value
    assert (
        f"read {read} rows: {ins} inserted, {upd} updated, {same} unchanged, {rej} rejected"
        in alert
    )
    ids = [str(v) for v in frame[key_column].to_list()]
    found = (
        sample_store.cursor()
        .execute(f"SELECT count(*) FROM {table} WHERE {key} IN (SELECT unnest(?))", [ids])
        .fetchall()[0][0]
    )
    assert found >= ins + upd + same


def test_data_page_shows_where_the_personal_data_key_is(app, pii_key_file):
    shown = [t.value for t in app.text]
    assert any(str(pii_key_file) in v and "HMAC-SHA256" in v for v in shown), shown
