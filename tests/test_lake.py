"""metrics.lake: accepted batches as Delta Lake tables (MERGE, one commit per batch), the
ingest hook (CX_LAKE_DIR), DuckDB reading them, and the column-mapping views."""

from __future__ import annotations

import re

import polars as pl
import pytest

pytest.importorskip("deltalake")

from metrics.lake import (  # noqa: E402
    LakeError,
    delta_arrow,
    delta_files,
    mapping_views,
    write_batch_delta,
)


def _frame(rows: list[tuple[str, str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"contact_id": pl.Utf8, "channel": pl.Utf8, "wait_s": pl.Float64}, orient="row"
    )


def _read(path) -> list[tuple]:
    return sorted(pl.from_arrow(delta_arrow(path)).rows())  # type: ignore[union-attr]


def test_first_batch_creates_then_merge_updates_and_inserts_one_commit_each(tmp_path) -> None:
    from deltalake import DeltaTable

    path = tmp_path / "contacts"
    v0 = write_batch_delta(
        path, "contacts", _frame([("A1", "phone", 30.0), ("A2", "chat", 12.0)]), ["contact_id"]
    )
    v1 = write_batch_delta(
        path, "contacts", _frame([("A2", "chat", 99.0), ("A3", "sms", None)]), ["contact_id"]
    )
    assert (v0, v1) == (0, 1)  # one Delta commit per batch
    assert _read(path) == [("A1", "phone", 30.0), ("A2", "chat", 99.0), ("A3", "sms", None)]
    ops = [h["operation"] for h in DeltaTable(str(path)).history()]
    assert ops == ["MERGE", "WRITE"]


def test_refused_batch_leaves_the_table_and_its_version_as_they_were(tmp_path) -> None:
    from deltalake import DeltaTable

    path = tmp_path / "contacts"
    write_batch_delta(path, "contacts", _frame([("A1", "phone", 30.0)]), ["contact_id"])
    dup = _frame([("A2", "chat", 1.0), ("A2", "chat", 2.0)])
    with pytest.raises(
        LakeError,
        match=r"contacts: 1 key\(s\) repeated within the batch \(first: contact_id='A2'\)",
    ):
        write_batch_delta(path, "contacts", dup, ["contact_id"])
    with pytest.raises(LakeError, match="contacts: key column contact_id has empty values"):
        write_batch_delta(path, "contacts", _frame([(None, "chat", 1.0)]), ["contact_id"])  # type: ignore[list-item]
    with pytest.raises(LakeError, match="key column\\(s\\) invoice_id missing from the batch"):
        write_batch_delta(path, "contacts", _frame([("A9", "chat", 1.0)]), ["invoice_id"])
    assert DeltaTable(str(path)).version() == 0
    assert _read(path) == [("A1", "phone", 30.0)]


def test_duckdb_reads_the_delta_snapshot_through_arrow(tmp_path) -> None:
    import duckdb

    path = tmp_path / "contacts"
    write_batch_delta(
        path, "contacts", _frame([("A1", "phone", 30.0), ("A2", "chat", 12.0)]), ["contact_id"]
    )
    write_batch_delta(path, "contacts", _frame([("A1", "phone", 40.0)]), ["contact_id"])
    con = duckdb.connect()
    con.register("contacts", delta_arrow(path))
    assert con.execute("SELECT count(*), sum(wait_s) FROM contacts").fetchall() == [(2, 52.0)]
    # The current files alone hold the current rows (what a reader without Delta reads).
    files = delta_files(path)
    assert con.execute(f"SELECT count(*), sum(wait_s) FROM read_parquet({files!r})").fetchall() == [
        (2, 52.0)
    ]


BASE = (
    b"contact_id,channel,opened_at,wait_s\n"
    b"A1,phone,2026-03-05 14:02,30\n"
    b"A2,chat,2026-03-05 15:00,12\n"
)


def test_ingest_with_lake_dir_writes_each_accepted_batch_to_delta(
    store, tmp_path, monkeypatch
) -> None:
    from metrics.ingest import ingest_file

    lake = tmp_path / "lake"
    monkeypatch.setenv("CX_LAKE_DIR", str(lake))
    ingest_file(store, BASE, table="contacts", file_name="a.csv")
    second = b"contact_id,channel,opened_at,wait_s\nA2,chat,2026-03-05 15:00,99\nA3,sms,2026-03-06 09:00,5\n"
    ingest_file(store, second, table="contacts", file_name="b.csv")
    lake_rows = (
        pl.from_arrow(delta_arrow(lake / "contacts"))
        .select("contact_id", "wait_s")
        .sort("contact_id")
    )  # type: ignore[union-attr]
    local = store.cursor().sql("SELECT contact_id, wait_s FROM contacts ORDER BY contact_id").pl()
    assert lake_rows.rows() == local.rows() == [("A1", 30.0), ("A2", 99.0), ("A3", 5.0)]


def test_ingest_rolls_back_locally_when_the_delta_commit_fails(
    store, tmp_path, monkeypatch
) -> None:
    import metrics.lake as lake_module
    from metrics.ingest import ingest_file

    monkeypatch.setenv("CX_LAKE_DIR", str(tmp_path / "lake"))

    def refuse(*args, **kwargs):
        raise LakeError("contacts: disk full")

    monkeypatch.setattr(lake_module, "write_batch_delta", refuse)
    before = store.cursor().execute("SELECT count(*) FROM contacts").fetchall()
    with pytest.raises(LakeError, match="disk full"):
        ingest_file(store, BASE, table="contacts", file_name="a.csv")
    assert store.cursor().execute("SELECT count(*) FROM contacts").fetchall() == before == [(0,)]
    assert store.cursor().execute("SELECT count(*) FROM ingest_batches").fetchall() == [(0,)]


MAPPING = """
target_schema = "cx"
[contacts]
source = "crm.service.tickets"
[contacts.columns]
contact_id = "ticket_id"
opened_at = "created_ts"
channel = "lower(origin)"
"""


def test_mapping_views_select_every_canonical_column_null_when_unmapped() -> None:
    sql = mapping_views(MAPPING)
    assert sql[0] == "CREATE DATABASE IF NOT EXISTS cx"
    view = sql[1]
    assert view.startswith("CREATE OR REPLACE VIEW cx.contacts AS SELECT ticket_id AS contact_id, ")
    assert "lower(origin) AS channel" in view and "created_ts AS opened_at" in view
    assert "NULL AS handle_s" in view and view.endswith("FROM crm.service.tickets")


def test_mapping_views_run_on_duckdb_and_answer_a_kpi() -> None:
    import duckdb

    from metrics.compiler import compile_request
    from metrics.settings import KpiSettings

    con = duckdb.connect()
    con.execute("CREATE SCHEMA crm")
    con.execute(
        "CREATE TABLE crm.tickets AS SELECT * FROM (VALUES ('T1', TIMESTAMP '2026-09-01 10:00', 'PHONE', 120.0), "
        "('T2', TIMESTAMP '2026-09-02 10:00', 'Chat', 60.0)) t(ticket_id, created_ts, origin, handling)"
    )
    toml = MAPPING.replace("crm.service.tickets", "crm.tickets") + 'handle_s = "handling"\n'
    for stmt in mapping_views(toml)[1:]:  # DuckDB has schemas, not databases
        con.execute("CREATE SCHEMA IF NOT EXISTS cx")
        con.execute(stmt)
    con.execute("USE cx")
    (q,) = compile_request(("aht",), ("channel",), None, None, None, (), KpiSettings())
    rows = con.execute(q.sql, q.params).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("chat", 1, 60.0), ("phone", 1, 120.0)]


def test_mapped_surveys_view_carries_the_linked_contact_and_customer_values() -> None:
    """The compiler reads a survey's channel and customer from the survey row (as the store
    keeps them, metrics/survey_links.py): the mapped surveys view joins them in."""
    import duckdb

    from metrics.compiler import compile_request
    from metrics.settings import KpiSettings

    con = duckdb.connect()
    con.execute("CREATE SCHEMA crm")
    con.execute(
        "CREATE TABLE crm.tickets AS SELECT * FROM (VALUES ('T1', TIMESTAMP '2026-09-01 10:00', "
        "'PHONE', 'a'), ('T2', TIMESTAMP '2026-09-02 10:00', 'Chat', 'b')) "
        "t(ticket_id, created_ts, origin, client)"
    )
    con.execute(
        "CREATE TABLE crm.clients AS SELECT * FROM (VALUES ('a', 'consumer'), ('b', 'business')) "
        "t(client, kind)"
    )
    con.execute(
        "CREATE TABLE crm.answers AS SELECT * FROM (VALUES ('R1', 'T1', TIMESTAMP '2026-09-01 "
        "11:00', 10), ('R2', 'T2', TIMESTAMP '2026-09-02 11:00', 0), ('R3', NULL, "
        "TIMESTAMP '2026-09-03 11:00', 9)) t(answer_id, ticket, given_at, score)"
    )
    toml = (
        'target_schema = "cx"\n[surveys]\nsource = "crm.answers"\n[surveys.columns]\n'
        'response_id = "answer_id"\ncontact_id = "ticket"\nanswered_at = "given_at"\nnps = "score"\n'
        '[contacts]\nsource = "crm.tickets"\n[contacts.columns]\ncontact_id = "ticket_id"\n'
        'opened_at = "created_ts"\nchannel = "lower(origin)"\ncustomer_id = "client"\n'
        '[customers]\nsource = "crm.clients"\n[customers.columns]\ncustomer_id = "client"\n'
        'segment = "kind"\n'
    )
    stmts = mapping_views(toml)
    assert stmts[-1].startswith("CREATE OR REPLACE VIEW cx.surveys AS SELECT s.*, ")
    con.execute("CREATE SCHEMA cx")
    for stmt in stmts[1:]:
        con.execute(stmt)
    con.execute("USE cx")
    for by, expected in (
        ("channel", [("chat", 1, -100.0), ("phone", 1, 100.0), (None, 1, 100.0)]),
        ("segment", [("business", 1, -100.0), ("consumer", 1, 100.0), (None, 1, 100.0)]),
    ):
        (q,) = compile_request(("nps",), (by,), None, None, None, (), KpiSettings())
        rows = con.execute(q.sql, q.params).fetchall()
        got = [(r[0], r[1], 100.0 * (r[2] - r[3]) / r[1]) for r in rows]
        assert sorted(got, key=lambda r: (r[0] is None, r[0] or "")) == expected


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[contacts]\nsource = "a.b"', 'target_schema = "<schema>" is required'),
        ('target_schema = "cx"\n[tickets]\nsource = "a.b"', "[tickets] is not a fact table"),
        (
            'target_schema = "cx"\n[contacts]\nsource = "a; DROP"',
            '[contacts] needs source = "catalog.schema.table"',
        ),
        (
            'target_schema = "cx"\n[contacts]\nsource = "a.b"\n[contacts.columns]\ncontact_id = "x"\nwait = "y"',
            "[contacts.columns] wait is not a column of contacts",
        ),
        (
            'target_schema = "cx"\n[contacts]\nsource = "a.b"\n[contacts.columns]\nchannel = "x"',
            "must map the key contact_id",
        ),
        ("target_schema = cx", "not valid TOML"),
    ],
)
def test_mapping_views_bad_mapping_is_one_line_naming_the_problem(toml: str, message: str) -> None:
    with pytest.raises(LakeError, match=re.escape(message)):
        mapping_views(toml)
