"""Shared fixtures: a fresh store per test, and one small seeded sample world per session."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from metrics.store import Store, open_store

# The one seeded fixture world (STYLE.md): small scale, fixed seed and end date.
SAMPLE_KW = dict(customers=3000, months=12, seed=7, end=date(2026, 10, 1))


@pytest.fixture(autouse=True)
def pii_key_file(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own personal-data key file path (created on first use), never the
    user's ~/.config/cx-console/pii.key; subprocesses inherit it through the environment."""
    path = tmp_path_factory.mktemp("pii") / "pii.key"
    monkeypatch.setenv("CX_PII_KEY_FILE", str(path))
    monkeypatch.delenv("CX_PII_KEY", raising=False)
    return path


def old_store(path: Path, version: int, data_version: int = 1) -> duckdb.DuckDBPyConnection:
    """A store file as schema `version` left it (its first `version` migrations and its
    store_meta), open for the test to add rows; open_store migrates it after close()."""
    from metrics.schema import MIGRATIONS

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value BIGINT)")
    con.execute(
        "INSERT INTO store_meta VALUES ('schema_version', ?), ('data_version', ?)",
        [version, data_version],
    )
    for sql in MIGRATIONS[:version]:
        con.execute(sql)
    return con


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(tmp_path / "cx.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a store filled by the sample generator at test scale (built once per worker)."""
    from sample_data.generator import generate

    path = tmp_path_factory.mktemp("sample") / "cx.duckdb"
    with open_store(path) as s:
        generate(s, **SAMPLE_KW)
    return path


@pytest.fixture
def sample_store(sample_db: Path, tmp_path: Path) -> Store:
    """A private copy of the sample store, so a test may write to it."""
    import shutil

    path = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, path)
    s = open_store(path)
    yield s
    s.close()


def start_page(page: Path, db: Path, monkeypatch: pytest.MonkeyPatch, *, errors_ok: bool = False):
    """Run one page (or the router) with AppTest on the store at `db`, from clean caches.

    Asserts the first render raised nothing and, unless errors_ok, showed no st.error.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CX_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(page), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    if not errors_ok:
        assert not at.error, [e.value for e in at.error]
    return at
