"""Issue 10 item 5, absent is not zero: the columns each batch supplied are recorded, and a KPI
whose inputs no loaded file supplied has no value and says why (cx kpis, Overview)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import old_store, start_page

from dashboard.cli.main import main
from metrics.catalogue import CATALOGUE, kpi_inputs
from metrics.ingest import ingest_file
from metrics.ingest.batches import undo_batch
from metrics.ingest.spec import TABLE_COLUMNS
from metrics.kpi_query import KpiRequest, query_kpis
from metrics.schema import _V8_COLUMNS, MIGRATIONS
from metrics.store import Store, open_store
from metrics.supplied import no_data, supplied_columns, translated_reason

ROOT = Path(__file__).resolve().parents[1]
OVERVIEW = ROOT / "dashboard" / "views" / "overview.py"

# Ten contacts in March 2026: resolved and customer known, no bot column at all.
NO_BOT = "contact_id,customer_id,channel,opened_at,resolved,escalated\n" + "".join(
    f"K{i},C{i % 3},{'chat' if i % 2 else 'phone'},2026-03-{i + 1:02d} 10:00,"
    f"{'yes' if i % 4 else 'no'},no\n"
    for i in range(10)
)
WITH_BOT = "contact_id,channel,opened_at,bot_handled,resolved\n" + "".join(
    f"B{i},chatbot,2026-03-{i + 1:02d} 11:00,{'yes' if i < 4 else 'no'},yes\n" for i in range(10)
)


def _load(store: Store, tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return ingest_file(store, path, table="contacts").batch_id


def _rows(store: Store, sql: str, params: list | None = None) -> list[tuple]:
    return store.cursor().execute(sql, params or []).fetchall()


def test_v8_columns_are_the_ingest_tables_canonical_columns() -> None:
    assert {t: tuple(c.name for c in cols) for t, cols in TABLE_COLUMNS.items()} == _V8_COLUMNS


def test_kpi_inputs_derived_from_the_measure_and_declared_where_coalesced() -> None:
    inputs = {k: kpi_inputs(v) for k, v in CATALOGUE.items()}
    assert inputs["automation_rate"] == (("contacts.bot_handled",), ("contacts.resolved",))
    assert inputs["fcr"] == (("contacts.first_contact_resolved", "contacts.resolved"),)
    assert inputs["repeat_contact_rate"] == (("contacts.customer_id",),)
    assert inputs["nps"] == (("surveys.nps",),)
    assert inputs["aht"] == (("contacts.handle_s",),)  # the COALESCEd bot/abandoned flags: no
    assert inputs["churn_rate"] == (("customers.signup_date",), ("customers.churned_at",))
    assert inputs["channel_mix"] == ()


def test_ingest_records_the_columns_the_batch_supplied(store: Store, tmp_path: Path) -> None:
    batch = _load(store, tmp_path, "nobot.csv", NO_BOT)
    got = {
        r[0]
        for r in _rows(
            store, "SELECT column_name FROM supplied_columns WHERE batch_id = ?", [batch]
        )
    }
    # resolved_at, bot_handled, wait_s ... were never in the file: not supplied.
    assert got == {"contact_id", "customer_id", "channel", "opened_at", "resolved", "escalated"}
    assert _rows(store, "SELECT DISTINCT table_name FROM supplied_columns") == [("contacts",)]


def test_column_present_but_empty_in_every_row_is_not_supplied(
    store: Store, tmp_path: Path
) -> None:
    text = "contact_id,channel,opened_at,bot_handled\nK1,phone,2026-03-01 10:00,\n"
    batch = _load(store, tmp_path, "empty_bot.csv", text)
    cols = {r[0] for r in _rows(store, "SELECT column_name FROM supplied_columns")}
    assert "bot_handled" not in cols and batch


def test_store_without_bot_column_automation_is_null_with_reason(
    store: Store, tmp_path: Path, capsys
) -> None:
    _load(store, tmp_path, "nobot.csv", NO_BOT)
    code = main(["kpis", "--db", str(store.path), "--json", "--from", "2026-03-01"])
    rows = {r["kpi"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 0
    auto = rows["automation_rate"]
    assert auto["value"] is None and auto["status"] is None and auto["p_misses"] is None
    assert auto["reason"] == "no loaded file had a bot column (contacts.bot_handled)"
    # FCR has its resolved column: a value (no repeat within 7 days needs customer ids: 3
    # customers, contacts a day apart); escalation was supplied (all "no"): 0 is real.
    assert rows["fcr"]["reason"] is None and rows["fcr"]["value"] is not None
    assert rows["escalation_rate"]["value"] == 0.0 and rows["escalation_rate"]["reason"] is None
    assert rows["aht"]["reason"] == "no loaded file had a handle time column (contacts.handle_s)"
    assert rows["nps"]["reason"] == "no surveys file loaded (surveys.nps)"
    code = main(["kpis", "--db", str(store.path), "--kpi", "automation_rate"])
    out = capsys.readouterr().out
    assert "no data: no loaded file had a bot column" in out


def test_breakdown_of_a_kpi_without_inputs_is_one_reason_row(store: Store, tmp_path: Path) -> None:
    _load(store, tmp_path, "nobot.csv", NO_BOT)
    frame = query_kpis(store, KpiRequest(kpis=("automation_rate",), by=("channel",), grain="week"))
    assert frame.height == 1
    row = frame.row(0, named=True)
    assert row["value"] is None and row["channel"] is None and row["period"] is None
    assert row["reason"].startswith("no loaded file had a bot column")


def test_second_file_with_bot_column_gives_a_value_and_undo_takes_it_back(
    store: Store, tmp_path: Path
) -> None:
    _load(store, tmp_path, "nobot.csv", NO_BOT)
    batch = _load(store, tmp_path, "bot.csv", WITH_BOT)
    req = KpiRequest(kpis=("automation_rate",))
    row = query_kpis(store, req).row(0, named=True)
    # 4 bot-handled and resolved, none escalated, of 20 contacts (hand count).
    assert (row["value"], row["n"], row["reason"]) == (pytest.approx(4 / 20), 20, None)
    undo_batch(store, batch)
    row = query_kpis(store, req).row(0, named=True)
    assert row["value"] is None and row["reason"].startswith("no loaded file had a bot column")


def test_no_data_reason_for_alternatives_and_empty_tables() -> None:
    fcr = no_data("fcr", {"contacts": {"contact_id", "channel", "opened_at"}})
    assert fcr is not None
    assert fcr.reason == (
        "no loaded file had a first-contact-resolved or resolved column "
        "(contacts.first_contact_resolved or contacts.resolved)"
    )
    assert no_data("fcr", {"contacts": {"resolved"}}) is None
    repeat = no_data("repeat_contact_rate", {"contacts": {"contact_id", "channel", "opened_at"}})
    assert repeat is not None
    assert repeat.reason == "no loaded file had a customer id column (contacts.customer_id)"
    both = no_data("automation_rate", {"contacts": {"contact_id"}})
    assert both is not None and both.missing == ("contacts.bot_handled", "contacts.resolved")
    assert both.reason == (
        "no loaded file had a bot column or a resolved column "
        "(contacts.bot_handled; contacts.resolved)"
    )
    churn = no_data("churn_rate", {})
    assert churn is not None and churn.reason.startswith("no customers file loaded")


def test_no_data_reason_in_swedish_for_every_kpi_and_both_cases() -> None:
    """Every KPI's reason, for an empty store and for files without its columns, reads in
    Swedish with the same canonical names in brackets; other text passes through."""
    assert translated_reason(
        "no loaded file had a bot column or a resolved column "
        "(contacts.bot_handled; contacts.resolved)",
        "sv",
    ) == (
        "ingen inläst fil hade en kolumn för bot eller en kolumn för löst "
        "(contacts.bot_handled; contacts.resolved)"
    )
    assert (
        translated_reason("no customers file loaded (customers.churned_at)", "sv")
        == "ingen kundfil inläst (customers.churned_at)"
    )
    some = {t: {"contact_id", "response_id", "customer_id"} for t in TABLE_COLUMNS}
    for name in CATALOGUE:
        for supplied in ({}, some):
            found = no_data(name, supplied)
            if found is None:
                continue
            sv = translated_reason(found.reason, "sv")
            assert sv.startswith("ingen "), (name, sv)
            assert sv.endswith(found.reason[found.reason.index(" (") :]), (name, sv)
            assert " or " not in sv.split(" (")[0] and " column" not in sv, (name, sv)
            assert translated_reason(found.reason, "en") == found.reason
    assert translated_reason("some other text (a.b)", "sv") == "some other text (a.b)"


def test_sample_world_records_its_columns_and_every_kpi_has_data(sample_store: Store) -> None:
    recorded = _rows(
        sample_store, "SELECT count(*) FROM supplied_columns WHERE batch_id = 'sample'"
    )[0][0]
    assert recorded > 20
    assert all(no_data(k, supplied_columns(sample_store)) is None for k in CATALOGUE), (
        "the sample world supplies every KPI's inputs"
    )


def test_migration_backfills_supplied_columns_from_the_data(tmp_path: Path) -> None:
    db = tmp_path / "v7.duckdb"
    con = old_store(db, 7)
    con.execute(
        "INSERT INTO contacts (contact_id, channel, opened_at, bot_handled, batch_id) VALUES "
        "('K1', 'phone', TIMESTAMP '2026-03-05 10:00', TRUE, 'B1'), "
        "('K2', 'phone', TIMESTAMP '2026-03-05 11:00', NULL, 'B2'), "
        "('K3', 'chat', TIMESTAMP '2026-03-05 12:00', NULL, NULL)"
    )
    # B1's earlier version of K9 lives on in the history (a later batch updated it).
    con.execute(
        "INSERT INTO contacts_history (hist_batch, hist_op, contact_id, channel, opened_at, "
        "handle_s, batch_id) VALUES ('B2', 'update', 'K9', 'phone', "
        "TIMESTAMP '2026-03-01 10:00', 30, 'B1')"
    )
    con.close()
    with open_store(db) as store:
        assert store.schema_version() == len(MIGRATIONS) >= 8
        got = set(
            _rows(
                store,
                "SELECT batch_id, column_name FROM supplied_columns WHERE table_name = 'contacts'",
            )
        )
    assert {("B1", "bot_handled"), ("B1", "handle_s"), ("B1", "contact_id")} <= got
    assert ("B2", "bot_handled") not in got and ("B2", "channel") in got
    assert ("", "channel") in got and ("", "bot_handled") not in got
    assert not any(c in ("extras", "batch_id") for _, c in got)


def test_overview_card_without_inputs_shows_no_data_and_reason(
    store: Store, tmp_path: Path, monkeypatch
) -> None:
    _load(store, tmp_path, "nobot.csv", NO_BOT)
    store.close()
    at = start_page(OVERVIEW, store.path, monkeypatch)
    cards = {m.label: m for m in at.metric}
    auto = cards[CATALOGUE["automation_rate"].label]
    assert auto.value == "No data"
    captions = [c.value for c in at.caption]
    assert "Why: no loaded file had a bot column (contacts.bot_handled)" in captions
    at.query_params["lang"] = "sv"
    at.run()
    captions = [c.value for c in at.caption]
    assert "Varför: ingen inläst fil hade en kolumn för bot (contacts.bot_handled)" in captions
    # No status badge or target line for it: every badge line names a KPI that has data.
    badges = [m.value for m in at.markdown if "badge[" in m.value]
    assert len(badges) == len(cards) - sum(1 for m in cards.values() if m.value == "No data")


def test_alerts_and_report_do_not_flag_a_kpi_without_data(store: Store, tmp_path: Path) -> None:
    from metrics.alerts import check_alerts
    from metrics.report import overview_report, render_html

    # 60 March contacts without a bot column: read as 0 % of 60 the automation rate would
    # miss its 45 % target with P ≈ 1 (Beta(1, 61) puts nothing near 0.45).
    text = "contact_id,channel,opened_at,resolved\n" + "".join(
        f"K{i},phone,2026-03-{1 + i % 28:02d} 10:00,yes\n" for i in range(60)
    )
    _load(store, tmp_path, "nobot60.csv", text)
    check = check_alerts(store)
    assert check is not None
    assert "automation_rate" not in {a.kpi for a in check.alerts}
    report = overview_report(store)
    assert report is not None
    html = render_html(report)
    assert "no data — no loaded file had a bot column (contacts.bot_handled)" in html
    assert "inga data — ingen inläst fil hade en kolumn för bot (contacts.bot_handled)" in (
        render_html(report, "sv")
    )


def test_explore_kpi_without_inputs_says_no_data_and_why(
    store: Store, tmp_path: Path, monkeypatch
) -> None:
    _load(store, tmp_path, "nobot.csv", NO_BOT)
    store.close()
    at = start_page(ROOT / "dashboard" / "views" / "explore.py", store.path, monkeypatch)
    at.selectbox(key="ex_kpi").select("automation_rate").run()
    assert not at.exception
    assert [i.value for i in at.info] == [
        "No data for this KPI: no loaded file had a bot column (contacts.bot_handled)."
    ]
    assert not at.get("plotly_chart")  # no trend of zeros
    at.selectbox(key="ex_kpi").select("escalation_rate").run()
    assert not at.info and at.get("plotly_chart")  # supplied (all "no"): a real 0 %


def test_churn_page_with_surveys_but_no_churn_dates_draws_no_band_of_nothing(
    store: Store, tmp_path: Path, monkeypatch
) -> None:
    customers = "customer_id,signup_date\n" + "".join(f"C{i},2025-01-01\n" for i in range(3))
    (tmp_path / "cust.csv").write_text(customers, encoding="utf-8")
    ingest_file(store, tmp_path / "cust.csv", table="customers")
    surveys = "response_id,customer_id,answered_at,csat\n" + "".join(
        f"R{i},C{i % 3},2025-06-{i + 1:02d} 10:00,{1 + i % 5}\n" for i in range(10)
    )
    (tmp_path / "s.csv").write_text(surveys, encoding="utf-8")
    ingest_file(store, tmp_path / "s.csv", table="surveys")
    frame = query_kpis(
        store, KpiRequest(kpis=("churn_by_satisfaction",), by=("satisfaction_band",))
    )
    assert frame["reason"].to_list() == [
        "no loaded file had a churn date column (customers.churned_at)"
    ]
    store.close()
    at = start_page(ROOT / "dashboard" / "views" / "churn.py", store.path, monkeypatch)
    assert (
        "No data for churn by satisfaction: no loaded file had a churn date column "
        "(customers.churned_at)." in [i.value for i in at.info]
    )
    # Read as 0 of 3 customers lost every month, churn would have been 0 %: no rate instead.
    assert "No monthly churn: no loaded file had a churn date column (customers.churned_at)." in [
        i.value for i in at.info
    ]
    assert not [m for m in at.metric if "Churn" in m.label]
