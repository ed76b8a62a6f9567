"""Regenerates the two binary example exports (run: python -m sample_data.exports.make_exports).

The example exports in this folder are hand-made files shaped like real tools' exports, each
with a few deliberately bad rows; tests/test_ingest_presets.py pins what loads from them.
Customers C1001-C1012 own the tickets; the Qualtrics survey refers to Zendesk ticket ids.

The CSV files are their own source: edit them directly, keeping each one's quirks, which
are what its preset is tested on:
- zendesk_tickets.csv: UTF-8, CRLF, offsets in the times, a subject with a comma and a
  quoted line break, requester names and e-mails (personal data);
- intercom_conversations.csv: UTF-8 with a BOM (Intercom and Excel write one), US-style
  times in the workspace zone, durations in seconds;
- qualtrics_survey.csv: three header rows (names, question text, ImportId JSON with the
  account's time zone); NPS 0-10, CSAT 1-5, CES 2.0 agreement 1-7 (7 = easy);
- swedish_contacts.csv: cp1252 (save it in that encoding), semicolons, Swedish headers and
  values, decimal commas, Stockholm local times without an offset.

Only the Excel workbook and the Parquet file cannot be edited as text; this module holds
their contents and writes them.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent

CUSTOMERS = pl.DataFrame(
    {
        "Customer ID": [f"C{1000 + i}" for i in range(1, 13)],
        "Signup date": [date(2024, 1, 1 + i) for i in range(11)] + [None],
        "Segment": ["consumer"] * 8 + ["business"] * 4,
        "Tier": [
            "basic",
            "premium",
            "basic",
            "basic",
            "premium",
            "basic",
            "basic",
            "premium",
            "basic",
            "basic",
            "premium",
            "basic",
        ],
        "Region": ["Stockholm", "Skåne", "Västra Götaland", "Uppsala"] * 3,
        "Age group": ["18-29", "30-44", "45-64", "65+"] * 3,
        "Monthly revenue": [
            "299",
            "499",
            "299",
            "n/a",
            "499",
            "299",
            "299",
            "499",
            "299",
            "299",
            "499",
            "299",
        ],
        "Email": [f"kund{i}@example.se" for i in range(1, 13)],
        "Loyalty points": [120, 0, 35, 800, 12, 0, 5, 60, 0, 1, 2, 3],
    }
)

INVOICES = pl.DataFrame(
    {
        "invoice_id": [f"INV-{i}" for i in range(1, 11)],
        "customer_id": [f"C{1000 + i}" for i in range(1, 10)] + [None],
        "issued_at": [date(2026, 3, 1)] * 10,
        "amount": [299.0, 499.0, 299.0, 299.0, 499.0, 299.0, 299.0, 499.0, -50.0, 299.0],
        "fee": [0.0, 29.0, 0.0, 0.0, 29.0, 0.0, -5.0, 0.0, 0.0, 0.0],
        "paid_at": [
            date(2026, 3, 20),
            None,
            date(2026, 3, 25),
            None,
            None,
            date(2026, 3, 28),
            None,
            None,
            None,
            None,
        ],
        "reminders": [0, 1, 0, 2, 0, 0, 0, 1, 0, 0],
        "sent_at": [datetime(2026, 3, 1, 6, 0)] * 10,
    }
)


def write_all(folder: Path = HERE) -> None:
    """Write customers.xlsx (a data sheet and a notes sheet) and invoices.parquet."""
    import xlsxwriter  # only this script needs it; the app reads workbooks with fastexcel

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as wb:
        CUSTOMERS.write_excel(wb, worksheet="Customers")
        pl.DataFrame({"Note": ["Exported from CRM", "Monthly revenue in SEK"]}).write_excel(
            wb, worksheet="Notes"
        )
    (folder / "customers.xlsx").write_bytes(buf.getvalue())
    INVOICES.write_parquet(folder / "invoices.parquet")


if __name__ == "__main__":
    write_all()
    print(f"wrote customers.xlsx and invoices.parquet to {HERE}")
