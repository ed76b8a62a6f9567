"""Merging a file into its table: older rows never win, changes are listed, assignments freeze."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
import pytest

from dashboard.cli.main import main
from metrics.ingest import ingest_file
from metrics.ingest.merge import merge_stage
from metrics.store import Store, open_store


def _csv(header: str, *rows: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _rows(store: Store, sql: str, params: list | None = None) -> list[tuple]:
    return store.cursor().execute(sql, params or []).fetchall()


FIRST = _csv(
    "contact_id,channel,opened_at,team,Updated at",
    "K1,phone,2026-03-05 10:00,north,2026-03-06 10:00",
    "K2,chat,2026-03-05 11:00,south,2026-03-06 10:00",
    "K3,email,2026-03-05 12:00,east,",
    "K4,email,2026-03-05 13:00,east,2026-03-06 10:00",
)


def test_older_row_is_skipped_newer_and_blank_applied(store):
    ingest_file(store, FIRST, table="contacts", file_name="first.csv")
    second = _csv(
        "contact_id,channel,opened_at,team,Updated at",
        "K1,phone,2026-03-05 10:00,OLD,2026-03-05 09:00",  # older than stored: skipped
        "K2,chat,2026-03-05 11:00,NEW,2026-03-07 10:00",  # newer: applied
        "K3,email,2026-03-05 12:00,NEW,2026-03-01 10:00",  # stored has no updated_at: applied
        "K4,email,2026-03-05 13:00,east,2026-03-06 10:00",  # identical: unchanged
        "K5,sms,2026-03-05 14:00,west,2026-03-01 10:00",  # new key: inserted
    )
    report = ingest_file(store, second, table="contacts", file_name="second.csv")
    counts = (report.inserted, report.updated, report.unchanged, report.skipped_older)
    assert counts == (1, 2, 1, 1)
    assert report.rows_read == 5 == sum(counts) + report.rejected
    assert report.skipped_older_examples == ["K1"]
    assert _rows(store, "SELECT contact_id, team FROM contacts ORDER BY 1") == [
        ("K1", "north"),
        ("K2", "NEW"),
        ("K3", "NEW"),
        ("K4", "east"),
        ("K5", "west"),
    ]
    assert _rows(store, "SELECT updated_at FROM contacts WHERE contact_id = 'K1'") == [
        (datetime(2026, 3, 6, 10, 0),)
    ]
    assert _rows(
        store, "SELECT skipped_older FROM ingest_batches WHERE file_name = 'second.csv'"
    ) == [(1,)]
    text = report.to_text()
    assert "1 skipped as older" in text
    assert "skipped 1 row(s) older than the stored ones (updated_at), e.g. K1" in text


def test_blank_updated_at_applies_the_change_but_keeps_the_stored_time(store):
    # A row without a time is not known to be older ("older never overwrites newer" cannot
    # refuse it), so its change is applied and counted as changed-without-time; the blank
    # never erases the stored updated_at, and a blank time alone is no change at all.
    ingest_file(store, FIRST, table="contacts", file_name="first.csv")
    second = _csv(
        "contact_id,channel,opened_at,team,Updated at",
        "K1,phone,2026-03-05 10:00,CHANGED,",  # stored with a time: applied, time kept
        "K2,chat,2026-03-05 11:00,south,",  # same values, blank time: unchanged
        "K3,email,2026-03-05 12:00,CHANGED,",  # stored without a time: a plain update
    )
    report = ingest_file(store, second, table="contacts", file_name="second.csv")
    assert (report.inserted, report.updated, report.unchanged, report.skipped_older) == (
        0,
        2,
        1,
        0,
    )
    assert (report.updated_without_time, report.updated_without_time_examples) == (1, ["K1"])
    assert report.changes == {"team": 2}  # updated_at is not among the changed columns
    assert _rows(store, "SELECT contact_id, team, updated_at FROM contacts ORDER BY 1") == [
        ("K1", "CHANGED", datetime(2026, 3, 6, 10, 0)),
        ("K2", "south", datetime(2026, 3, 6, 10, 0)),
        ("K3", "CHANGED", None),
        ("K4", "east", datetime(2026, 3, 6, 10, 0)),
    ]
    assert "changed without a time: 1 row(s)" in report.to_text()
    assert report.to_dict()["updated_without_time"] == 1
    # The rule still holds afterwards: K1 keeps 2026-03-06, so an older row is skipped.
    third = _csv(
        "contact_id,channel,opened_at,team,Updated at", "K1,phone,2026-03-05 10:00,x,2026-03-01"
    )
    assert ingest_file(store, third, table="contacts", file_name="third.csv").skipped_older == 1


def test_equal_updated_at_is_not_older(store):
    ingest_file(store, FIRST, table="contacts", file_name="first.csv")
    same_time = _csv(
        "contact_id,channel,opened_at,team,updated_at",
        "K1,phone,2026-03-05 10:00,moved,2026-03-06 10:00",
    )
    report = ingest_file(store, same_time, table="contacts", file_name="same.csv")
    assert (report.updated, report.skipped_older) == (1, 0)


def test_updated_at_aliases_map_in_every_table():
    from metrics.ingest.mapping import resolve
    from metrics.schema import INGEST_TABLES

    for header in ("Updated at", "updated_at", "Last updated", "Uppdaterad"):
        frame = pl.DataFrame({header: ["2026-03-05"]})
        for table in INGEST_TABLES:
            assert resolve(table, frame, None).columns.get("updated_at") == header


def test_without_updated_at_changes_are_counted_per_column(store):
    ingest_file(store, FIRST, table="contacts", file_name="first.csv")
    changed = _csv(
        "contact_id,channel,opened_at,team",
        "K1,phone,2026-03-05 10:00,T1",  # team
        "K2,phone,2026-03-05 11:00,T1",  # team and channel
        "K3,email,2026-03-05 12:00,east",  # identical in the columns the file has
        "K4,email,2026-03-05 13:00,T1",  # team
    )
    report = ingest_file(store, changed, table="contacts", file_name="changed.csv")
    assert (report.updated, report.unchanged, report.skipped_older) == (3, 1, 0)
    assert report.changes == {"channel": 1, "team": 3}
    assert report.change_examples == {"channel": ["K2"], "team": ["K1", "K2", "K4"]}
    # The file had no updated_at: the stored ones are kept, not erased.
    assert _rows(store, "SELECT count(updated_at) FROM contacts") == [(3,)]
    assert "changed team in 3 row(s), e.g. K1, K2, K4" in report.to_text()
    stored = json.loads(
        _rows(store, "SELECT report FROM ingest_batches WHERE file_name = 'changed.csv'")[0][0]
    )
    assert stored["changes"] == {"channel": 1, "team": 3}


def test_insert_only_rejects_updates_and_loads_new_keys(store):
    ingest_file(store, FIRST, table="contacts", file_name="first.csv")
    before = _rows(store, "SELECT * FROM contacts ORDER BY contact_id")
    body = _csv(
        "contact_id,channel,opened_at,team",
        "K1,phone,2026-03-05 10:00,north",  # same values: unchanged
        "K2,email,2026-03-05 11:00,west",  # would change channel and team
        "K9,chat,2026-03-05 11:00,west",  # new
    )
    report = ingest_file(
        store, body, table="contacts", file_name="io.csv", insert_only=True, max_reject_share=1.0
    )
    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (1, 0, 1, 1)
    assert report.insert_only
    assert report.reasons == [
        {
            "row_number": 2,
            "column": "channel, team",
            "reason": "K2 is already stored with a different channel, team; "
            "--insert-only refuses updates",
        }
    ]
    after = _rows(store, "SELECT * FROM contacts WHERE contact_id <> 'K9' ORDER BY contact_id")
    assert after == before
    raw = _rows(store, "SELECT row_number, raw FROM rejected_rows")
    assert raw[0][0] == 2 and json.loads(raw[0][1])["team"] == "west"


def test_insert_only_cli_flag(tmp_path, capsys):
    db, path = tmp_path / "cx.duckdb", tmp_path / "c.csv"
    path.write_bytes(FIRST)
    assert main(["init", "--db", str(db)]) == 0
    assert main(["ingest", str(path), "--table", "contacts", "--db", str(db)]) == 0
    path.write_bytes(_csv("contact_id,channel,opened_at", "K1,sms,2026-03-05 10:00"))
    capsys.readouterr()
    args = ["ingest", str(path), "--table", "contacts", "--db", str(db), "--insert-only"]
    args += ["--max-reject-share", "1"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["updated"], out["rejected"], out["insert_only"]) == (0, 1, True)
    with open_store(db) as s:
        assert _rows(s, "SELECT channel FROM contacts WHERE contact_id = 'K1'") == [("phone",)]


def _experiments(store: Store) -> None:
    with store.write() as cur:
        cur.execute(
            "INSERT INTO experiments (experiment_id, name, primary_metric, status) VALUES "
            "('E_RUN', 'running one', 'csat', 'running'), "
            "('E_DRAFT', 'draft one', 'csat', 'draft'), "
            "('E_DONE', 'decided one', 'csat', 'decided')"
        )


ASSIGN = _csv(
    "experiment_id,unit_id,variant,assigned_at",
    "E_RUN,U1,control,2026-03-01 10:00",
    "E_RUN,U2,treatment,2026-03-01 10:00",
    "E_DRAFT,U1,control,2026-03-01 10:00",
    "E_DONE,U1,control,2026-03-01 10:00",
)


def test_assignments_of_running_or_decided_experiment_are_immutable(store):
    _experiments(store)
    ingest_file(store, ASSIGN, table="assignments", file_name="a1.csv")
    body = _csv(
        "experiment_id,unit_id,variant,assigned_at",
        "E_RUN,U1,treatment,2026-03-01 10:00",  # variant change, running: rejected
        "E_RUN,U2,treatment,2026-03-02 10:00",  # same variant, new time: updated
        "E_RUN,U3,control,2026-03-02 10:00",  # new unit: inserted
        "E_DRAFT,U1,treatment,2026-03-01 10:00",  # draft: may change
        "E_DONE,U1,treatment,2026-03-01 10:00",  # decided: rejected
    )
    report = ingest_file(store, body, table="assignments", file_name="a2.csv", max_reject_share=1.0)
    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (1, 2, 0, 2)
    assert report.reasons == [
        {
            "row_number": 1,
            "column": "variant",
            "reason": "experiment E_RUN is running: unit U1 is assigned to variant 'control', "
            "the file says 'treatment'; assignments of a running or decided experiment "
            "cannot change",
        },
        {
            "row_number": 5,
            "column": "variant",
            "reason": "experiment E_DONE is decided: unit U1 is assigned to variant 'control', "
            "the file says 'treatment'; assignments of a running or decided experiment "
            "cannot change",
        },
    ]
    assert _rows(
        store, "SELECT experiment_id, unit_id, variant FROM assignments ORDER BY 1, 2"
    ) == [
        ("E_DONE", "U1", "control"),
        ("E_DRAFT", "U1", "treatment"),
        ("E_RUN", "U1", "control"),
        ("E_RUN", "U2", "treatment"),
        ("E_RUN", "U3", "control"),
    ]


def _stage(cur, frame: pl.DataFrame) -> None:
    cur.register("__src", frame)
    cur.execute("CREATE OR REPLACE TEMP TABLE s AS SELECT * FROM __src")
    cur.unregister("__src")


def test_merge_stage_result_and_history(store):
    ingest_file(store, FIRST, table="contacts", file_name="first.csv")
    frame = pl.DataFrame(
        {
            "__row": [1, 2, 3],
            "contact_id": ["K1", "K2", "K7"],
            "team": ["north", "moved", "new"],
            "updated_at": [datetime(2026, 3, 1), datetime(2026, 3, 9), None],
            "batch_id": ["B"] * 3,
        }
    )
    # K7 is new but the stage has no channel: the table's NOT NULL still holds, and the
    # database's own error comes through (not one about the cleanup after it).
    with pytest.raises(Exception, match="NOT NULL"), store.write() as cur:
        _stage(cur, frame)
        merge_stage(cur, "contacts", "s", "B")
    frame = frame.filter(pl.col("contact_id") != "K7")
    with store.write() as cur:
        cur.execute(
            "INSERT INTO ingest_batches (batch_id, table_name, file_name, checksum, "
            "started_at) VALUES ('B', 'contacts', 'x', 'x', now())"
        )
        _stage(cur, frame)
        result = merge_stage(cur, "contacts", "s", "B")
    assert (result.inserted, result.updated, result.unchanged, result.skipped_older) == (0, 1, 0, 1)
    assert result.changes == {"team": 1, "updated_at": 1}
    assert result.rejected.columns == ["__row", "column_name", "reason"]
    assert result.rejected.height == 0
    # The previous version of the updated row is in the history, every column.
    hist = _rows(
        store,
        "SELECT hist_op, contact_id, team, batch_id FROM contacts_history WHERE hist_batch = 'B'",
    )
    first_batch = _rows(store, "SELECT batch_id FROM ingest_batches WHERE file_name = 'first.csv'")
    assert hist == [("update", "K2", "south", first_batch[0][0])]


def test_refused_rows_keep_personal_data_hashed(store):
    head = "contact_id,channel,opened_at,Requester email"
    first = _csv(head, "K1,phone,2026-03-05 10:00,anna@example.se")
    ingest_file(store, first, table="contacts", file_name="a.csv")
    again = _csv(head, "K1,chat,2026-03-05 10:00,anna@example.se")
    report = ingest_file(
        store, again, table="contacts", file_name="b.csv", insert_only=True, max_reject_share=1.0
    )
    assert report.rejected == 1
    (raw,) = _rows(store, "SELECT CAST(raw AS VARCHAR) FROM rejected_rows")[0]
    value = json.loads(raw)["Requester email"]
    assert "@" not in raw and len(value) == 64  # the HMAC-SHA256, as in extras
    (extras,) = _rows(store, "SELECT CAST(extras AS VARCHAR) FROM contacts")[0]
    assert json.loads(extras)["Requester email"] == value
