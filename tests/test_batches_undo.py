"""Undo of ingest batches: exact round trip, refusal when later batches touched the rows, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import old_store, start_page

from dashboard.cli.main import main
from dashboard.safe_text import md_escape
from metrics.auth import current_actor
from metrics.ingest import ingest_file
from metrics.ingest.batches import BatchError, LaterBatchesError, list_batches, undo_batch
from metrics.schema import INGEST_TABLES, MIGRATIONS
from metrics.store import Store, open_store

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "data.py"


def _rows(store: Store, sql: str, params: list | None = None) -> list[tuple]:
    return store.cursor().execute(sql, params or []).fetchall()


def _table(store: Store, table: str) -> list[tuple]:
    """Every column of every row, in key order: what 'exactly the state before' compares."""
    keys = ", ".join(INGEST_TABLES[table])
    return _rows(store, f"SELECT * FROM {table} ORDER BY {keys}")


def _csv(header: str, *rows: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _file_from_store(store: Store, table: str, sql: str) -> bytes:
    """A CSV built from stored rows changed in SQL, plus new rows (written by polars)."""
    return store.cursor().sql(sql).pl().write_csv().encode()


# Each file updates some existing sample rows (with extras and updated_at, which the sample
# rows lack) and inserts new ones; assignments change assigned_at only, since the sample
# experiments are running and their variants are frozen.
ROUND_TRIPS = {
    "contacts": """
        SELECT contact_id, channel, opened_at, 'moved' AS team, 'x' AS "Note",
               TIMESTAMP '2026-10-02 00:00' AS updated_at
        FROM (SELECT * FROM contacts ORDER BY contact_id LIMIT 40)
        UNION ALL
        SELECT 'NEW' || i, 'chat', TIMESTAMP '2026-09-01 10:00', 'north', 'y', NULL
        FROM range(5) t(i)""",
    "customers": """
        SELECT customer_id, 'Enterprise' AS segment, monthly_revenue * 2 AS monthly_revenue,
               'z' AS "Loyalty"
        FROM (SELECT * FROM customers ORDER BY customer_id LIMIT 30)
        UNION ALL
        SELECT 'CNEW' || i, 'SMB', 10.5, NULL FROM range(3) t(i)""",
    "surveys": """
        SELECT response_id, contact_id, answered_at, 10 - coalesce(nps, 5) AS nps,
               'changed' AS comment, TIMESTAMP '2026-10-02 00:00' AS "Updated at"
        FROM (SELECT * FROM surveys ORDER BY response_id LIMIT 30)
        UNION ALL
        SELECT 'RNEW' || i, NULL, TIMESTAMP '2026-09-01 10:00', 9, 'new', NULL
        FROM range(3) t(i)""",
    "invoices": """
        SELECT invoice_id, customer_id, issued_at, amount + 1 AS amount, 'x' AS "Ref"
        FROM (SELECT * FROM invoices ORDER BY invoice_id LIMIT 30)
        UNION ALL
        SELECT 'INEW' || i, 'C00000001', DATE '2026-09-01', 99.5, NULL FROM range(3) t(i)""",
    "assignments": """
        SELECT experiment_id, unit_id, variant, assigned_at + INTERVAL 1 HOUR AS assigned_at
        FROM (SELECT * FROM assignments ORDER BY experiment_id, unit_id LIMIT 25)
        UNION ALL
        SELECT (SELECT min(experiment_id) FROM experiments), 'UNEW' || i, 'control',
               TIMESTAMP '2026-09-01 10:00'
        FROM range(4) t(i)""",
}


@pytest.mark.parametrize("table", sorted(ROUND_TRIPS))
def test_undo_restores_exactly_the_state_before(sample_store, table):
    before = _table(sample_store, table)
    body = _file_from_store(sample_store, table, ROUND_TRIPS[table])
    report = ingest_file(sample_store, body, table=table, file_name=f"{table}.csv")
    assert report.inserted > 0 and report.updated > 0 and report.rejected == 0
    assert _table(sample_store, table) != before
    version = sample_store.data_version()

    result = undo_batch(sample_store, report.batch_id)

    assert (result.removed, result.restored) == (report.inserted, report.updated)
    assert _table(sample_store, table) == before  # every column, extras and batch_id included
    assert sample_store.data_version() == version + 1
    listed = list_batches(sample_store).row(0, named=True)
    assert (listed["batch_id"], listed["status"]) == (report.batch_id, "undone")
    # undone_by defaults to the acting person (here the test's process user, metrics.auth).
    assert listed["undone_at"] is not None and listed["undone_by"] == current_actor().name


def test_undo_after_update_of_own_rows_and_changed_extras(store):
    """A batch that updated rows an earlier batch loaded comes back to that batch's version."""
    first = _csv("contact_id,channel,opened_at,Note", "K1,phone,2026-03-05 10:00,a")
    second = _csv("contact_id,channel,opened_at,Other", "K1,chat,2026-03-05 10:00,b")
    a = ingest_file(store, first, table="contacts", file_name="a.csv")
    after_a = _table(store, "contacts")
    b = ingest_file(store, second, table="contacts", file_name="b.csv")
    assert _rows(store, "SELECT channel, CAST(extras AS VARCHAR), batch_id FROM contacts") == [
        ("chat", '{"Other":"b"}', b.batch_id)
    ]
    undo_batch(store, b.batch_id)
    assert _table(store, "contacts") == after_a
    # batch_id column restored too (by name: later migrations append columns, e.g. V6's gaps)
    assert _rows(store, "SELECT batch_id FROM contacts") == [(a.batch_id,)]


def _load(store: Store, name: str, *rows: str) -> str:
    body = _csv("contact_id,channel,opened_at,team", *rows)
    return ingest_file(store, body, table="contacts", file_name=name).batch_id


def test_undo_refused_with_the_later_batches_that_touched_its_rows(store):
    empty = _table(store, "contacts")
    a = _load(store, "a.csv", "K1,phone,2026-03-05 10:00,t", "K2,phone,2026-03-05 10:00,t")
    b = _load(store, "b.csv", "K1,phone,2026-03-05 10:00,b")  # updates a row of a
    c = _load(store, "c.csv", "K2,phone,2026-03-05 10:00,c")  # updates the other row of a
    d = _load(store, "d.csv", "K1,phone,2026-03-05 10:00,d")  # updates b's version of K1
    e = _load(store, "e.csv", "K9,phone,2026-03-05 10:00,e")  # unrelated row
    _load(store, "f.csv", "K1,phone,2026-03-05 10:00,d")  # identical: touches nothing

    with pytest.raises(LaterBatchesError) as err:
        undo_batch(store, a)
    assert err.value.later == [b, c, d]
    assert f"later batch(es) {b}, {c}, {d} changed rows it loaded" in str(err.value)
    with pytest.raises(LaterBatchesError) as err:
        undo_batch(store, b)
    assert err.value.later == [d]
    assert _rows(store, "SELECT count(*) FROM ingest_batches WHERE status = 'undone'") == [(0,)]

    # Undone later batches no longer block: undo d, then b, c and a; e stays.
    for batch in (d, b, c, a):
        undo_batch(store, batch)
    assert _rows(store, "SELECT contact_id, team, batch_id FROM contacts") == [("K9", "e", e)]
    undo_batch(store, e)
    assert _table(store, "contacts") == empty


def test_undo_twice_and_unknown_batch_are_clear(store):
    a = _load(store, "a.csv", "K1,phone,2026-03-05 10:00,t")
    undo_batch(store, a, by="tester")
    with pytest.raises(
        BatchError, match=rf"batch {a} \(a.csv\) was already undone at .* by tester"
    ):
        undo_batch(store, a)
    with pytest.raises(BatchError, match="no batch 'nope'; expected an id from `cx batches list`"):
        undo_batch(store, "nope")


def test_failed_ingest_leaves_no_history(store, monkeypatch):
    import metrics.ingest.load as load_module

    def boom(*args, **kwargs):
        raise RuntimeError("injected")

    monkeypatch.setattr(load_module, "_finish", boom)  # after the merge wrote its history
    with pytest.raises(RuntimeError):
        _load(store, "a.csv", "K1,phone,2026-03-05 10:00,t")
    assert _rows(store, "SELECT count(*) FROM contacts_history") == [(0,)]
    assert _rows(store, "SELECT count(*) FROM ingest_batches") == [(0,)]


def test_cli_batches_list_and_undo_json(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    path = tmp_path / "c.csv"
    path.write_bytes(_csv("contact_id,channel,opened_at", "K1,phone,2026-03-05 10:00"))
    assert main(["init", "--db", str(db)]) == 0
    assert main(["ingest", str(path), "--table", "contacts", "--db", str(db)]) == 0
    path.write_bytes(_csv("contact_id,channel,opened_at", "K1,chat,2026-03-05 10:00"))
    assert main(["ingest", str(path), "--table", "contacts", "--db", str(db)]) == 0
    capsys.readouterr()

    assert main(["batches", "list", "--db", str(db), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(b["seq"], b["inserted"], b["updated"], b["status"]) for b in listed] == [
        (2, 0, 1, "loaded"),
        (1, 1, 0, "loaded"),
    ]
    newest, oldest = listed[0]["batch_id"], listed[1]["batch_id"]

    assert main(["batches", "undo", oldest, "--db", str(db), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"later batch(es) {newest} changed rows it loaded" in err

    assert main(["batches", "undo", newest, "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["batch_id"], out["removed"], out["restored"]) == (newest, 0, 1)
    assert out["undone_by"].startswith("cli:")
    assert main(["batches", "undo", newest, "--db", str(db)]) == 2
    assert "was already undone" in capsys.readouterr().err

    assert main(["batches", "list", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "undone" in text and "loaded" in text
    with open_store(db) as s:
        assert _rows(s, "SELECT channel FROM contacts") == [("phone",)]


def test_store_from_schema_1_migrates_and_old_batches_cannot_be_undone(tmp_path):
    db = tmp_path / "v1.duckdb"
    con = old_store(db, 1, data_version=3)
    con.execute(
        "INSERT INTO contacts (contact_id, channel, opened_at, batch_id) "
        "VALUES ('K1', 'phone', TIMESTAMP '2026-03-05 10:00', 'OLD')"
    )
    con.execute(
        "INSERT INTO ingest_batches (batch_id, table_name, file_name, checksum, started_at) "
        "VALUES ('OLD', 'contacts', 'old.csv', 'x', TIMESTAMP '2026-03-05 11:00')"
    )
    con.close()
    with open_store(db) as store:
        assert store.schema_version() == len(MIGRATIONS)
        for table in INGEST_TABLES:
            cols = [r[0] for r in _rows(store, f"DESCRIBE {table}_history")]
            table_cols = [r[0] for r in _rows(store, f"DESCRIBE {table}")]
            assert cols == ["hist_batch", "hist_op", *table_cols] and "updated_at" in table_cols
        assert _rows(store, "SELECT seq, status, history_kept FROM ingest_batches") == [
            (1, "loaded", False)
        ]
        with pytest.raises(BatchError, match="loaded before undo history was kept"):
            undo_batch(store, "OLD")
        new = _load(store, "new.csv", "K1,chat,2026-03-05 10:00,t")
        assert _rows(store, "SELECT seq FROM ingest_batches WHERE batch_id = ?", [new]) == [(2,)]
        undo_batch(store, new)
        assert _rows(store, "SELECT channel, batch_id, updated_at FROM contacts") == [
            ("phone", "OLD", None)
        ]


def test_data_page_undo_with_confirmation(sample_store, monkeypatch):
    body = _csv("contact_id,channel,opened_at", "PAGE1,phone,2026-03-05 10:00")
    report = ingest_file(sample_store, body, table="contacts", file_name="page.csv")
    at = start_page(PAGE, sample_store.path, monkeypatch)
    assert at.selectbox(key="data_undo_batch").value == report.batch_id
    button = next(b for b in at.button if b.key == "data_undo")
    assert button.disabled  # nothing happens before the confirmation is ticked
    at.checkbox(key="data_undo_confirm").check().run()
    next(b for b in at.button if b.key == "data_undo").click().run()
    assert not at.exception and not at.error
    # An alert renders Markdown: the file name comes escaped, so it shows as typed.
    assert at.success[0].value == (
        f"Undid batch {md_escape(report.batch_id)} (page\\.csv → contacts): removed 1 inserted row(s), "
        "restored 0 updated row(s)"
    )
    assert _rows(sample_store, "SELECT count(*) FROM contacts WHERE contact_id = 'PAGE1'") == [(0,)]
    history = at.dataframe[0].value
    assert history.loc[history["batch_id"] == report.batch_id, "status"].tolist() == ["undone"]
    assert not [s for s in at.selectbox if s.key == "data_undo_batch"]  # nothing left to undo


def test_data_page_undo_shows_a_markdown_file_name_as_typed(sample_store, monkeypatch):
    """The success alert renders Markdown: a file named like a link or an image stays text."""
    name = "![x](http://evil.example/i.png)[click](http://evil.example).csv"
    body = _csv("contact_id,channel,opened_at", "PAGE1,phone,2026-03-05 10:00")
    ingest_file(sample_store, body, table="contacts", file_name=name)
    at = start_page(PAGE, sample_store.path, monkeypatch)
    at.checkbox(key="data_undo_confirm").check().run()
    next(b for b in at.button if b.key == "data_undo").click().run()
    shown = at.success[0].value
    assert md_escape(name) in shown
    # No unescaped link or image syntax is left for the Markdown renderer.
    assert "](" not in shown.replace("\\]\\(", "") and "![" not in shown


def test_data_page_asks_again_for_each_undo(sample_store, monkeypatch):
    for name in ("p1.csv", "p2.csv"):
        body = _csv("contact_id,channel,opened_at", f"{name[:2].upper()},phone,2026-03-05 10:00")
        ingest_file(sample_store, body, table="contacts", file_name=name)
    at = start_page(PAGE, sample_store.path, monkeypatch)
    at.checkbox(key="data_undo_confirm").check().run()
    next(b for b in at.button if b.key == "data_undo").click().run()
    assert not at.exception and md_escape("p2.csv") in at.success[0].value
    assert not at.checkbox(key="data_undo_confirm").value
    assert next(b for b in at.button if b.key == "data_undo").disabled


def test_list_batches_columns(store):
    _load(store, "a.csv", "K1,phone,2026-03-05 10:00,t")
    frame = list_batches(store)
    assert isinstance(frame, pl.DataFrame) and frame.height == 1
    assert {"batch_id", "status", "skipped_older", "undone_at", "undoable"} <= set(frame.columns)


def test_undo_of_a_batch_merged_in_two_chunks(store):
    """A key merged twice under one batch (streamed chunks) is undone to its state before it."""
    from datetime import datetime

    from metrics.ingest.merge import merge_stage

    _load(store, "a.csv", "J1,phone,2026-03-05 10:00,t")
    before = _table(store, "contacts")
    opened = datetime(2026, 3, 5, 10)

    def chunk(cur, rows: list[tuple[str, str]]) -> None:
        frame = pl.DataFrame(
            {
                "__row": list(range(1, len(rows) + 1)),
                "contact_id": [r[0] for r in rows],
                "channel": ["chat"] * len(rows),
                "opened_at": [opened] * len(rows),
                "team": [r[1] for r in rows],
                "batch_id": ["CH"] * len(rows),
            }
        )
        cur.register("__src", frame)
        cur.execute("CREATE OR REPLACE TEMP TABLE s AS SELECT * FROM __src")
        cur.unregister("__src")
        merge_stage(cur, "contacts", "s", "CH")

    with store.write() as cur:
        cur.execute(
            # seq and history_kept come from their defaults, as for any writer of batches
            "INSERT INTO ingest_batches (batch_id, table_name, file_name, checksum, started_at) "
            "VALUES ('CH', 'contacts', 'big.csv', 'x', now())"
        )
        chunk(cur, [("J1", "first"), ("N1", "first")])
        chunk(cur, [("J1", "second"), ("N1", "second")])
    assert _rows(store, "SELECT team FROM contacts ORDER BY 1") == [("second",), ("second",)]
    result = undo_batch(store, "CH")
    assert (result.removed, result.restored) == (1, 1)
    assert _table(store, "contacts") == before


def test_undo_never_changes_variants_of_a_running_experiment(store):
    with store.write() as cur:
        cur.execute(
            "INSERT INTO experiments (experiment_id, name, primary_metric, status) "
            "VALUES ('E1', 'e', 'csat', 'draft')"
        )
    head = "experiment_id,unit_id,variant,assigned_at"
    first = _csv(head, "E1,U1,control,2026-03-01 10:00")
    ingest_file(store, first, table="assignments", file_name="a.csv")
    moved = _csv(head, "E1,U1,treatment,2026-03-01 10:00", "E1,U2,control,2026-03-01 10:00")
    b = ingest_file(store, moved, table="assignments", file_name="b.csv")  # draft: may change
    assert b.updated == 1
    with store.write() as cur:
        cur.execute("UPDATE experiments SET status = 'running'")
    state = _table(store, "assignments")
    with pytest.raises(BatchError, match=r"would change the variant of units in E1 \(running: 1"):
        undo_batch(store, b.batch_id)
    assert _table(store, "assignments") == state
