"""The app and `cx` share one store file: real processes, reads during writes, waits and timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from test_browser import served_app  # noqa: F401 - the fixture, for the served-app test

from metrics.store import StoreBusyError, open_store

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = ROOT / "sample_data" / "exports"
CX = [sys.executable, "-m", "dashboard.cli.main"]

# A stand-in for the app process, using the store exactly as dashboard/store_access.py does
# (shared, never creating); `mode` picks what it does while the test runs `cx` against it.
APP = textwrap.dedent(
    """
    import select, sys, time
    from metrics.store import open_store
    path, mode, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    SQL = "INSERT INTO settings VALUES ('held_by_app', '1')"
    store = open_store(path, shared=True, create=False)
    if mode == "serve":  # page runs (read, release at the end of each) until told to stop
        seen = set()
        print("ready", flush=True)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not select.select([sys.stdin], [], [], 0)[0]:
            n = store.cursor().execute("SELECT count(*) FROM contacts").fetchall()[0][0]
            seen.add((store.data_version(), n))
            store.release()
            time.sleep(0.02)
        print(sorted(seen), flush=True)
    elif mode == "busy":  # several people clicking: read holds overlap, never a gap
        import threading

        def user(offset):
            time.sleep(offset)
            while True:
                store.cursor().execute("SELECT count(*) FROM contacts").fetchall()
                time.sleep(0.15)  # a page render
                store.release()

        for i in range(3):
            threading.Thread(target=user, args=(i * 0.05,), daemon=True).start()
        print("ready", flush=True)
        select.select([sys.stdin], [], [], seconds)
    elif mode == "read":  # a long page render holding the store read-only
        store.cursor().execute("SELECT count(*) FROM contacts").fetchall()
        print("ready", flush=True)
        time.sleep(seconds)
    elif mode == "write":  # an upload on the Data page: one transaction, until told or timed
        with store.write() as cur:
            cur.execute(sys.argv[4] if len(sys.argv) > 4 else SQL)
            print("ready", flush=True)
            select.select([sys.stdin], [], [], seconds)
        print("committed", flush=True)
    """
)


def _app(db: Path, mode: str, seconds: float, *sql: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", APP, str(db), mode, str(seconds), *sql],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line == "ready", (line, proc.stderr.read())
    return proc


def _write_elsewhere(db: Path, wait_s: float) -> tuple[int, float, str]:
    """Commit one write from another process (as the app or `cx` would); rc, seconds, stderr."""
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", APP, str(db), "write", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CX_STORE_TIMEOUT": str(wait_s)},
    )
    return out.returncode, time.monotonic() - started, out.stderr


def _cx(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    started = time.monotonic()
    out = subprocess.run(
        [*CX, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return out, time.monotonic() - started


PRESET = {"zendesk_tickets.csv": "zendesk", "intercom_conversations.csv": "intercom"}


def _ingest_args(db: Path, name: str = "zendesk_tickets.csv") -> list[str]:
    return [
        "ingest",
        str(EXPORTS / name),
        "--table",
        "contacts",
        "--preset",
        PRESET[name],
        "--db",
        str(db),
        "--json",
        # The example exports reject a few rows on purpose; this test is about the store.
        "--max-reject-share",
        "1",
    ]


@pytest.fixture
def shared_db(sample_db: Path, tmp_path: Path) -> Path:
    import shutil

    path = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, path)
    return path


def test_read_only_cx_commands_work_while_the_app_reads(shared_db: Path) -> None:
    app = _app(shared_db, "read", 60)
    try:
        for args in (
            ["kpis", "--kpi", "nps", "--format", "json"],
            ["experiment", "list", "--json"],
            ["clv", "show", "--json"],
        ):
            out, _ = _cx(*args, "--db", str(shared_db))
            assert out.returncode == 0, (args, out.stderr)
            assert json.loads(out.stdout)
            assert out.stderr == ""
        exp_id = json.loads(_cx("experiment", "list", "--json", "--db", str(shared_db))[0].stdout)
        first = exp_id[0]["experiment_id"]
        out, _ = _cx("experiment", "analyze", first, "--json", "--db", str(shared_db))
        assert out.returncode == 0, out.stderr
        report = shared_db.parent / "r.html"
        out, _ = _cx("experiment", "report", first, "--out", str(report), "--db", str(shared_db))
        assert out.returncode == 0, out.stderr
        assert "cx-console experiment report" in report.read_text()
    finally:
        app.kill()
        app.wait()


def test_cx_ingest_succeeds_while_the_app_serves_and_the_app_sees_the_new_rows(
    shared_db: Path,
) -> None:
    with open_store(shared_db, shared=True) as s:
        before = s.cursor().execute("SELECT count(*) FROM contacts").fetchall()[0][0]
        version = s.data_version()
    app = _app(shared_db, "serve", 120)
    try:
        out, _ = _cx(*_ingest_args(shared_db))
        assert out.returncode == 0, out.stderr
        inserted = json.loads(out.stdout)["inserted"]
        assert inserted > 0
        time.sleep(0.5)  # a few more page runs after the write
        seen, _ = app.communicate("stop\n", timeout=60)
    finally:
        app.kill()
    states = eval(seen.strip().splitlines()[-1])  # noqa: S307 - our own subprocess's repr
    # The app kept reading before and after the write; it saw the old state, then the new.
    assert (version, before) in states
    assert (version + 1, before + inserted) in states
    assert {v for v, _ in states} <= {version, version + 1}


def test_cx_ingest_waits_for_an_app_write_then_succeeds(shared_db: Path) -> None:
    app = _app(shared_db, "write", 60)
    try:
        cx = subprocess.Popen(
            [*CX, *_ingest_args(shared_db)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        notice = cx.stderr.readline()  # printed after ~1.5 s of waiting
        app.stdin.write("commit\n")
        app.stdin.flush()
        assert app.stdout.readline().strip() == "committed"
        stdout, stderr = cx.communicate(timeout=120)
    finally:
        app.kill()
        app.wait()
    assert cx.returncode == 0, stderr
    assert notice.startswith("cx: waiting for the store ")
    assert f"process {app.pid} is using it (up to 60 s)" in notice
    assert stderr == ""
    assert json.loads(stdout)["inserted"] > 0
    with open_store(shared_db, shared=True, read_only=True) as s:
        rows = s.cursor().execute("SELECT key FROM settings WHERE key = 'held_by_app'").fetchall()
    assert rows == [("held_by_app",)]  # both writes are in


def test_two_cx_ingest_at_once_both_succeed_one_after_the_other(shared_db: Path) -> None:
    procs = [
        subprocess.Popen(
            [*CX, *_ingest_args(shared_db, name)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("zendesk_tickets.csv", "intercom_conversations.csv")
    ]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    for (_, stderr), code in results:
        assert code == 0, stderr
    batches = {json.loads(stdout)["batch_id"] for (stdout, _), _ in results}
    with open_store(shared_db, shared=True, read_only=True) as s:
        stored = s.cursor().execute("SELECT batch_id FROM ingest_batches").fetchall()
    assert batches <= {b for (b,) in stored} and len(batches) == 2


def test_cx_write_gives_up_after_the_wait_with_one_line(shared_db: Path) -> None:
    app = _app(shared_db, "write", 30)
    try:
        out, seconds = _cx(*_ingest_args(shared_db), "--wait", "1")
        read, read_seconds = _cx("kpis", "--db", str(shared_db), env={"CX_STORE_TIMEOUT": "0.5"})
    finally:
        app.kill()
        app.wait()
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("cx ingest: error: the store ")
    assert f"(process {app.pid}" in lines[0] and "gave up after 1 s" in lines[0]
    assert 1.0 <= seconds < 20
    assert read.returncode == 2 and read.stderr.count("\n") == 1
    assert read.stderr.startswith("cx kpis: error: the store ") and "gave up" in read.stderr
    assert read_seconds < 20


def test_long_fit_progress_lets_go_of_the_store(store_path_with_data: Path) -> None:
    # A job that has read its data and reports progress must not hold the file: another
    # process can write while it "samples".
    from metrics.background import start_job

    store = open_store(store_path_with_data, shared=True)
    go_on = threading.Event()
    wrote = {}

    def job(progress):
        n = store.cursor().execute("SELECT count(*) FROM settings").fetchall()[0][0]
        progress(0.1, "sampling")
        wrote["rc"], _, wrote["stderr"] = _write_elsewhere(store_path_with_data, 5)
        go_on.set()
        return {"n": n}

    status = start_job(store, "test:job", "test", job, wait=True)
    assert go_on.is_set() and wrote["rc"] == 0, wrote["stderr"]
    assert status.status == "done" and status.result == {"n": 0}
    store.close()


@pytest.fixture
def store_path_with_data(tmp_path: Path) -> Path:
    path = tmp_path / "cx.duckdb"
    open_store(path).close()
    return path


# -- inside one process: threads of the app ------------------------------------------------


def test_write_waits_for_readers_in_this_process_then_commits(store_path_with_data: Path) -> None:
    store = open_store(store_path_with_data, shared=True, timeout=10)
    reader_holds = threading.Event()
    finish_reading = threading.Event()

    def reader() -> None:
        store.cursor().execute("SELECT 1").fetchall()
        reader_holds.set()
        finish_reading.wait(10)
        store.release()

    t = threading.Thread(target=reader)
    t.start()
    reader_holds.wait(10)
    timer = threading.Timer(0.3, finish_reading.set)
    timer.start()
    started = time.monotonic()
    with store.write() as cur:
        cur.execute("INSERT INTO settings VALUES ('k', '1')")
    waited = time.monotonic() - started
    t.join()
    assert waited >= 0.25
    assert store.data_version() == 1
    assert store.cursor().execute("SELECT value FROM settings").fetchall() == [("1",)]
    store.close()


def test_hold_of_a_thread_that_ended_is_dropped(store_path_with_data: Path) -> None:
    # Streamlit runs each rerun on a new thread; one that never released must not keep
    # other programs out.
    store = open_store(store_path_with_data, shared=True)
    t = threading.Thread(target=lambda: store.cursor().execute("SELECT 1").fetchall())
    t.start()
    t.join()
    code, seconds, stderr = _write_elsewhere(store_path_with_data, 10)
    assert code == 0, stderr
    assert seconds < 8
    store.close()


def test_write_in_process_gives_up_after_timeout(store_path_with_data: Path) -> None:
    store = open_store(store_path_with_data, shared=True, timeout=0.3)
    holder = threading.Event()
    stop = threading.Event()

    def reader() -> None:
        store.cursor().execute("SELECT 1").fetchall()
        holder.set()
        stop.wait(10)
        store.release()

    t = threading.Thread(target=reader, name="page-render")
    t.start()
    holder.wait(10)
    try:
        busy = pytest.raises(StoreBusyError, match=r"stayed busy for 0.3 s .*page-render")
        with busy, store.write() as cur:
            cur.execute("INSERT INTO settings VALUES ('k', '1')")
    finally:
        stop.set()
        t.join()
    assert store.data_version() == 0
    store.close()


def test_app_page_serves_from_cache_during_a_write_and_shows_the_write_after(
    shared_db: Path, monkeypatch
) -> None:
    from conftest import start_page

    monkeypatch.setenv("CX_STORE_TIMEOUT", "5")  # a page that touched the store would fail
    page = ROOT / "dashboard" / "views" / "overview.py"
    at = start_page(page, shared_db, monkeypatch)
    cards = [(m.label, m.value) for m in at.metric]
    boxes = [m.value for m in at.markdown]
    assert cards and not any("target +55.0" in b for b in boxes)
    writer = _app(shared_db, "write", 60, "INSERT INTO targets (kpi, target) VALUES ('nps', 55)")
    try:
        started = time.monotonic()
        at.run()  # while another process holds the store read-write
        assert time.monotonic() - started < 5
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert [(m.label, m.value) for m in at.metric] == cards
        writer.stdin.write("commit\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "committed"
    finally:
        writer.kill()
        writer.wait()
    at.run()
    assert not at.exception and not at.error
    assert any("target +55.0" in m.value for m in at.markdown)  # NPS now targets 55


def test_app_page_that_needs_fresh_data_says_busy_soon_during_a_long_write(
    shared_db: Path, monkeypatch
) -> None:
    """A page whose reads miss the cache while another process writes: a sentence within
    the page's read wait (CX_PAGE_READ_WAIT), not a page hanging for the whole write."""
    from conftest import start_page

    monkeypatch.setenv("CX_PAGE_READ_WAIT", "1")
    monkeypatch.setenv("CX_STORE_TIMEOUT", "60")
    import dashboard.store_access as access

    monkeypatch.setattr(access, "PAGE_READ_WAIT_S", 1.0)
    writer = _app(shared_db, "write", 60, "INSERT INTO targets (kpi, target) VALUES ('nps', 55)")
    try:
        started = time.monotonic()
        at = start_page(ROOT / "dashboard" / "app.py", shared_db, monkeypatch, errors_ok=True)
        assert time.monotonic() - started < 30  # the page's own work under load, not 60 s
        assert not at.exception
        assert any("gave up after 1 s" in e.value for e in at.error), [e.value for e in at.error]
    finally:
        writer.kill()
        writer.wait()


def test_background_fit_in_the_app_does_not_keep_other_writers_out(
    store_path_with_data: Path,
) -> None:
    from metrics.background import start_job, wait_for

    store = open_store(store_path_with_data, shared=True)
    sampling, finish = threading.Event(), threading.Event()

    def job(progress):
        n = store.cursor().execute("SELECT count(*) FROM settings").fetchall()[0][0]
        progress(0.05, "sampling")  # from here on the fit only computes
        sampling.set()
        finish.wait(60)
        return {"n": n}

    status = start_job(store, "test:bg", "test", job)
    assert status.status == "running"
    store.release()  # the page run that started it ends
    assert sampling.wait(30)
    code, seconds, stderr = _write_elsewhere(store_path_with_data, 10)
    finish.set()
    done = wait_for(store, "test:bg", timeout_s=30)
    assert code == 0, stderr
    assert seconds < 8
    assert done is not None and done.status == "done" and done.result == {"n": 0}
    store.close()


def test_cx_ingest_gets_in_between_overlapping_app_reads(shared_db: Path) -> None:
    # Readers let a waiting writer go first (the .writer side file), or a busy app would
    # keep the store read-only for ever.
    app = _app(shared_db, "busy", 120)
    try:
        out, seconds = _cx(*_ingest_args(shared_db), "--wait", "30")
    finally:
        app.kill()
        app.wait()
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inserted"] > 0
    assert not (shared_db.parent / "cx.duckdb.writer").exists()


@pytest.mark.browser
def test_served_app_and_cx_share_the_store(served_app: str, tmp_path: Path) -> None:  # noqa: F811
    # The real thing: `streamlit run` on the store, a browser on the Overview, and `cx`
    # reading and writing the same file while the app is up; the page shows the write.
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS, ERRORS, _settle

    db = tmp_path / "cx.duckdb"  # the copy the served_app fixture serves
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(served_app, wait_until="domcontentloaded")
            page.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
            _settle(page)
            assert page.get_by_text("target +55.0").count() == 0

            out, _ = _cx("kpis", "--kpi", "nps", "--format", "json", "--db", str(db))
            assert out.returncode == 0 and out.stderr == "", out.stderr
            out, seconds = _cx(*_ingest_args(db), "--wait", "20")
            assert out.returncode == 0, out.stderr
            code, _, stderr = _write_elsewhere_sql(
                db, "INSERT INTO targets (kpi, target) VALUES ('nps', 55)"
            )
            assert code == 0, stderr

            page.reload(wait_until="domcontentloaded")
            page.wait_for_selector('[data-testid="stMetric"]', timeout=90_000)
            _settle(page)
            assert page.locator(ERRORS).count() == 0
            assert page.get_by_text("target +55.0").count() == 1
        finally:
            browser.close()


def _write_elsewhere_sql(db: Path, sql: str) -> tuple[int, float, str]:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", APP, str(db), "write", "0", sql],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.returncode, time.monotonic() - started, out.stderr
