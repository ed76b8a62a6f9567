"""The committed example exports: the binary ones match their generator, the CSVs keep their quirks.

What each file loads as is pinned in tests/test_ingest_presets.py; this file guards the
files themselves, since the CSVs are edited by hand and the workbook and Parquet file are
written by sample_data/exports/make_exports.py.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from sample_data.exports.make_exports import CUSTOMERS, INVOICES, write_all

EXPORTS = Path(__file__).resolve().parents[1] / "sample_data" / "exports"


def test_make_exports_rewrites_the_committed_workbook_and_parquet(tmp_path: Path) -> None:
    write_all(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.xlsx", "invoices.parquet"]
    for name in ("customers.xlsx", "invoices.parquet"):
        if name.endswith(".xlsx"):
            fresh = pl.read_excel(tmp_path / name, sheet_id=0)
            committed = pl.read_excel(EXPORTS / name, sheet_id=0)
            assert list(committed) == ["Customers", "Notes"]
            for sheet in committed:
                assert_frame_equal(fresh[sheet], committed[sheet])
        else:
            assert_frame_equal(pl.read_parquet(tmp_path / name), pl.read_parquet(EXPORTS / name))
    # The generator's frames are what the committed files hold (an independent read).
    assert_frame_equal(pl.read_parquet(EXPORTS / "invoices.parquet"), INVOICES)
    sheet = pl.read_excel(EXPORTS / "customers.xlsx", sheet_name="Customers")
    assert sheet["Customer ID"].to_list() == CUSTOMERS["Customer ID"].to_list()
    assert sheet["Monthly revenue"].to_list() == CUSTOMERS["Monthly revenue"].to_list()


def _records(name: str, encoding: str, delimiter: str = ",") -> list[list[str]]:
    text = (EXPORTS / name).read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_hand_edited_csvs_keep_the_quirks_their_presets_are_tested_on() -> None:
    raw = {p.name: p.read_bytes() for p in EXPORTS.glob("*.csv")}
    assert sorted(raw) == [
        "intercom_conversations.csv",
        "qualtrics_survey.csv",
        "swedish_contacts.csv",
        "zendesk_tickets.csv",
    ]
    assert raw["intercom_conversations.csv"].startswith(b"\xef\xbb\xbf")  # Excel's BOM
    for name in ("zendesk_tickets.csv", "qualtrics_survey.csv"):
        assert not raw[name].startswith(b"\xef\xbb\xbf"), name
        raw[name].decode("utf-8")
    # cp1252, not UTF-8: å/ä/ö are single bytes that are invalid UTF-8 on their own.
    swedish = raw["swedish_contacts.csv"]
    assert any(b in swedish for b in (b"\xe5", b"\xe4", b"\xf6"))
    try:
        swedish.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raise AssertionError("swedish_contacts.csv must stay cp1252, it decodes as UTF-8")
    # Every record has as many fields as its header (a stray delimiter would shift columns)
    # and ends in CRLF, as the tools write them.
    for name, encoding, delimiter in (
        ("zendesk_tickets.csv", "utf-8", ","),
        ("intercom_conversations.csv", "utf-8-sig", ","),
        ("qualtrics_survey.csv", "utf-8", ","),
        ("swedish_contacts.csv", "cp1252", ";"),
    ):
        records = _records(name, encoding, delimiter)
        assert len(records) > 3, name
        assert {len(r) for r in records} == {len(records[0])}, name
        assert raw[name].count(b"\r\n") == len(records), f"{name}: records end in CRLF"
    # Zendesk keeps subjects with a comma and with a quoted line break inside one field.
    subjects = [row[6] for row in _records("zendesk_tickets.csv", "utf-8")]
    assert any("," in s for s in subjects) and any("\n" in s for s in subjects)
