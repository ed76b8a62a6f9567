"""Detractor follow-ups: who is on the list, audited marks, one-line errors, the CLI."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from conftest import old_store

from dashboard.cli.main import main
from metrics.followups import FollowupError, detractor_counts, detractors, history, mark_done
from metrics.schema import MIGRATIONS, SCHEMA_VERSION
from metrics.store import open_store

MD_COMMENT = "**Never** resolved, see [link](http://x) <b>!</b>"


@pytest.fixture
def fu_store(store):
    with store.write() as cur:
        cur.execute(
            "INSERT INTO contacts (contact_id, customer_id, channel, issue_type, opened_at, team) "
            "VALUES ('k1', 'c1', 'phone', 'billing', TIMESTAMP '2025-01-01 09:00', 'Billing'), "
            "('k2', 'c2', 'chat', 'technical', TIMESTAMP '2025-01-02 09:00', 'Tech support')"
        )
        cur.execute(
            "INSERT INTO surveys (response_id, customer_id, contact_id, answered_at, nps, csat, "
            "comment) VALUES "
            "('r_late', 'c2', 'k2', TIMESTAMP '2025-01-03 10:00', 2, NULL, 'slow'),"
            f"('r_early', 'c1', 'k1', TIMESTAMP '2025-01-01 10:00', 9, 1, '{MD_COMMENT}'),"
            "('r_promoter', 'c1', 'k1', TIMESTAMP '2025-01-01 11:00', 10, 5, 'great'),"
            "('r_passive', 'c1', NULL, TIMESTAMP '2025-01-01 12:00', 7, 3, NULL),"
            "('r_csat2', 'c3', NULL, TIMESTAMP '2025-01-04 12:00', NULL, 2, NULL)"
        )
    return store


def test_detractors_are_nps_0_6_or_csat_1_2_oldest_first_with_contact(fu_store):
    df = detractors(fu_store)
    assert df["response_id"].to_list() == ["r_early", "r_late", "r_csat2"]
    first = df.row(0, named=True)
    assert (first["channel"], first["issue_type"], first["team"]) == ("phone", "billing", "Billing")
    assert first["reason"] == "CSAT 1"
    assert df.row(1, named=True)["reason"] == "NPS 2"
    # The comment comes back exactly as written: no Markdown or HTML touched.
    assert first["comment"] == MD_COMMENT
    assert detractor_counts(fu_store) == {"total": 3, "open": 3}


def test_mark_done_is_stored_and_a_second_mark_keeps_the_first(fu_store):
    t1, t2 = datetime(2025, 2, 1, 9, 0), datetime(2025, 2, 3, 15, 30)
    first = mark_done(fu_store, "r_late", by="Anna", note="called, refund agreed", at=t1)
    assert first["previous_marks"] == 0
    second = mark_done(fu_store, "r_late", by="Bo", note="refund paid", at=t2)
    assert second["previous_marks"] == 1
    audit = history(fu_store, "r_late")
    assert audit["followed_up_by"].to_list() == ["Anna", "Bo"]
    assert audit["note"].to_list() == ["called, refund agreed", "refund paid"]
    assert audit["followed_up_at"].to_list() == [t1, t2]
    done = detractors(fu_store, status="done").row(0, named=True)
    assert (done["followed_up_by"], done["note"], done["marks"]) == ("Bo", "refund paid", 2)
    assert detractors(fu_store, status="open")["response_id"].to_list() == ["r_early", "r_csat2"]
    assert detractor_counts(fu_store) == {"total": 3, "open": 2}


def test_marks_do_not_bump_the_data_version(fu_store):
    before = fu_store.data_version()
    mark_done(fu_store, "r_early", by="Anna")
    assert fu_store.data_version() == before


@pytest.mark.parametrize(
    ("rid", "by", "note", "message"),
    [
        ("r_promoter", "Anna", "", "is not a detractor"),
        ("nope", "Anna", "", "no survey answer with response_id 'nope'"),
        ("r_late", "  ", "", "a name is required"),
        ("r_late", "Anna", "x" * 2001, "note: at most 2000 characters"),
    ],
)
def test_bad_marks_are_refused_and_nothing_is_written(fu_store, rid, by, note, message):
    with pytest.raises(FollowupError, match=message):
        mark_done(fu_store, rid, by=by, note=note)
    assert fu_store.cursor().execute("SELECT COUNT(*) FROM followups").fetchall()[0][0] == 0


def test_followups_table_is_schema_slot_v3_and_old_stores_migrate(tmp_path):
    assert SCHEMA_VERSION >= 3 and "CREATE TABLE followups" in MIGRATIONS[2]
    path = tmp_path / "v1.duckdb"
    con = old_store(path, 1, data_version=0)
    con.close()
    with open_store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION  # later slots migrate too
        assert s.cursor().execute("SELECT COUNT(*) FROM followups").fetchall() == [(0,)]


def test_cx_followups_list_and_done_json(tmp_path, capsys):
    db = tmp_path / "cx.duckdb"
    with open_store(db) as s, s.write() as cur:
        cur.execute(
            "INSERT INTO surveys (response_id, answered_at, nps, comment) VALUES "
            "('r1', TIMESTAMP '2025-01-01 10:00', 3, 'line one\nline two')"
        )
    assert main(["followups", "list", "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"] == {"total": 1, "open": 1}
    assert out["rows"][0]["comment"] == "line one\nline two"
    assert (
        main(["followups", "done", "r1", "--db", str(db), "--by", "Anna", "--note", "ok", "--json"])
        == 0
    )
    mark = json.loads(capsys.readouterr().out)
    assert (mark["response_id"], mark["followed_up_by"], mark["note"]) == ("r1", "Anna", "ok")
    assert main(["followups", "list", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "0 of 1 detractor answers not followed up yet" in text
    assert main(["followups", "list", "--db", str(db), "--status", "done"]) == 0
    assert "“line one line two”" in capsys.readouterr().out


def test_cx_followups_done_unknown_response_is_one_line(tmp_path, capsys):
    assert main(["init", "--db", str(tmp_path / "e.duckdb")]) == 0
    capsys.readouterr()
    assert main(["followups", "done", "zzz", "--db", str(tmp_path / "e.duckdb"), "--by", "A"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "cx followups: error: no survey answer with response_id 'zzz'"
