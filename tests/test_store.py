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
