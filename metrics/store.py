"""The embedded DuckDB store: where it lives, its schema version, and safe concurrent access."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from metrics.schema import MIGRATIONS, SCHEMA_VERSION

DEFAULT_DB = Path("data") / "cx.duckdb"


class StoreError(RuntimeError):
    """A problem with the store a person can act on (locked by another program, too new, ...)."""


def default_db_path() -> Path:
    """`CX_DB` when set, else data/cx.duckdb relative to the working directory."""
    return Path(os.environ.get("CX_DB") or DEFAULT_DB)


class Store:
    """One DuckDB database opened once per process.

    DuckDB allows one read-write process per file; inside it, any number of threads may
    read through their own cursors. Writes take a process-wide lock and run in one
    transaction, so Streamlit's threads never see "database is locked" or half a write.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False):
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        if str(self.path) != ":memory:" and not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:
            raise StoreError(
                f"cannot open the store {self.path}: {exc}. Another program (the app or a "
                "`cx` command) may hold it open for writing; close it and try again."
            ) from exc
        self._write_lock = threading.RLock()
        self._local = threading.local()
        if not read_only:
            self.migrate()

    # -- access ---------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor owned by the calling thread (DuckDB cursors are not shared across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
        return cur

    @contextmanager
    def write(self, *, bump_version: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """One writer at a time, in one transaction; any exception rolls everything back.

        Every committed write bumps the data version, which keys the app's caches, except
        bookkeeping writes (bump_version=False: model_cache progress and results), which
        must not make the data they were computed from look changed.
        """
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        with self._write_lock:
            cur = self._con.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
                if bump_version:
                    cur.execute(
                        "UPDATE store_meta SET value = value + 1 WHERE key = 'data_version'"
                    )
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()

    def data_version(self) -> int:
        """Counter bumped by every committed write; cache keys include it."""
        return self._meta("data_version")

    def schema_version(self) -> int:
        return self._meta("schema_version")

    def _meta(self, key: str) -> int:
        # fetchall, not fetchone: duckdb 2 refuses new work on a cursor with unread results.
        rows = self.cursor().execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchall()
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        self._con.close()

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the file to SCHEMA_VERSION, one migration per transaction."""
        with self._write_lock:
            con = self._con
            con.execute(
                "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value BIGINT)"
            )
            con.execute(
                "INSERT INTO store_meta VALUES ('schema_version', 0), ('data_version', 0) "
                "ON CONFLICT DO NOTHING"
            )
            current = self.schema_version()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the store {self.path} has schema version {current}, newer than this "
                    f"program's {SCHEMA_VERSION}; upgrade CX Console"
                )
            for version in range(current, SCHEMA_VERSION):
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(MIGRATIONS[version])
                    con.execute(
                        "UPDATE store_meta SET value = ? WHERE key = 'schema_version'",
                        [version + 1],
                    )
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Store:
    """Open (and migrate) the store at `path`, `CX_DB`, or data/cx.duckdb."""
    return Store(path, read_only=read_only)
