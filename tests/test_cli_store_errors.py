"""Every store problem ends every `cx` command with one line on stderr and exit 2."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dashboard.cli.main import main
from metrics.store import open_store

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "sample_data" / "plans" / "agent_assist.toml"
TICKETS = ROOT / "sample_data" / "exports" / "zendesk_tickets.csv"

# Every command that opens the store ({out}: a path for report output).
COMMANDS = [
    ["kpis"],
    ["experiment", "list"],
    ["experiment", "analyze", "callback_vs_queue"],
    ["experiment", "report", "callback_vs_queue", "--out", "{out}"],
    ["experiment", "search", "callback"],
    ["experiment", "segments", "callback_vs_queue"],
    ["experiment", "create", "--file", str(PLAN)],
    ["experiment", "decide", "callback_vs_queue", "--decision", "ship", "--by", "me"],
    ["clv", "show"],
    ["clv", "fit"],
    ["clv", "sbg"],
    ["churn", "survival"],
    ["drivers", "--kpi", "csat", "--boots", "0"],
    ["followups", "list"],
    ["followups", "done", "r1", "--by", "me", "--note", "called"],
    ["ingest", str(TICKETS), "--table", "contacts", "--preset", "zendesk"],
    ["sample", "--customers", "50", "--months", "1"],
    ["init"],
    ["batches", "list"],
    ["batches", "undo", "0123456789abcdef"],
]
CREATING = {"sample", "init"}


def _ids(cmd: list[str]) -> str:
    return " ".join(c for c in cmd[:2] if not c.startswith("/"))


def _run(cmd: list[str], db: Path, tmp_path: Path, capsys, *extra: str) -> tuple[int, str, str]:
    args = [c.replace("{out}", str(tmp_path / "report.html")) for c in cmd]
    code = main([*args, "--db", str(db), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def _assert_one_line(code: int, err: str, cmd: list[str], *expected: str) -> None:
    assert code == 2, err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cx {cmd[0]}: error: "), err
    for text in expected:
        assert text in lines[0], err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _corrupt(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    with dst.open("r+b") as fh:  # both database headers: every open must notice
        fh.seek(4096)
        fh.write(bytes(range(256)) * 32)


def _truncated(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    os.truncate(dst, dst.stat().st_size // 2)


def _newer(src: Path, dst: Path) -> None:
    shutil.copy(src, dst)
    with open_store(dst) as s:
        s.cursor().execute("UPDATE store_meta SET value = 99 WHERE key = 'schema_version'")


def _foreign(src: Path, dst: Path) -> None:
    con = duckdb.connect(str(dst))
    con.execute("CREATE TABLE orders AS SELECT range AS id FROM range(10)")
    con.close()


def _not_duckdb(src: Path, dst: Path) -> None:
    dst.write_text("contact_id,channel\n1,phone\n", encoding="utf-8")


CASES = {
    "corrupt": (_corrupt, ["is corrupt", "restore it from a backup"]),
    "truncated": (_truncated, ["is truncated or incomplete"]),
    "newer_schema": (_newer, ["schema version 99, newer than", "upgrade CX Console"]),
    "foreign_duckdb": (_foreign, ["not a CX Console store", "nothing was written to it"]),
    "not_duckdb": (_not_duckdb, ["is not a DuckDB database file"]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("cmd", COMMANDS, ids=_ids)
def test_store_problem_is_one_line_exit_2(case, cmd, sample_db, tmp_path, capsys) -> None:
    make, expected = CASES[case]
    db = tmp_path / "cx.duckdb"
    make(sample_db, db)
    before = _digest(db)
    code, out, err = _run(cmd, db, tmp_path, capsys)
    _assert_one_line(code, err, cmd, str(db), *expected)
    assert out == ""
    assert _digest(db) == before  # nothing was written into a file we refused
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c[0] not in CREATING], ids=_ids)
def test_missing_db_is_refused_and_not_created(cmd, tmp_path, capsys) -> None:
    db = tmp_path / "typo.duckdb"
    code, _, err = _run(cmd, db, tmp_path, capsys)
    _assert_one_line(code, err, cmd, f"no store at {db}", "cx init", "cx sample")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", [["init"], ["sample", "--customers", "50", "--months", "1"]])
def test_init_and_sample_create_a_missing_store(cmd, tmp_path, capsys) -> None:
    db = tmp_path / "new" / "cx.duckdb"
    code, _, err = _run(cmd, db, tmp_path, capsys)
    assert code == 0, err
    with open_store(db, read_only=True) as s:
        assert s.schema_version() >= 1


@pytest.mark.parametrize("cmd", COMMANDS, ids=_ids)
def test_store_held_by_a_writer_is_one_line_after_the_wait(cmd, sample_db, tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        code, _, err = _run(cmd, db, tmp_path, capsys, "--wait", "0.2")
    finally:
        holder.kill()
        holder.wait()
    _assert_one_line(code, err, cmd, f"process {holder.pid}", "gave up after", "--wait")


def test_disk_full_is_one_line_and_commits_nothing(tmp_path, capsys) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mnt)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        db = mnt / "cx.duckdb"
        assert main(["init", "--db", str(db)]) == 0
        capsys.readouterr()
        code, _, err = _run(
            ["sample", "--customers", "5000", "--months", "6"], db, tmp_path, capsys
        )
        _assert_one_line(code, err, ["sample"], "the disk is full", "nothing was committed")
        with open_store(db, shared=True, read_only=True) as s:
            assert s.cursor().execute("SELECT count(*) FROM customers").fetchall() == [(0,)]
            assert s.data_version() == 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_during_an_ingest_write_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    # Where mounting is not allowed: the error DuckDB raises when a write hits ENOSPC.
    from metrics.store import Store

    db = tmp_path / "cx.duckdb"
    open_store(db).close()

    def full(self, **kw):
        raise duckdb.IOException(
            'IO Error: Could not write file "x.duckdb.wal": No space left on device'
        )

    monkeypatch.setattr(Store, "write", full)
    cmd = ["ingest", str(TICKETS), "--table", "contacts", "--preset", "zendesk"]
    code, _, err = _run(cmd, db, tmp_path, capsys)
    _assert_one_line(code, err, cmd, "the disk is full", "nothing was committed")


# -- experiment report --out --------------------------------------------------------------


def test_report_refuses_to_overwrite_a_file_that_is_not_our_report(sample_db, tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, db)
    out = tmp_path / "notes.html"
    out.write_text("<html><body>my notes</body></html>", encoding="utf-8")
    cmd = ["experiment", "report", "callback_vs_queue", "--out", str(out)]
    code, _, err = _run(cmd, db, tmp_path, capsys)
    _assert_one_line(code, err, cmd, f"refusing to overwrite {out}", "not an experiment report")
    assert out.read_text(encoding="utf-8") == "<html><body>my notes</body></html>"


def test_report_overwrites_an_earlier_report_of_ours(sample_db, tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, db)
    out = tmp_path / "r.html"
    cmd = ["experiment", "report", "callback_vs_queue", "--out", str(out)]
    assert _run(cmd, db, tmp_path, capsys)[0] == 0
    first = out.read_text(encoding="utf-8")
    assert first.lower().startswith("<!doctype html>\n<!-- cx-console experiment report -->")
    out.write_text(first.replace("<h1>", "<h1>old "), encoding="utf-8")
    assert _run(cmd, db, tmp_path, capsys)[0] == 0
    second = out.read_text(encoding="utf-8")  # plotly div ids differ from run to run
    assert "<h1>old " not in second and "cx-console experiment report" in second


@pytest.mark.parametrize("kind", ["folder", "symlink", "csv"])
def test_report_refuses_folders_links_and_data_files(kind, sample_db, tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    shutil.copy(sample_db, db)
    out = tmp_path / "target"
    if kind == "folder":
        out.mkdir()
    elif kind == "symlink":
        (tmp_path / "real.html").write_text("x", encoding="utf-8")
        out.symlink_to(tmp_path / "real.html")
    else:
        out.write_text("id,amount\n1,2\n", encoding="utf-8")
    cmd = ["experiment", "report", "callback_vs_queue", "--out", str(out)]
    code, _, err = _run(cmd, db, tmp_path, capsys)
    _assert_one_line(code, err, cmd, f"{out}")
