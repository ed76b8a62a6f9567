"""Settings a manager can change: validation with one-line errors, all-or-nothing writes,
`cx settings get|set`, and the Settings page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import start_page

from dashboard.cli.main import main
from metrics.settings import (
    SETTINGS,
    KpiSettings,
    SettingError,
    all_settings,
    get_setting,
    load_settings,
    set_setting,
    write_settings,
)
from metrics.store import Store, open_store

PAGE = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "settings.py"


def test_defaults_cover_every_setting_the_issue_names(store: Store) -> None:
    values = all_settings(store)
    assert values == {k: s.default for k, s in SETTINGS.items()}
    assert values["business.time_zone"] == "Europe/Stockholm" and values["ui.currency"] == "SEK"
    assert load_settings(store) == KpiSettings()


@pytest.mark.parametrize(
    ("key", "raw", "parsed"),
    [
        ("kpi.fcr_window_days", "3", 3.0),
        ("kpi.min_n", "50", 50),
        ("clv.margin", "0.25", 0.25),
        ("ui.currency", "eur", "EUR"),
        ("business.time_zone", "America/New_York", "America/New_York"),
        ("ui.language", "sv", "sv"),
        ("kpi.ces_reading", "agreement", "agreement"),
    ],
)
def test_set_parses_text_and_persists(store: Store, key: str, raw: str, parsed: object) -> None:
    assert set_setting(store, key, raw) == parsed
    assert get_setting(store, key) == parsed


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("kpi.fcr_window_days", "-1", "kpi.fcr_window_days must be a positive number, got '-1'"),
        ("kpi.min_n", "2.5", "kpi.min_n must be a whole number of at least 1, got '2.5'"),
        ("clv.margin", "30", "clv.margin must be a share in (0, 1], e.g. 0.3, got '30'"),
        ("ui.currency", "kronor", "ui.currency must be a 3-letter ISO 4217 code such as SEK"),
        ("business.time_zone", "CEST", "business.time_zone must be an IANA time zone"),
        ("ui.language", "de", "ui.language must be one of sv, en, got 'de'"),
        ("nope", "1", "unknown setting 'nope'; valid keys: kpi.ces_reading"),
    ],
)
def test_bad_values_give_one_line_errors(store: Store, key: str, raw: str, message: str) -> None:
    with pytest.raises(SettingError) as err:
        set_setting(store, key, raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_write_is_all_or_nothing(store: Store) -> None:
    with pytest.raises(SettingError, match="ui.currency"):
        write_settings(store, {"kpi.min_n": "40", "ui.currency": "12"})
    assert get_setting(store, "kpi.min_n") == 30


def test_min_n_setting_changes_the_small_sample_flag(store: Store) -> None:
    from metrics.kpi_query import KpiRequest, query_kpis

    with store.write() as cur:
        for i in range(40):
            cur.execute(
                "INSERT INTO contacts (contact_id, channel, opened_at, escalated) "
                "VALUES (?, 'phone', TIMESTAMP '2026-03-02 10:00:00', FALSE)",
                [f"c{i}"],
            )
    req = KpiRequest(kpis=("escalation_rate",))
    assert query_kpis(store, req)["small_sample"].to_list() == [False]
    set_setting(store, "kpi.min_n", 50)
    assert query_kpis(store, req)["small_sample"].to_list() == [True]


def test_cli_settings_get_and_set(tmp_path: Path, capsys) -> None:
    db = tmp_path / "cx.duckdb"
    open_store(db).close()
    assert main(["settings", "set", "ui.currency", "eur", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"key": "ui.currency", "value": "EUR"}
    assert main(["settings", "get", "ui.currency", "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "EUR"
    assert main(["settings", "get", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["key"] for r in rows} == set(SETTINGS)
    assert main(["settings", "set", "kpi.sl_chat_s", "soon", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "kpi.sl_chat_s must be a positive number" in err


def test_settings_page_saves_valid_and_refuses_bad_values(sample_store, monkeypatch) -> None:
    at = start_page(PAGE, sample_store.path, monkeypatch)
    at.text_input(key="kpi.fcr_window_days").input("10")
    at.selectbox(key="ui.language").select("sv")
    at.button[0].click().run()
    assert not at.exception and not at.error
    # The language just saved is Swedish: the confirmation is already in it.
    assert "FCR-fönster (dagar) = 10, Språk = sv" in at.success[0].value
    assert get_setting(sample_store, "kpi.fcr_window_days") == 10.0
    assert get_setting(sample_store, "ui.language") == "sv"
    # AppTest formats the (now Swedish) options in the test's thread: say the language there.
    from dashboard.i18n import use_language

    with use_language("sv"):
        at.text_input(key="business.time_zone").input("Stockholm")
        at.button[0].click().run()
    assert "Inte sparat: business.time_zone must be an IANA time zone" in at.error[0].value
    assert get_setting(sample_store, "business.time_zone") == "Europe/Stockholm"
