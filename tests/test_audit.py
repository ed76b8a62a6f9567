"""The audit log: every write path leaves one entry with its actor, in the write's transaction; `cx audit`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from dashboard.cli.main import main
from experiments.registry import (
    RegistryError,
    add_learnings,
    create_experiment,
    record_decision,
    start_experiment,
    update_experiment,
)
from metrics.audit import ACTIONS, entries, record
from metrics.auth import Actor, PermissionDenied, acting_as
from metrics.clv import MARGIN_KEY, save_margin
from metrics.followups import mark_done
from metrics.ingest import ingest_file
from metrics.retention.contractual import DISCOUNT_KEY, save_discount
from metrics.schema import MIGRATIONS
from metrics.settings import KpiSettings, save_settings, set_setting
from metrics.targets import reset_target, set_target

ROOT = Path(__file__).resolve().parents[1]
SWEDISH = ROOT / "sample_data" / "exports" / "swedish_contacts.csv"
EVA = Actor("eva", "experimenter", "oidc")
ANN = Actor("ann", "analyst", "proxy")
ROOT_ADMIN = Actor("root", "admin", "local")


def _log(store, **kw) -> list[dict]:
    rows = entries(store, limit=None, **kw).to_dicts()
    for r in rows:
        r["details"] = json.loads(r["details"])
    return rows


def test_audit_log_is_schema_slot_v7():
    assert "CREATE TABLE audit_log" in MIGRATIONS[6]
    assert MIGRATIONS[3:5] == ("SELECT 1",) * 2  # placeholders for slots in flight elsewhere


def test_experiment_lifecycle_each_step_logged_with_its_actor(store):
    create_experiment(store, {"name": "Callback", "primary_metric": "fcr"}, actor=EVA)
    update_experiment(store, "callback", {"hypothesis": "callbacks help"}, actor=EVA)
    start_experiment(store, "callback", actor=EVA)
    record_decision(store, "callback", "stop", "Eva B", reasons=["no lift"], actor=EVA)
    add_learnings(store, "callback", "try again in Q3", actor=ROOT_ADMIN)
    log = _log(store, target="experiment:callback")
    assert [(r["action"], r["actor"], r["role"], r["source"]) for r in reversed(log)] == [
        ("experiment.create", "eva", "experimenter", "oidc"),
        ("experiment.edit", "eva", "experimenter", "oidc"),
        ("experiment.launch", "eva", "experimenter", "oidc"),
        ("experiment.decide", "eva", "experimenter", "oidc"),
        ("experiment.learnings", "root", "admin", "local"),
    ]
    edit, decide = log[3]["details"], log[1]["details"]
    assert edit == {"hypothesis": {"before": "", "after": "callbacks help"}}
    assert decide["decision"] == "stop" and decide["by"] == "Eva B"
    assert decide["reasons"] == ["no lift"]


def test_target_and_settings_changes_logged_with_before_and_after(store):
    set_target(store, "fcr", 0.8, "board", actor=ROOT_ADMIN)
    set_target(store, "fcr", 0.75, "board", actor=ROOT_ADMIN)
    reset_target(store, "fcr", actor=ROOT_ADMIN)
    set_setting(store, "kpi.fcr_window_days", "3", actor=ROOT_ADMIN)
    save_margin(store, 0.4, actor=ROOT_ADMIN)
    save_discount(store, 0.1, actor=ROOT_ADMIN)
    log = list(reversed(_log(store)))
    assert [(r["action"], r["target"]) for r in log] == [
        ("target.set", "target:fcr"),
        ("target.set", "target:fcr"),
        ("target.reset", "target:fcr"),
        ("settings.set", "settings:kpi.fcr_window_days"),
        ("settings.set", f"settings:{MARGIN_KEY}"),
        ("settings.set", f"settings:{DISCOUNT_KEY}"),
    ]
    assert log[0]["details"]["before"] is None and log[0]["details"]["after"] == 0.8
    assert log[1]["details"]["before"] == 0.8 and log[1]["details"]["after"] == 0.75
    assert log[2]["details"] == {"before": 0.75, "after": "default"}
    assert log[3]["details"] == {"before": None, "after": 3.0}
    assert log[4]["details"]["after"] == 0.4
    # Saving all KPI settings records one entry per key, with the value it replaced.
    save_settings(store, KpiSettings(fcr_window_days=5.0), actor=ROOT_ADMIN)
    window = _log(store, target="settings:kpi.fcr_window_days")[0]
    assert window["details"] == {"before": 3.0, "after": 5.0}


def test_viewer_and_analyst_refused_admin_writes_and_nothing_is_logged(store):
    viewer = Actor("vera", "viewer", "proxy")
    for call in (
        lambda: set_target(store, "fcr", 0.8, actor=ANN),
        lambda: save_settings(store, KpiSettings(), actor=ANN),
        lambda: create_experiment(store, {"name": "X", "primary_metric": "fcr"}, actor=ANN),
        lambda: mark_done(store, "r1", by="v", actor=viewer),
        lambda: ingest_file(store, SWEDISH, table="contacts", preset="swedish", actor=viewer),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert entries(store).is_empty()
    assert store.cursor().execute("SELECT count(*) FROM contacts").fetchall() == [(0,)]


def test_analyst_ingest_and_followup_logged(store):
    report = ingest_file(
        store, SWEDISH, table="contacts", preset="swedish", actor=ANN, max_reject_share=1.0
    )
    with store.write() as cur:
        cur.execute(
            "INSERT INTO surveys (response_id, answered_at, nps) "
            "VALUES ('r1', TIMESTAMP '2026-01-01 10:00', 2)"
        )
    mark_done(store, "r1", by="Ann A", note="called back", actor=ANN)
    ingest, mark = reversed(_log(store))
    assert (ingest["action"], ingest["actor"], ingest["target"]) == (
        "ingest",
        "ann",
        "table:contacts",
    )
    assert ingest["details"]["batch_id"] == report.batch_id
    assert ingest["details"]["inserted"] == report.inserted
    assert ingest["details"]["rejected"] == report.rejected
    assert (mark["action"], mark["actor"], mark["target"]) == (
        "followup.mark",
        "ann",
        "response:r1",
    )
    assert mark["details"]["note"] == "called back"


def test_failed_write_leaves_no_entry(store):
    create_experiment(store, {"name": "Dup", "primary_metric": "fcr"}, actor=EVA)
    with pytest.raises(RegistryError, match="already exists"):
        create_experiment(store, {"name": "Dup", "primary_metric": "fcr"}, actor=EVA)
    assert len(_log(store)) == 1
    # An exception after record() inside the transaction rolls the entry back with the write.
    with pytest.raises(RuntimeError), store.write() as cur:
        record(cur, EVA, "target.set", "target:x", {})
        raise RuntimeError("disk gone")
    assert len(_log(store)) == 1


def test_write_without_actor_uses_the_page_actor(store):
    with acting_as(EVA):
        create_experiment(store, {"name": "Ctx", "primary_metric": "fcr"})
    assert _log(store)[0]["actor"] == "eva"


def test_entries_filters_and_limit(store):
    for name in ("A one", "B two", "C three"):
        create_experiment(store, {"name": name, "primary_metric": "fcr"}, actor=EVA)
    set_target(store, "fcr", 0.8, actor=ROOT_ADMIN)
    assert entries(store, limit=2)["target"].to_list() == ["target:fcr", "experiment:c_three"]
    assert entries(store, actor="root").height == 1
    assert entries(store, action="experiment.create").height == 3
    assert entries(store, target="experiment:").height == 3
    assert entries(store, target="experiment:b_two")["action"].to_list() == ["experiment.create"]


def test_cx_writes_record_the_os_user_and_cx_audit_lists_them(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    assert main(["init", "--db", str(db)]) == 0
    assert (
        main(
            ["ingest", str(SWEDISH), "--table", "contacts", "--preset", "swedish", "--db", str(db)]
            + ["--max-reject-share", "1"]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["audit", "--json", "--db", str(db)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 1
    assert (out[0]["actor"], out[0]["role"], out[0]["source"]) == (
        getpass.getuser(),
        "admin",
        "cli",
    )
    assert out[0]["action"] == "ingest" and out[0]["details"]["file"] == SWEDISH.name
    assert main(["audit", "--db", str(db)]) == 0
    line = capsys.readouterr().out.strip()
    assert f"{getpass.getuser()} (admin, cli)  ingest  table:contacts" in line
    assert main(["audit", "--db", str(db), "--action", "undo"]) == 0
    assert capsys.readouterr().out == "no audit entries match\n"


def test_cx_audit_bad_options_are_one_line_errors(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    main(["init", "--db", str(db)])
    capsys.readouterr()
    assert main(["audit", "--db", str(db), "--action", "delete"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cx audit: error: --action 'delete': expected one of ingest, undo")
    with pytest.raises(SystemExit):
        main(["audit", "--db", str(db), "--limit", "0"])
    assert "expected 1 or more" in capsys.readouterr().err
    assert set(ACTIONS) >= {"ingest", "undo", "experiment.decide", "target.set", "followup.mark"}


def test_analyst_undo_logged_and_viewer_undo_refused(store):
    from metrics.ingest.batches import list_batches, undo_batch

    report = ingest_file(
        store, SWEDISH, table="contacts", preset="swedish", actor=ANN, max_reject_share=1.0
    )
    with pytest.raises(PermissionDenied):
        undo_batch(store, report.batch_id, actor=Actor("vera", "viewer", "proxy"))
    result = undo_batch(store, report.batch_id, actor=ANN)
    assert result.removed == report.inserted
    undo, ingest = _log(store)
    assert (undo["action"], undo["actor"], undo["target"]) == ("undo", "ann", "table:contacts")
    assert undo["details"] == {
        "batch_id": report.batch_id,
        "file": SWEDISH.name,
        "removed": report.inserted,
        "restored": 0,
    }
    assert ingest["action"] == "ingest"
    assert list_batches(store).row(0, named=True)["undone_by"] == "ann"


# Writes that are not changes a person makes: fit bookkeeping and the demo world's generator.
NOT_AUDITED = {"metrics/background.py", "sample_data/generator.py"}


def _write_functions() -> list[tuple[str, str, set[str]]]:
    import ast

    out = []
    for folder in ("metrics", "experiments", "sample_data"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef):
                    continue
                calls = {
                    c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "")
                    for c in ast.walk(fn)
                    if isinstance(c, ast.Call)
                }
                if "write" in calls and any(
                    isinstance(w, ast.With)
                    and any(
                        isinstance(i.context_expr, ast.Call)
                        and isinstance(i.context_expr.func, ast.Attribute)
                        and i.context_expr.func.attr == "write"
                        for i in w.items
                    )
                    for w in ast.walk(fn)
                ):
                    out.append((rel, fn.name, calls))
    return out


def test_every_write_path_checks_the_role_and_records_an_audit_entry():
    found = _write_functions()
    assert len(found) >= 12  # the scan sees the write paths (ingest, undo, registry, ...)
    missing = [
        f"{rel}:{name}"
        for rel, name, calls in found
        if rel not in NOT_AUDITED and not {"require", "record"} <= calls
    ]
    assert not missing, "writes without require() and audit.record(): " + ", ".join(missing)
