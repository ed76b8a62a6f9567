"""`cx ingest`: JSON report keys, text report, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

from dashboard.cli.main import main
from metrics.store import open_store

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = ROOT / "sample_data" / "exports"
DATA = ROOT / "tests" / "data" / "ingest"


def test_cli_ingest_json_report_keys_and_counts(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    open_store(db).close()  # cx ingest refuses a path with no store (`cx init` makes one)
    code = main(
        [
            "ingest",
            str(EXPORTS / "swedish_contacts.csv"),
            "--table",
            "contacts",
            "--preset",
            "swedish",
            "--db",
            str(db),
            "--json",
            "--max-reject-share",
            "1",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in (
        "batch_id",
        "file_name",
        "table",
        "rows_read",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "reasons",
        "pii",
        "extras_columns",
        "mapping",
    ):
        assert key in out
    assert (
        out["rows_read"],
        out["inserted"],
        out["updated"],
        out["unchanged"],
        out["rejected"],
    ) == (10, 7, 0, 0, 3)
    assert out["reasons"][0] == {
        "row_number": 6,
        "column": "channel",
        "reason": "channel 'Brevduva' is not known; expected one of phone, email, chat, chatbot, "
        "app, web, web_form, sms, social, in_person, video (or map it in a mapping file's "
        "[values.channel])",
    }
    assert out["pii"] == {"Namn": "dropped", "Telefonnummer": "hashed"}


def test_cli_ingest_text_report_then_unchanged(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    open_store(db).close()  # cx ingest refuses a path with no store (`cx init` makes one)
    args = [
        "ingest",
        str(EXPORTS / "zendesk_tickets.csv"),
        "--table",
        "contacts",
        "--preset",
        "zendesk",
        "--db",
        str(db),
        "--max-reject-share",
        "1",
    ]
    assert main(args) == 0
    assert (
        "read 15 rows: 11 inserted, 0 updated, 0 unchanged, 4 rejected" in capsys.readouterr().out
    )
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "read 15 rows: 0 inserted, 0 updated, 11 unchanged, 4 rejected" in text
    assert "personal data: 'Requester email' hashed" in text


def test_cli_bad_file_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    open_store(db).close()  # cx ingest refuses a path with no store (`cx init` makes one)
    code = main(
        ["ingest", str(DATA / "missing_column.csv"), "--table", "contacts", "--db", str(db)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err == (
        "cx ingest: error: missing_column.csv: missing required column for table contacts: "
        "'channel' (expected a header such as 'channel', 'via', 'source', 'kanal'). Columns "
        "found: 'contact_id', 'opened_at', 'wait_s'. To load the file as it is, map it in a "
        "mapping file (cx ingest --mapping FILE.toml, or the Data page's editor): [columns] "
        '"<file column>" = "channel".\n'
    )
    with open_store(db) as store:
        assert store.cursor().execute("SELECT count(*) FROM ingest_batches").fetchall() == [(0,)]
        assert store.data_version() == 0


def test_cli_sheet_and_timezone_options(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    open_store(db).close()  # cx ingest refuses a path with no store (`cx init` makes one)
    assert (
        main(
            [
                "ingest",
                str(EXPORTS / "customers.xlsx"),
                "--table",
                "customers",
                "--sheet",
                "Customers",
                "--db",
                str(db),
                "--json",
                "--max-reject-share",
                "1",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["inserted"] == 11
    assert (
        main(
            [
                "ingest",
                str(EXPORTS / "intercom_conversations.csv"),
                "--table",
                "contacts",
                "--preset",
                "intercom",
                "--tz",
                "Europe/Stockholm",
                "--db",
                str(db),
                "--json",
                "--max-reject-share",
                "1",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["timezone"] == "Europe/Stockholm"
