"""Upsert by key, idempotent re-ingest, one transaction, extras, personal data, history."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from pathlib import Path

import pytest

import metrics.ingest.load as load_module
from metrics.ingest import ingest_file, ingest_history, rejected_rows
from metrics.schema import INGEST_TABLES
from metrics.store import Store

EXPORTS = Path(__file__).resolve().parents[1] / "sample_data" / "exports"
ZENDESK = EXPORTS / "zendesk_tickets.csv"

BASE = (
    b"contact_id,channel,opened_at,wait_s,team,Region note\n"
    b"A1,phone,2026-03-05 14:02,30,north,x\n"
    b"A2,chat,2026-03-05 15:00,12,south,y\n"
    b"A3,email,2026-03-06 09:00,,north,z\n"
)


def snapshot(store: Store) -> tuple:
    cur = store.cursor()
    tables = [*INGEST_TABLES, "ingest_batches", "rejected_rows", "settings"]
    counts = tuple(cur.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables)
    return counts, store.data_version()


def _rows(store: Store, sql: str) -> list[tuple]:
    return store.cursor().execute(sql).fetchall()


def test_reingest_same_file_is_all_unchanged(store):
    first = ingest_file(store, ZENDESK, table="contacts", preset="zendesk", max_reject_share=1.0)
    stored = _rows(store, "SELECT * EXCLUDE (batch_id) FROM contacts ORDER BY contact_id")
    second = ingest_file(store, ZENDESK, table="contacts", preset="zendesk", max_reject_share=1.0)
    assert (first.inserted, first.unchanged) == (11, 0)
    assert (second.inserted, second.updated, second.unchanged, second.rejected) == (0, 0, 11, 4)
    assert _rows(store, "SELECT * EXCLUDE (batch_id) FROM contacts ORDER BY contact_id") == stored
    # Unchanged rows keep the batch that wrote them.
    assert _rows(store, "SELECT DISTINCT batch_id FROM contacts") == [(first.batch_id,)]
    assert _rows(store, "SELECT count(*) FROM ingest_batches") == [(2,)]


def test_overlapping_file_updates_changed_inserts_new_keeps_unchanged(store):
    ingest_file(store, BASE, table="contacts", file_name="base.csv")
    overlap = (
        b"contact_id,channel,opened_at,wait_s,Region note\n"
        b"A1,phone,2026-03-05 14:02,30,x\n"  # identical
        b"A2,chat,2026-03-05 15:00,99,y\n"  # wait changed
        b"A3,phone,2026-03-06 09:00,,z\n"  # channel changed
        b"A4,sms,2026-03-07 10:00,5,w\n"  # new
    )
    report = ingest_file(store, overlap, table="contacts", file_name="overlap.csv")
    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (1, 2, 1, 0)
    rows = _rows(store, "SELECT contact_id, channel, wait_s, team FROM contacts ORDER BY 1")
    # The overlap file has no team column: stored teams stay, the new row has none.
    assert rows == [
        ("A1", "phone", 30.0, "north"),
        ("A2", "chat", 99.0, "south"),
        ("A3", "phone", None, "north"),
        ("A4", "sms", 5.0, None),
    ]
    batches = dict(_rows(store, "SELECT contact_id, batch_id FROM contacts"))
    assert batches["A2"] == batches["A3"] == batches["A4"] == report.batch_id != batches["A1"]


def test_changed_extras_count_as_update(store):
    ingest_file(store, BASE, table="contacts", file_name="base.csv")
    changed = BASE.replace(
        b"A3,email,2026-03-06 09:00,,north,z", b"A3,email,2026-03-06 09:00,,north,Z!"
    )
    report = ingest_file(store, changed, table="contacts", file_name="base2.csv")
    assert (report.updated, report.unchanged) == (1, 2)
    extras = json.loads(_rows(store, "SELECT extras FROM contacts WHERE contact_id='A3'")[0][0])
    assert extras == {"Region note": "Z!"}


def test_failure_inside_transaction_rolls_everything_back(store, monkeypatch):
    ingest_file(store, BASE, table="contacts", file_name="base.csv")
    before = snapshot(store)
    stored = _rows(store, "SELECT * FROM contacts ORDER BY contact_id")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full (injected)")

    # Rejected rows are written after the upsert, so the upsert has run when this raises.
    monkeypatch.setattr(load_module, "_write_rejected", boom)
    bad_and_good = BASE.replace(b"A1,phone", b"A1,fax").replace(b"A2,chat", b"A2,email") + (
        b"A9,chat,2026-03-08 10:00,1,east,q\n"
    )
    with pytest.raises(RuntimeError, match="injected"):
        ingest_file(
            store,
            bad_and_good,
            table="contacts",
            file_name="crash.csv",
        )
    assert snapshot(store) == before
    assert _rows(store, "SELECT * FROM contacts ORDER BY contact_id") == stored


def test_failure_in_upsert_of_first_file_leaves_empty_store(store, monkeypatch):
    before = snapshot(store)
    original = load_module.merge_stage

    def half_then_boom(cur, table, stage, batch_id, **kwargs):
        original(cur, table, stage, batch_id, **kwargs)  # rows are in, transaction still open
        raise RuntimeError("killed mid-file (injected)")

    monkeypatch.setattr(load_module, "merge_stage", half_then_boom)
    with pytest.raises(RuntimeError, match="mid-file"):
        ingest_file(store, ZENDESK, table="contacts", preset="zendesk", max_reject_share=1.0)
    assert snapshot(store) == before


def test_duplicate_keys_first_valid_row_wins(store):
    body = (
        b"contact_id,channel,opened_at\n"
        b"D1,fax,2026-03-05 10:00\n"  # invalid: does not claim the key
        b"D1,phone,2026-03-05 11:00\n"  # first valid D1: loads
        b"D1,chat,2026-03-05 12:00\n"  # later duplicate: rejected
    )
    report = ingest_file(store, body, table="contacts", file_name="dups.csv", max_reject_share=1.0)
    assert (report.inserted, report.rejected) == (1, 2)
    assert _rows(store, "SELECT channel FROM contacts") == [("phone",)]
    assert report.reasons[1] == {
        "row_number": 3,
        "column": "contact_id",
        "reason": "duplicate contact_id 'D1': row 2 with the same key is loaded; expected each "
        "key once per file",
    }


def test_assignments_composite_key_duplicates(store):
    body = (
        b"experiment_id,unit_id,variant,assigned_at\n"
        b"E1,C1,control,2026-03-01 00:00\n"
        b"E1,C2,callback,2026-03-01 00:00\n"
        b"E2,C1,control,2026-03-01 00:00\n"
        b"E1,C1,callback,2026-03-02 00:00\n"
    )
    report = ingest_file(
        store, body, table="assignments", file_name="assign.csv", max_reject_share=1.0
    )
    assert (report.inserted, report.rejected) == (3, 1)
    assert report.reasons[0]["reason"].startswith("duplicate experiment_id, unit_id 'E1/C1': row 1")


def test_email_in_id_column_is_hashed_and_reported(store, pii_key_file):
    body = b"invoice_id,customer_id,issued_at,amount\nI1,Anna@Example.se ,2026-03-01,10\n"
    report = ingest_file(store, body, table="invoices", file_name="inv.csv")
    key = pii_key_file.read_text().strip().encode()
    (cust,) = _rows(store, "SELECT customer_id FROM invoices")[0]
    # Trimmed and lower-cased before hashing, so the same address always gives the same id.
    assert cust == hmac.new(key, b"anna@example.se", hashlib.sha256).hexdigest()
    assert report.pii == {"customer_id": "hashed"}


def test_key_is_created_once_and_reused(store, pii_key_file):
    body = b"contact_id,channel,opened_at,E-mail\nX1,phone,2026-03-05 10:00,a@b.se\n"
    ingest_file(store, body, table="contacts", file_name="a.csv")
    ingest_file(store, body.replace(b"X1", b"X2"), table="contacts", file_name="b.csv")
    hashes = [json.loads(e)["E-mail"] for (e,) in _rows(store, "SELECT extras FROM contacts")]
    assert len(hashes) == 2 and hashes[0] == hashes[1] and "@" not in hashes[0]
    # The key stays outside the store; the store only remembers its fingerprint.
    key = pii_key_file.read_text().strip()
    settings = str(_rows(store, "SELECT * FROM settings"))
    assert key not in settings and "ingest_pii_salt" not in settings


def test_history_and_rejected_rows_api(store):
    report = ingest_file(store, ZENDESK, table="contacts", preset="zendesk", max_reject_share=1.0)
    history = ingest_history(store)
    assert history.height == 1
    row = history.row(0, named=True)
    assert (
        row["file_name"],
        row["table_name"],
        row["rows_read"],
        row["inserted"],
        row["rejected"],
    ) == ("zendesk_tickets.csv", "contacts", 15, 11, 4)
    assert row["checksum"] == hashlib.sha256(ZENDESK.read_bytes()).hexdigest()
    assert isinstance(row["finished_at"], datetime)
    rejects = rejected_rows(store, report.batch_id)
    assert rejects.columns == ["row_number", "column_name", "reason", "raw"]
    assert rejects["row_number"].to_list() == [7, 8, 13, 14]
    stored_report = json.loads(_rows(store, "SELECT report FROM ingest_batches")[0][0])
    assert stored_report["inserted"] == 11 and stored_report["reasons"][0]["row_number"] == 7
