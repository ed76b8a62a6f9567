"""Rows sharing a key: [aggregate] invoice lines, [dedupe] ticket history, [ids] for logs
without ids; whole files and the same files cut into many chunks."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from metrics.ingest import IngestError, ingest_file, readers
from metrics.store import Store, open_store

SHAPES = Path(__file__).resolve().parent / "data" / "ingest" / "shapes"
RETAIL = SHAPES / "online_retail_lines.csv"
HISTORY = SHAPES / "zendesk_ticket_history.csv"
COMPLAINTS = SHAPES / "complaint_log.csv"

# UCI Online Retail: one row per invoice line, no line total; the invoice is the key.
RETAIL_MAPPING = {
    "table": "invoices",
    "dayfirst": False,
    "columns": {
        "InvoiceNo": "invoice_id",
        "CustomerID": "customer_id",
        "InvoiceDate": "issued_at",
        "StockCode": "drop",  # line-level: not a fact of the invoice
        "Description": "drop",
    },
    "multiply": {"amount": ["Quantity", "UnitPrice"]},
    "aggregate": {"amount": "sum"},
}


def _rows(store: Store, sql: str) -> list[tuple]:
    return store.cursor().execute(sql).fetchall()


def _csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    return list(
        csv.DictReader(io.StringIO(path.read_text("utf-8"), newline=""), delimiter=delimiter)
    )


def _invoice_totals() -> dict[str, Decimal]:
    """The reference: line totals summed per invoice with the csv module and Decimal, over
    the invoices whose lines all carry one customer."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    customers: dict[str, set[str]] = defaultdict(set)
    for line in _csv(RETAIL):
        if not line["CustomerID"]:
            continue
        totals[line["InvoiceNo"]] += Decimal(line["Quantity"]) * Decimal(line["UnitPrice"])
        customers[line["InvoiceNo"]].add(line["CustomerID"])
    return {k: v for k, v in totals.items() if len(customers[k]) == 1}


# -- [aggregate] ----------------------------------------------------------------------------
def test_aggregate_folds_invoice_lines_into_invoices(store):
    report = ingest_file(
        store, RETAIL, table="invoices", mapping=RETAIL_MAPPING, max_reject_share=1.0
    )
    got = {
        r[0]: r[1:]
        for r in _rows(store, "SELECT invoice_id, customer_id, issued_at, amount FROM invoices")
    }
    reference = _invoice_totals()
    assert set(got) == set(reference) == {"536365", "536366", "536370", "C536379"}
    for invoice, total in reference.items():
        assert Decimal(str(got[invoice][2])).quantize(Decimal("0.01")) == total, invoice
    # By hand: 6 × 2.55 + 6 × 3.39 + 8 × 2.75 = 57.64; the credit note stays negative.
    assert got["536365"] == ("17850", date(2010, 12, 1), pytest.approx(57.64))
    assert got["C536379"][2] == pytest.approx(-27.5)
    # 12 lines: 4 invoices, 5 lines folded into them, 3 rejected (one without a customer,
    # two of an invoice whose lines name two customers).
    assert (report.rows_read, report.inserted, report.folded, report.rejected) == (12, 4, 5, 3)
    assert report.superseded == 0
    reasons = {r["row_number"]: r["reason"] for r in report.reasons}
    assert reasons[10].startswith("customer_id is empty")
    assert (
        reasons[11]
        == reasons[12]
        == (
            "invoice_id '536520': its rows disagree on customer_id '14729' and '14730'; expected "
            "one value per invoice_id in the rows [aggregate] folds (or an [aggregate] rule for "
            "the column)"
        )
    )
    assert "5 folded into their key's row by [aggregate]" in report.to_text()


def test_aggregate_reload_is_unchanged_and_count_needs_no_column(store):
    mapping = {**RETAIL_MAPPING, "aggregate": {"amount": "sum", "reminders": "count"}}
    ingest_file(store, RETAIL, table="invoices", mapping=mapping, max_reject_share=1.0)
    again = ingest_file(store, RETAIL, table="invoices", mapping=mapping, max_reject_share=1.0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    lines = dict(_rows(store, "SELECT invoice_id, reminders FROM invoices"))
    assert lines == {"536365": 3, "536366": 2, "536370": 3, "C536379": 1}


def test_aggregate_across_chunks_equals_one_chunk(tmp_path, monkeypatch):
    """Lines of one invoice far apart in a file of many chunks fold as in one chunk."""
    header = "InvoiceNo,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
    body = header + "".join(
        f"{i % 40},{i % 7 + 1},12/{i % 9 + 1}/2010 10:00,1.25,C{i % 40}\n" for i in range(4_000)
    )
    mapping = {
        "dayfirst": False,
        "columns": {
            "InvoiceNo": "invoice_id",
            "CustomerID": "customer_id",
            "InvoiceDate": "issued_at",
        },
        "multiply": {"amount": ["Quantity", "UnitPrice"]},
        "aggregate": {"amount": "sum", "issued_at": "min"},
    }
    results = []
    for name, chunk in (("one", None), ("many", 2_000)):
        if chunk:
            monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
        s = open_store(tmp_path / f"{name}.duckdb")
        report = ingest_file(
            s, body.encode(), file_name="lines.csv", table="invoices", mapping=mapping
        )
        results.append(
            (
                report.inserted,
                report.folded,
                _rows(s, "SELECT invoice_id, amount, issued_at FROM invoices ORDER BY 1"),
            )
        )
        s.close()
    assert len(body) > 30 * 2_000
    assert results[0] == results[1]
    inserted, folded, rows = results[0]
    assert (inserted, folded) == (40, 3_960)
    # Reference by plain Python: invoice k has the lines i ≡ k (mod 40).
    want = {str(k): sum((i % 7 + 1) * 1.25 for i in range(k, 4_000, 40)) for k in range(40)}
    first = {str(k): min(date(2010, 12, i % 9 + 1) for i in range(k, 4_000, 40)) for k in range(40)}
    for invoice, amount, issued in rows:
        assert amount == pytest.approx(want[invoice]) and issued == first[invoice]


def test_aggregate_first_last_and_max_skip_blank_cells(store):
    body = (
        b"invoice_id,customer_id,issued_at,amount,fee,paid_at,reminders\n"
        b"I1,C1,2026-01-05,10,2,2026-01-20,0\n"
        b"I1,C1,2026-01-05,5,,2026-01-25,2\n"
        b"I1,C1,2026-01-05,-3,1,,1\n"
    )
    mapping = {
        "aggregate": {
            **{"amount": "sum", "fee": "first", "paid_at": "last", "reminders": "max"},
            "updated_at": "max",  # not in the file: said, not an error
        }
    }
    report = ingest_file(store, body, file_name="i.csv", table="invoices", mapping=mapping)
    assert report.warnings == [
        "[aggregate] updated_at: the file has no such column; the rule is not used"
    ]
    assert (report.inserted, report.folded, report.rejected) == (1, 2, 0)
    # By hand: 10 + 5 - 3; the first fee written (2); the last paid date written; max 2.
    assert _rows(store, "SELECT customer_id, amount, fee, paid_at, reminders FROM invoices") == [
        ("C1", 12.0, 2.0, date(2026, 1, 25), 2)
    ]


def test_mapping_ids_replace_a_presets_dedupe(store):
    """--preset zendesk_api (which dedupes) with a mapping's [ids]: the mapping's choice wins."""
    report = ingest_file(
        store,
        HISTORY,
        table="contacts",
        preset="zendesk_api",
        mapping={"ids": {"contact_id": "row"}},
    )
    # Every version is its own row now; only 105 (_fivetran_deleted) and 103's deleted row
    # are filtered (row by row, as without [dedupe]).
    assert (report.inserted, report.superseded) == (7, 0)


# -- [dedupe] -------------------------------------------------------------------------------
def test_dedupe_latest_keeps_each_tickets_latest_version(store):
    report = ingest_file(store, HISTORY, table="contacts", preset="zendesk_api")
    got = {
        r[0]: r[1:]
        for r in _rows(
            store,
            "SELECT contact_id, customer_id, channel, issue_type, resolved, team, agent_id, "
            "updated_at FROM contacts",
        )
    }
    # 101: three versions, solved at 03-03 10:00 is the latest though not last in the file;
    # 102: closed (04 Mar) written before its older open row; 103's latest is deleted, so the
    # ticket is left out whole; 105 was deleted at the source (_fivetran_deleted).
    assert got == {
        "101": ("9001", "email", "other", True, "360001", "7001", datetime(2026, 3, 3, 10, 0)),
        "102": ("9002", "app", "technical", True, "360002", "7002", datetime(2026, 3, 4, 12, 0)),
        "104": (
            "9004",
            "phone",
            "technical",
            False,
            "360002",
            "7001",
            datetime(2026, 3, 5, 11, 20),
        ),
    }
    # 9 rows: 4 older versions superseded (two of 101, one of 102, one of 103); with [dedupe]
    # the filter applies to the row each key keeps, so 103 and 105 are then left out.
    assert (report.inserted, report.superseded, report.rejected) == (3, 4, 0)
    assert report.rows_read == 7  # 9 rows less the 2 kept rows left out by [filter]
    assert report.rows_read == report.inserted + report.superseded + report.rejected
    assert "1 row left out by [filter] on 'status' (filtered, not rejected)" in report.warnings
    assert (
        "1 row left out by [filter] on '_fivetran_deleted' (filtered, not rejected)"
        in report.warnings
    )
    assert "4 superseded by [dedupe]" in report.to_text()
    assert "[dedupe] keeps the latest row of each key by 'updated_at'" in report.warnings


def test_dedupe_first_and_an_order_by_column_the_mapping_does_not_map(store):
    body = (
        b"Ticket,Seq,Channel,Created\n"
        b"T1,2,chat,2026-03-01 10:00\n"
        b"T1,1,email,2026-03-01 09:00\n"
        b"T1,3,phone,2026-03-01 11:00\n"
        b"T2,1,chat,2026-03-02 10:00\n"
    )
    for keep, want in (("first", "email"), ("latest", "phone")):
        mapping = {"columns": {"Ticket": "contact_id"}, "dedupe": {"keep": keep, "order_by": "Seq"}}
        report = ingest_file(store, body, file_name="t.csv", table="contacts", mapping=mapping)
        assert report.superseded == 2
        assert _rows(store, "SELECT channel FROM contacts WHERE contact_id = 'T1'") == [(want,)]


def test_dedupe_without_order_keeps_file_order(store):
    body = b"contact_id,channel,opened_at\nA,chat,2026-03-01 10:00\nA,phone,2026-03-01 09:00\n"
    report = ingest_file(
        store, body, file_name="a.csv", table="contacts", mapping={"dedupe": {"keep": "latest"}}
    )
    assert (report.inserted, report.superseded, report.rejected) == (1, 1, 0)
    assert _rows(store, "SELECT channel FROM contacts") == [("phone",)]
    assert (
        "[dedupe] keeps the latest row of each key in file order (no order_by, no updated_at "
        "column)" in report.warnings
    )


def test_dedupe_latest_row_rejected_leaves_its_key_out_not_an_older_row(store):
    """A ticket whose newest version fails validation must not load as its older version
    (closed stored as open): the key is left out, the bad row rejected, the older row
    superseded. A rejected row that is not the latest changes nothing; a rejected row
    without a key takes no part."""
    body = (
        b"contact_id,channel,opened_at,updated_at,resolved\n"
        b"A,chat,2026-03-01 10:00,2026-03-01 10:00,no\n"  # A's older version: open
        b"A,chat,2026-03-01 10:00,2026-03-02 10:00,maybe\n"  # A's latest: bad resolved
        b"B,chat,2026-03-01 11:00,2026-03-01 11:00,maybe\n"  # B's older: bad
        b"B,chat,2026-03-01 11:00,2026-03-03 11:00,yes\n"  # B's latest: fine
        b"C,fax,2026-03-01 12:00,2026-03-01 12:00,no\n"  # C alone, bad channel
        b",chat,2026-03-01 13:00,2026-03-01 13:00,no\n"  # no key
    )
    mapping = {"dedupe": {"keep": "latest"}}
    report = ingest_file(
        store, body, file_name="h.csv", table="contacts", mapping=mapping, max_reject_share=1.0
    )
    assert _rows(store, "SELECT contact_id, resolved FROM contacts") == [("B", True)]
    assert (report.inserted, report.superseded, report.rejected) == (1, 1, 4)
    assert report.rows_read == report.inserted + report.superseded + report.rejected == 6
    assert any(
        w.startswith("1 key(s) not loaded: the row [dedupe] keeps for each was rejected")
        for w in report.warnings
    )
    # keep = "first": A's first (open) row is valid and kept; B's first is the bad one.
    # Another batch into the same store, its keys renamed.
    body_first = body.replace(b"A,", b"D,").replace(b"B,", b"E,").replace(b"C,", b"F,")
    report = ingest_file(
        store,
        body_first,
        file_name="h2.csv",
        table="contacts",
        mapping={"dedupe": {"keep": "first"}},
        max_reject_share=1.0,
    )
    rows = _rows(store, "SELECT contact_id, resolved FROM contacts WHERE contact_id >= 'D'")
    assert rows == [("D", False)]
    assert (report.inserted, report.superseded, report.rejected) == (1, 1, 4)


def test_dedupe_across_chunks_equals_one_chunk(tmp_path, monkeypatch):
    rows = [
        f"K{i % 50},2026-03-01T00:00:00Z,2026-03-{i % 28 + 1:02d}T{i % 24:02d}:00:00Z,{'solved' if i % 3 else 'open'},web"
        for i in range(3_000)
    ]
    body = ("id,created_at,updated_at,status,via_channel\n" + "\n".join(rows) + "\n").encode()
    results = []
    for name, chunk in (("one", None), ("many", 2_000)):
        if chunk:
            monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
        s = open_store(tmp_path / f"{name}.duckdb")
        report = ingest_file(s, body, file_name="h.csv", table="contacts", preset="zendesk_api")
        results.append(
            (
                report.inserted,
                report.superseded,
                _rows(s, "SELECT contact_id, updated_at, resolved FROM contacts ORDER BY 1"),
            )
        )
        s.close()
    assert results[0] == results[1]
    inserted, superseded, got = results[0]
    assert (inserted, superseded) == (50, 2_950)
    # Reference: the maximum updated_at per key, ties to the later row (plain Python).
    best: dict[str, tuple[tuple[int, int], str]] = {}
    for i in range(3_000):
        stamp = (i % 28 + 1, i % 24)
        key = f"K{i % 50}"
        if key not in best or stamp >= best[key][0]:
            best[key] = (stamp, "solved" if i % 3 else "open")
    for key, at, resolved in got:
        (day, hour), status = best[key]
        assert at == datetime(2026, 3, day, hour) and resolved is (status == "solved")


# -- [ids] ----------------------------------------------------------------------------------
COMPLAINT_MAPPING = {"ids": {"contact_id": "row"}}


def test_ids_generated_for_a_log_without_ids_and_stable_on_reload(store):
    first = ingest_file(store, COMPLAINTS, table="contacts", mapping=COMPLAINT_MAPPING)
    assert (first.inserted, first.rejected) == (4, 0)
    ids = _rows(
        store,
        "SELECT contact_id, channel, issue_type, opened_at FROM contacts ORDER BY opened_at, contact_id",
    )
    assert len({r[0] for r in ids}) == 4  # the two identical complaints get two ids
    assert all(r[0].startswith("r") and len(r[0]) == 17 for r in ids)
    assert sorted(r[1] for r in ids) == ["chat", "email", "phone", "phone"]
    again = ingest_file(store, COMPLAINTS, table="contacts", mapping=COMPLAINT_MAPPING)
    assert (again.inserted, again.unchanged) == (0, 4)
    # The same rows in another order, and one more: the old ids hold, one row is new.
    lines = COMPLAINTS.read_bytes().split(b"\r\n")
    moved = b"\r\n".join(
        [
            lines[0],
            lines[4],
            lines[2],
            lines[3],
            lines[1],
            b"2026-03-04 08:00;Telefon;Klagom\xc3\xa5l;Ny",
            b"",
        ]
    )
    third = ingest_file(
        store, moved, file_name="log.csv", table="contacts", mapping=COMPLAINT_MAPPING
    )
    assert (third.inserted, third.unchanged) == (1, 4)


def test_ids_hold_across_chunks(tmp_path, monkeypatch):
    body = (
        "Datum,Kanal\n" + "".join(f"2026-03-0{i % 9 + 1} 10:00,Telefon\n" for i in range(3_000))
    ).encode()
    got = []
    for name, chunk in (("one", None), ("many", 2_000)):
        if chunk:
            monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
        s = open_store(tmp_path / f"{name}.duckdb")
        report = ingest_file(
            s, body, file_name="l.csv", table="contacts", mapping=COMPLAINT_MAPPING
        )
        assert report.inserted == 3_000
        got.append(_rows(s, "SELECT contact_id FROM contacts ORDER BY 1"))
        s.close()
    assert got[0] == got[1]


# -- validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"dedupe": {"keep": "newest"}},
            '[dedupe] keep = \'newest\'; expected "first" or "latest"',
        ),
        (
            {"dedupe": {"keep": "latest", "by": "x"}},
            "unknown key(s) in [dedupe]: by; expected keep and order_by",
        ),
        (
            {"dedupe": {"keep": "latest", "order_by": "Nope"}},
            "[dedupe] order_by 'Nope': the file has no such column",
        ),
        (
            {"aggregate": {"amount": "avg"}},
            "[aggregate] amount = 'avg'; expected one of sum, min, max, first, last, count",
        ),
        ({"aggregate": {"invoice_id": "first"}}, "[aggregate] invoice_id is the key of invoices"),
        (
            {"aggregate": {"customer_id": "sum"}},
            "[aggregate] customer_id = 'sum': customer_id is not a column sum applies to",
        ),
        ({"aggregate": {"nope": "sum"}}, "[aggregate] 'nope' is not a column of invoices"),
        (
            {"ids": {"invoice_id": "hash"}},
            "[ids] invoice_id = 'hash'; expected invoice_id = \"row\"",
        ),
        ({"ids": {"amount": "row"}}, "[ids] 'amount' is not an id column of invoices"),
        ({"ids": {"invoice_id": "row"}, "aggregate": {"amount": "sum"}}, "[ids] with [aggregate]"),
        (
            {"dedupe": {"keep": "first"}, "aggregate": {"amount": "sum"}},
            "[dedupe] and [aggregate] together",
        ),
        (
            {"multiply": {"amount": "Quantity"}},
            '[multiply] amount; expected amount = ["Quantity column", "Price column"]',
        ),
        ({"header_rows": 7}, "header_rows 7; expected 0 (no header row"),
    ],
)
def test_bad_key_sections_say_what_to_write(store, mapping, message):
    with pytest.raises(IngestError) as err:
        ingest_file(
            store, RETAIL, table="invoices", mapping={**RETAIL_MAPPING, "aggregate": {}, **mapping}
        )
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_intercom_api_history_keeps_latest_and_reads_unix_times(store):
    """Intercom's API writes times as Unix seconds; a sync keeps one row per version."""
    path = SHAPES / "intercom_conversation_history.csv"
    report = ingest_file(store, path, table="contacts", preset="intercom_api")
    got = _rows(
        store,
        "SELECT contact_id, customer_id, channel, resolved, agent_id, team, opened_at, "
        "updated_at FROM contacts ORDER BY 1",
    )
    # 1772359200 s after 1970-01-01 UTC = 2026-03-01 10:00 (datetime.fromtimestamp, UTC).
    assert got == [
        (
            "215001",
            "u-81",
            "chat",
            True,
            "5521",
            "88",
            datetime(2026, 3, 1, 10),
            datetime(2026, 3, 1, 12),
        ),
        (
            "215002",
            "u-82",
            "email",
            False,
            "5521",
            "87",
            datetime(2026, 3, 2, 8),
            datetime(2026, 3, 2, 8),
        ),
    ]
    assert (report.inserted, report.superseded, report.rejected, report.rows_read) == (2, 1, 0, 3)
    assert (
        "1 row left out by [filter] on '_fivetran_deleted' (filtered, not rejected)"
        in report.warnings
    )
