"""Store: schema version, migrations, transactions and the data version."""

from __future__ import annotations

import threading

import pytest

from metrics.schema import INGEST_TABLES, SCHEMA_VERSION
from metrics.store import Store, StoreError, open_store


def test_store_new_file_is_migrated_to_current_version(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    tables = {
        r[0]
        for r in store.cursor()
        .execute("SELECT table_name FROM information_schema.tables")
        .fetchall()
    }
    assert set(INGEST_TABLES) <= tables
    assert {"experiments", "ingest_batches", "rejected_rows", "targets", "model_cache"} <= tables


def test_store_reopen_keeps_data_and_version(tmp_path) -> None:
    path = tmp_path / "cx.duckdb"
    with open_store(path) as s, s.write() as cur:
        cur.execute("INSERT INTO targets (kpi, target) VALUES ('nps', 20)")
    with open_store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.data_version() == 1
        assert s.cursor().execute("SELECT target FROM targets").fetchall() == [(20.0,)]


def test_store_failed_write_rolls_back_everything(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write() as cur:
        cur.execute("INSERT INTO targets (kpi, target) VALUES ('nps', 20)")
        raise RuntimeError("crash mid-write")
    assert store.cursor().execute("SELECT count(*) FROM targets").fetchall() == [(0,)]
    assert store.data_version() == 0


def test_store_newer_schema_is_refused(tmp_path) -> None:
    path = tmp_path / "cx.duckdb"
    with open_store(path) as s:
        s.cursor().execute("UPDATE store_meta SET value = 99 WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99, newer than"):
        open_store(path)


def test_store_concurrent_writers_serialise_without_lock_errors(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for j in range(20):
                with store.write() as cur:
                    cur.execute("INSERT INTO settings VALUES (?, ?)", [f"k{i}-{j}", "1"])
            store.cursor().execute("SELECT count(*) FROM settings").fetchall()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.cursor().execute("SELECT count(*) FROM settings").fetchall() == [(80,)]
    assert store.data_version() == 80


def test_store_version_file_follows_data_writes_not_bookkeeping(tmp_path) -> None:
    from metrics.store import version_file

    path = tmp_path / "cx.duckdb"
    with open_store(path, shared=True) as s:
        assert version_file(path).read_text().strip() == "0"
        with s.write() as cur:
            cur.execute("INSERT INTO targets (kpi, target) VALUES ('nps', 20)")
        assert version_file(path).read_text().strip() == "1"
        with s.write(bump_version=False) as cur:
            cur.execute("INSERT INTO settings VALUES ('x', '1')")
        assert version_file(path).read_text().strip() == "1"
        assert s.data_version() == 1 == s._meta("data_version")


def test_store_stale_version_file_is_corrected_on_open(tmp_path) -> None:
    from metrics.store import version_file

    path = tmp_path / "cx.duckdb"
    with open_store(path) as s, s.write() as cur:
        cur.execute("INSERT INTO targets (kpi, target) VALUES ('nps', 20)")
    version_file(path).write_text("7\n")  # e.g. left by an older file at the same path
    with open_store(path, shared=True) as s:
        assert s.data_version() == 1


def test_store_foreign_duckdb_file_is_refused_untouched(tmp_path) -> None:
    import hashlib

    import duckdb

    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for shared in (False, True):
        with pytest.raises(StoreError, match="not a CX Console store"):
            open_store(path, shared=shared)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_store_missing_path_is_not_created_unless_asked(tmp_path) -> None:
    path = tmp_path / "sub" / "cx.duckdb"
    with pytest.raises(StoreError, match="no store at .*cx init"):
        open_store(path, shared=True, create=False)
    assert not path.parent.exists()


def _app_on(db, monkeypatch):
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CX_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    return AppTest.from_file(str(app), default_timeout=120).run()


def test_app_missing_store_says_how_to_create_one(tmp_path, monkeypatch) -> None:
    at = _app_on(tmp_path / "missing.duckdb", monkeypatch)
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"The data store cannot be used: no store at {tmp_path / 'missing.duckdb'}; create one "
        "with `cx init` (empty) or `cx sample` (demo data), or point --db / CX_DB at an "
        "existing store"
    ]
    assert not (tmp_path / "missing.duckdb").exists()


def test_app_file_that_is_not_a_store_shows_a_sentence(tmp_path, monkeypatch) -> None:
    db = tmp_path / "cx.duckdb"
    db.write_text("id,amount\n1,2\n", encoding="utf-8")
    at = _app_on(db, monkeypatch)
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"The data store cannot be used: {db} is not a DuckDB database file (so not a CX "
        "Console store)"
    ]


def test_v10_rebuilds_the_ingest_tables_without_key_index_rows_and_rules_kept(tmp_path) -> None:
    """A V9 store's ingest tables come back with the same rows, columns (names, types,
    order) and rules (NOT NULL, CHECK), keys NOT NULL, and no PRIMARY KEY (schema V10)."""
    import duckdb
    from conftest import old_store

    path = tmp_path / "v9.duckdb"
    con = old_store(path, 9)
    con.execute("INSERT INTO customers (customer_id, segment) VALUES ('a', 'consumer')")
    con.execute(
        "INSERT INTO contacts (contact_id, customer_id, channel, issue_type, opened_at, "
        "next_gap_s, updated_at) VALUES ('k1', 'a', 'phone', 'billing', "
        "TIMESTAMP '2026-03-01 08:00', 3600, TIMESTAMP '2026-03-02 08:00')"
    )
    con.execute(
        "INSERT INTO surveys (response_id, contact_id, answered_at, nps, contact_channel) "
        "VALUES ('r1', 'k1', TIMESTAMP '2026-03-01 09:00', 10, 'phone')"
    )
    con.execute(
        "INSERT INTO invoices (invoice_id, customer_id, issued_at, amount) "
        "VALUES ('i1', 'a', DATE '2026-03-01', 99.5)"
    )
    con.execute(
        "INSERT INTO assignments (experiment_id, unit_id, variant, assigned_at) "
        "VALUES ('E1', 'a', 'control', TIMESTAMP '2026-03-01 00:00')"
    )
    before = {
        t: (con.execute(f"DESCRIBE {t}").fetchall(), con.execute(f"FROM {t}").fetchall())
        for t in INGEST_TABLES
    }
    keyed = con.execute(
        "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
    ).fetchall()
    assert set(INGEST_TABLES) <= {r[0] for r in keyed}  # what V10 changes
    con.close()
    open_store(path).close()  # migrates

    con = duckdb.connect(str(path))
    for table, keys in INGEST_TABLES.items():
        columns, rows = before[table]
        described = con.execute(f"DESCRIBE {table}").fetchall()
        assert [c[:2] for c in described] == [c[:2] for c in columns], table
        assert con.execute(f"FROM {table}").fetchall() == rows, table
        kinds = con.execute(
            "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
            "WHERE table_name = ?",
            [table],
        ).fetchall()
        assert "PRIMARY KEY" not in {k for k, _ in kinds}, table
        not_null = {cs[0] for k, cs in kinds if k == "NOT NULL"}
        assert set(keys) <= not_null, table
    with pytest.raises(duckdb.ConstraintException):
        con.execute(
            "INSERT INTO contacts (contact_id, channel, opened_at) VALUES (NULL, 'x', now())"
        )
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO surveys (response_id, answered_at, nps) VALUES ('r2', now(), 11)")
    with pytest.raises(duckdb.ConstraintException):
        con.execute(
            "INSERT INTO invoices (invoice_id, issued_at, amount) VALUES ('i2', today(), 1)"
        )
    con.close()
