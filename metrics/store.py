"""The embedded DuckDB store: where it lives, its schema version, and access shared between processes."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from metrics.schema import MIGRATIONS, SCHEMA_VERSION

DEFAULT_DB = Path("data") / "cx.duckdb"
TIMEOUT_ENV = "CX_STORE_TIMEOUT"
DEFAULT_TIMEOUT_S = 60.0
# A person waiting on the store is told why after this long, not at once (most waits are
# a page render of a few hundred milliseconds).
NOTICE_AFTER_S = 1.5
# How often an idle shared connection is checked for holders that ended (dead threads).
_REAP_EVERY_S = 0.25


def quote_ident(name: str) -> str:
    """`name` as a quoted SQL identifier (a column or table named by a file or a mapping)."""
    return '"' + name.replace('"', '""') + '"'


log = logging.getLogger("cx.store")

WaitNotice = Callable[[str], None]


class StoreError(RuntimeError):
    """A problem with the store a person can act on (locked by another program, too new, ...)."""


class StoreBusyError(StoreError):
    """Another program held the store for longer than the wait allowed."""


def default_db_path() -> Path:
    """`CX_DB` when set, else data/cx.duckdb relative to the working directory."""
    return Path(os.environ.get("CX_DB") or DEFAULT_DB)


def store_timeout() -> float:
    """Seconds to wait for a store another program holds: $CX_STORE_TIMEOUT, else 60."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        raise StoreError(f"{TIMEOUT_ENV}={text!r} is not a number of seconds") from None
    if value < 0 or value != value:
        raise StoreError(f"{TIMEOUT_ENV}={text!r} must be zero or more seconds")
    return value


def version_file(path: Path) -> Path:
    """The side file holding the data version, so readers can key caches without opening the store."""
    return path.with_name(path.name + ".version")


def intent_file(path: Path) -> Path:
    """Where a process waiting to write leaves its pid, so readers let it in first."""
    return path.with_name(path.name + ".writer")


def _writer_waiting_elsewhere(path: Path) -> bool:
    # Without this, a steady stream of short reads (several people on the app) could keep
    # the file read-only for ever and a `cx ingest` would only ever time out.
    try:
        pid = int(intent_file(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False  # left by a writer that died
    except PermissionError:
        return True
    return True


def describe_store_error(exc: BaseException, path: str | os.PathLike[str] | None = None) -> str:
    """One sentence for a DuckDB or OS error met while using the store (no traceback)."""
    where = f"the store {path}" if path is not None else "the store"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = text.lower()
    if isinstance(exc, StoreError):
        return text
    if isinstance(exc, OSError) and exc.errno == 28 or "no space left" in low:
        return f"{where}: the disk is full (No space left on device); nothing was committed"
    if "corrupt database file" in low or "checksum" in low:
        return f"{where} is corrupt ({text}); restore it from a backup or re-create it"
    if "could not read enough bytes" in low or "truncated" in low:
        return f"{where} is truncated or incomplete ({text}); restore it from a backup"
    if "not a valid duckdb database" in low:
        return f"{where} is not a DuckDB database file"
    if "lock" in low and "conflicting" in low:
        return f"{where} is held by another program: {_holder(text)}"
    if isinstance(exc, OSError):
        if exc.filename:
            return f"cannot use {exc.filename}: {exc.strerror or text}"
        return exc.strerror or text  # not about a named file: do not blame the store
    return f"{where} could not be used: {text}"


def _holder(message: str) -> str:
    pid = re.search(r"\(PID (\d+)\)", message)
    return f"process {pid.group(1)}" if pid else "another process"


class _Shared:
    """The one DuckDB connection this process has on a file, and who is using it.

    DuckDB lets one process hold a file read-write, or any number read-only; inside one
    process every connection to a file must use the same mode. So a process keeps one
    connection per file, opened in the mode its first user needs and closed as soon as
    nobody holds it, which is what lets other processes in between.
    """

    def __init__(self, path: Path, *, private: bool = False):
        self.path = path
        self.private = private
        self.cond = threading.Condition(threading.RLock())
        self.write_lock = threading.RLock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.mode: str | None = None  # "ro" | "rw"
        self.gen = 0
        # holder key -> (thread or None for pins, count); a dead thread's hold is dropped.
        self.holders: dict[tuple, list] = {}
        self.writers_waiting = 0
        self._reaper: threading.Thread | None = None

    # -- holding ---------------------------------------------------------------------------
    def acquire(
        self,
        key: tuple,
        *,
        rw: bool,
        timeout: float,
        on_wait: WaitNotice | None,
        thread: threading.Thread | None,
        once: bool = False,
    ) -> tuple[duckdb.DuckDBPyConnection, int]:
        """Hold the connection (opening or switching its mode as needed) and return it."""
        deadline = time.monotonic() + timeout
        waiting_writer = False
        started = time.monotonic()
        noticed = False
        with self.cond:
            try:
                while True:
                    old = self.holders.get(key)
                    if old is not None and old[0] is not None and old[0] is not thread:
                        del self.holders[key]  # a thread id reused after its thread ended
                    held = key in self.holders
                    yield_to_writer = (
                        not rw
                        and not held
                        and self.mode != "rw"
                        and not self.private
                        and _writer_waiting_elsewhere(self.path)
                    )
                    if yield_to_writer:
                        pass  # wait below; a process waiting to write goes first
                    elif self.con is not None and (self.mode == "rw" or not rw):
                        if held or rw or self.writers_waiting == 0:
                            if held and once:
                                return self.con, self.gen
                            self.holders.setdefault(key, [thread, 0])[1] += 1
                            return self.con, self.gen
                    elif self.con is not None:  # read-only now, a writer needs read-write
                        self._prune()
                        if not self.holders:
                            self._close()
                            continue
                        if not waiting_writer:
                            waiting_writer = True
                            self.writers_waiting += 1
                    else:
                        self.con = _connect(self.path, rw=rw, deadline=deadline, on_wait=on_wait)
                        self.mode = "rw" if rw else "ro"
                        self.gen += 1
                        self._start_reaper()
                        continue
                    now = time.monotonic()
                    if now >= deadline:
                        if yield_to_writer:
                            raise StoreBusyError(
                                f"the store {self.path} stayed busy for {timeout:g} s: another "
                                "program was waiting to write to it; try again"
                            )
                        users = sorted({h[0].name for h in self.holders.values() if h[0]})
                        raise StoreBusyError(
                            f"the store {self.path} stayed busy for {timeout:g} s in this "
                            f"program ({', '.join(users) or 'another user'}); try again"
                        )
                    if on_wait and not noticed and now - started >= NOTICE_AFTER_S:
                        noticed = True
                        on_wait(
                            f"waiting for the store {self.path} "
                            + ("(another program is writing)" if yield_to_writer else "(in use)")
                        )
                    self.cond.wait(min(0.05 if yield_to_writer else _REAP_EVERY_S, deadline - now))
            finally:
                if waiting_writer:
                    self.writers_waiting -= 1
                    self.cond.notify_all()

    def release(self, key: tuple, *, all_counts: bool = False) -> None:
        with self.cond:
            entry = self.holders.get(key)
            if entry is None:
                return
            entry[1] = 0 if all_counts else entry[1] - 1
            if entry[1] <= 0:
                del self.holders[key]
            if not self.holders and not self.private:
                self._close()
            self.cond.notify_all()

    def _prune(self) -> None:
        for key, (thread, _count) in list(self.holders.items()):
            if thread is not None and not thread.is_alive():
                del self.holders[key]

    def _close(self) -> None:
        if self.con is not None:
            try:
                self.con.close()
            except duckdb.Error as exc:  # an invalidated database still lets go of the file
                log.warning("closing %s: %s", self.path, exc)
            self.con = None
            self.mode = None
            self.cond.notify_all()

    def _start_reaper(self) -> None:
        # Streamlit runs each rerun on a new thread; one that ended without releasing must
        # not keep the file from other programs.
        if self.private or (self._reaper is not None and self._reaper.is_alive()):
            return
        self._reaper = threading.Thread(
            target=self._reap, name=f"cx-store-reaper:{self.path.name}", daemon=True
        )
        self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(_REAP_EVERY_S)
            with self.cond:
                if self.con is None:
                    self._reaper = None
                    return
                before = len(self.holders)
                self._prune()
                if not self.holders:
                    self._close()
                elif len(self.holders) != before:
                    self.cond.notify_all()


_REGISTRY: dict[str, _Shared] = {}
_REGISTRY_LOCK = threading.Lock()


def _shared_for(path: Path) -> _Shared:
    if str(path) == ":memory:":
        return _Shared(path, private=True)
    key = os.path.realpath(path)
    with _REGISTRY_LOCK:
        entry = _REGISTRY.get(key)
        if entry is None:
            entry = _REGISTRY[key] = _Shared(path)
        return entry


# DuckDB's window_self_join rewrite answers a window aggregate over a partition (the KPI
# mix's SUM(SUM(..)) OVER (PARTITION BY window), an ingest's count(*) OVER (PARTITION BY key))
# by running the window's whole input twice, scan and grouping included, and joining the two:
# the Overview's channel-mix statement cost 54 ms CPU with it, 28 ms without (1M customers).
DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "disabled_optimizers": "window_self_join"
}


def _connect(
    path: Path, *, rw: bool, deadline: float, on_wait: WaitNotice | None
) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying while another process holds a conflicting lock."""
    started = time.monotonic()
    delay = 0.02
    noticed = False
    intent = intent_file(path)
    mine = f"{os.getpid()}\n"
    try:
        while True:
            try:
                return duckdb.connect(str(path), read_only=not rw, config=DUCKDB_CONFIG)
            except duckdb.IOException as exc:
                message = str(exc)
                if "lock" not in message.lower():
                    raise StoreError(describe_store_error(exc, path)) from exc
                if rw and not intent.exists():
                    with suppress(OSError):
                        intent.write_text(mine)
                noticed = _wait_or_give_up(path, message, started, deadline, on_wait, noticed)
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 1.5, 0.25)
            except duckdb.Error as exc:
                raise StoreError(describe_store_error(exc, path)) from exc
    finally:
        if rw:
            with suppress(OSError):
                if intent.read_text() == mine:
                    intent.unlink()


def _wait_or_give_up(
    path: Path,
    message: str,
    started: float,
    deadline: float,
    on_wait: WaitNotice | None,
    noticed: bool,
) -> bool:
    """Raise StoreBusyError past the deadline; tell on_wait once after NOTICE_AFTER_S."""
    now = time.monotonic()
    if now >= deadline:
        raise StoreBusyError(
            f"the store {path} is held by another program ({_holder(message)}, "
            f"e.g. the app writing or a `cx ingest`); gave up after {now - started:.0f} s. "
            f"Try again when it has finished, or wait longer with --wait or {TIMEOUT_ENV}"
        ) from None
    if on_wait and not noticed and now - started >= NOTICE_AFTER_S:
        on_wait(
            f"waiting for the store {path}: {_holder(message)} is using it "
            f"(up to {deadline - started:.0f} s)"
        )
        return True
    return noticed


class Store:
    """A DuckDB store file, used through short holds so several processes can share it.

    Two ways to use it:

    - default (`shared=False`): the old way, for tests, benchmarks and one-off scripts.
      The file is held read-write from open to close.
    - `shared=True` (the app and every `cx` command): nothing is held between uses.
      Reads hold a read-only connection only until the thread's next release point
      (`release()`, the end of a write, a progress report of a long fit); each write
      holds the file read-write for its one transaction. Opening waits (with a notice
      after ~1.5 s) while another process writes, up to `timeout` seconds.

    Inside one process any number of threads read through their own cursors; writes take
    a process-wide lock and run in one transaction, so Streamlit's threads never see
    "database is locked" or half a write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        shared: bool = False,
        create: bool = True,
        timeout: float | None = None,
        on_wait: WaitNotice | None = None,
    ):
        self.path = Path(path) if path is not None else default_db_path()
        self.read_only = read_only
        self.shared = shared
        self.timeout = store_timeout() if timeout is None else float(timeout)
        self.on_wait = on_wait
        self._local = threading.local()
        self._closed = False
        self._memory = str(self.path) == ":memory:"
        self._entry = _shared_for(self.path)
        self._pin = ("store", id(self))
        self._pinned = False
        existed = self._check_file(create=create)
        if shared:
            self._validate_shared(existed=existed)
        else:
            self._entry.acquire(
                self._pin,
                rw=not read_only,
                timeout=self.timeout,
                on_wait=self.on_wait,
                thread=None,
            )
            self._pinned = True
            try:
                self._validate(existed=existed, can_migrate=not read_only)
            except BaseException:
                self.close()
                raise

    # -- opening ---------------------------------------------------------------------------
    def _check_file(self, *, create: bool) -> bool:
        """Refuse what is not a DuckDB file before DuckDB touches it; True when it exists."""
        if self._memory:
            return False
        path = self.path
        if not path.exists():
            if not create:
                raise StoreError(
                    f"no store at {path}; create one with `cx init` (empty) or `cx sample` "
                    "(demo data), or point --db / CX_DB at an existing store"
                )
            if self.read_only:
                raise StoreError(f"no store at {path} (it cannot be created read-only)")
            path.parent.mkdir(parents=True, exist_ok=True)
            return False
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a store file")
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise StoreError(f"cannot read the store {path}: {exc.strerror}") from None
        if len(head) == 0:
            raise StoreError(f"{path} is an empty file, not a CX Console store")
        if len(head) < 12 or head[8:12] != b"DUCK":
            raise StoreError(f"{path} is not a DuckDB database file (so not a CX Console store)")
        return True

    def _validate_shared(self, *, existed: bool) -> None:
        """Check (read-only) that the file is ours and current; migrate or create if needed."""
        if existed:
            with self._hold(rw=False):
                current = self._check_meta(existed=True)
                if current == SCHEMA_VERSION:
                    self._sync_version_file()
                    return
        with self._hold(rw=True):
            self._validate(existed=existed, can_migrate=True)

    @contextmanager
    def _hold(self, *, rw: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        key = ("op", threading.get_ident(), id(self))
        con, _gen = self._entry.acquire(
            key,
            rw=rw,
            timeout=self.timeout,
            on_wait=self.on_wait,
            thread=threading.current_thread(),
        )
        try:
            yield con
        finally:
            self._entry.release(key)

    def _check_meta(self, *, existed: bool) -> int | None:
        """The schema version, None for a new file; refuses foreign and newer files."""
        con = self._held_cursor()
        has_meta = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = 'store_meta' AND table_schema = 'main'"
        ).fetchall()[0][0]
        if not has_meta:
            others = con.execute("SELECT count(*) FROM information_schema.tables").fetchall()[0][0]
            if existed or others:
                raise StoreError(
                    f"{self.path} is a DuckDB database but not a CX Console store (no store_meta "
                    "table); nothing was written to it. Point --db / CX_DB at a CX store, or "
                    "create one with `cx init` at a new path"
                )
            return None
        rows = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchall()
        current = int(rows[0][0]) if rows else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {current}, newer than this "
                f"program's {SCHEMA_VERSION}; upgrade CX Console"
            )
        return current

    def _validate(self, *, existed: bool, can_migrate: bool) -> None:
        current = self._check_meta(existed=existed)
        if current is None or current < SCHEMA_VERSION:
            if not can_migrate:
                raise StoreError(
                    f"the store {self.path} has schema version {current or 0}, older than "
                    f"{SCHEMA_VERSION}; open it for writing once to migrate it"
                )
            self.migrate()
        self._sync_version_file()

    # -- access ---------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor owned by the calling thread (DuckDB cursors are not shared across threads).

        In shared mode this holds the file (read-only unless a write is open in this
        process) until the thread's next release point: see `release()`.
        """
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        thread = threading.current_thread()
        con, gen = self._entry.acquire(
            ("thread", thread.ident),
            rw=not self.shared and not self.read_only,
            timeout=getattr(self._local, "patience", None) or self.timeout,
            on_wait=self.on_wait,
            thread=thread,
            once=True,
        )
        local = self._local
        if getattr(local, "gen", None) != gen or getattr(local, "entry_con", None) is not con:
            local.cursor = con.cursor()
            local.gen = gen
            local.entry_con = con
        return local.cursor

    @contextmanager
    def patience(self, seconds: float) -> Iterator[None]:
        """Reads of this thread wait at most `seconds` for a writer elsewhere; writes keep the
        store's timeout. The app's pages use it: during a long `cx ingest` a page that needs
        fresh data says the store is busy within seconds instead of hanging for the whole
        write, while cached pages keep rendering."""
        before = getattr(self._local, "patience", None)
        self._local.patience = float(seconds)
        try:
            yield
        finally:
            self._local.patience = before

    def release(self) -> None:
        """End this thread's read hold (shared mode): other programs may write again.

        Cursors this thread got earlier must not be used after it. The app calls this at
        the end of every page run, long fits at every progress report.
        """
        thread = threading.current_thread()
        self._entry.release(("thread", thread.ident), all_counts=True)
        self._local.cursor = None
        self._local.gen = None

    @contextmanager
    def write(self, *, bump_version: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """One writer at a time, in one transaction; any exception rolls everything back.

        Every committed write bumps the data version, which keys the app's caches, except
        bookkeeping writes (bump_version=False: model_cache progress and results), which
        must not make the data they were computed from look changed.
        """
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        entry = self._entry
        key = ("write", threading.get_ident())
        if self.shared:
            # A read hold of this thread would keep the file read-only forever (and, taken
            # before the write lock, could deadlock with another writer waiting on it).
            self.release()
        with entry.write_lock:
            con, _gen = entry.acquire(
                key,
                rw=True,
                timeout=self.timeout,
                on_wait=self.on_wait,
                thread=threading.current_thread(),
            )
            version = None
            try:
                cur = con.cursor()
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                    if bump_version:
                        version = cur.execute(
                            "UPDATE store_meta SET value = value + 1 "
                            "WHERE key = 'data_version' RETURNING value"
                        ).fetchall()[0][0]
                    cur.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT has already ended the transaction.
                    with suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    raise
                finally:
                    cur.close()
            finally:
                entry.release(key)
            if version is not None:
                self._write_version_file(int(version))

    def data_version(self) -> int:
        """Counter bumped by every committed write; cache keys include it.

        Shared stores read it from the side file, which does not hold the store, so the
        app can tell "nothing changed" while another program is writing.
        """
        if self.shared and not self._memory:
            value = self._read_version_file()
            if value is not None:
                return value
        return self._meta("data_version")

    def version_token(self) -> tuple[int, int]:
        """(data version, file identity): what the app keys its caches on; never holds the file."""
        try:
            ino = os.stat(self.path).st_ino if not self._memory else 0
        except OSError:
            ino = 0
        return self.data_version(), ino

    def schema_version(self) -> int:
        return self._meta("schema_version")

    def _meta(self, key: str) -> int:
        # fetchall, not fetchone: duckdb 2 refuses new work on a cursor with unread results.
        rows = self.cursor().execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchall()
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        entry = self._entry
        entry.release(("thread", threading.get_ident()), all_counts=True)
        if self._pinned:
            self._pinned = False
            entry.release(self._pin, all_counts=True)
        if entry.private:
            with entry.cond:
                entry._close()

    # -- the version side file -----------------------------------------------------------
    def _read_version_file(self) -> int | None:
        try:
            return int(version_file(self.path).read_text().strip())
        except (OSError, ValueError):
            return None

    def _write_version_file(self, version: int) -> None:
        if self._memory:
            return
        target = version_file(self.path)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(f"{version}\n")
            os.replace(tmp, target)
        except OSError as exc:
            # Without a trustworthy side file, readers fall back to the store itself.
            log.warning("cannot write %s: %s", target, exc)
            for p in (tmp, target):
                with suppress(OSError):
                    p.unlink()

    def _sync_version_file(self) -> None:
        if self._memory:
            return
        actual = self._meta_from_held("data_version")
        if self._read_version_file() != actual:
            self._write_version_file(actual)

    def _meta_from_held(self, key: str) -> int:
        rows = (
            self._held_cursor()
            .execute("SELECT value FROM store_meta WHERE key = ?", [key])
            .fetchall()
        )
        return int(rows[0][0]) if rows else 0

    def _held_cursor(self) -> duckdb.DuckDBPyConnection:
        # A fresh cursor: the shared connection object itself is not safe across threads.
        con = self._entry.con
        assert con is not None, "the store must be held here"
        return con.cursor()

    # -- schema ---------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the file to SCHEMA_VERSION, one migration per transaction."""
        entry = self._entry
        with entry.write_lock:
            assert entry.mode == "rw"
            con = self._held_cursor()
            con.execute(
                "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value BIGINT)"
            )
            con.execute(
                "INSERT INTO store_meta VALUES ('schema_version', 0), ('data_version', 0) "
                "ON CONFLICT DO NOTHING"
            )
            current = self._meta_from_held("schema_version")
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


def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    shared: bool = False,
    create: bool = True,
    timeout: float | None = None,
    on_wait: WaitNotice | None = None,
) -> Store:
    """Open (and migrate) the store at `path`, `CX_DB`, or data/cx.duckdb. See `Store`."""
    return Store(
        path, read_only=read_only, shared=shared, create=create, timeout=timeout, on_wait=on_wait
    )
