"""The UI in Swedish and English: catalogue parity, t()'s missing-key rule, every page in both
languages, the sidebar switch, and Swedish page tests asserting what a Swedish user sees."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st
from data_page import ingest_on_page
from streamlit.testing.v1 import AppTest

from dashboard import i18n
from dashboard.i18n import catalogue, placeholders, t, translate, use_language, value_label
from metrics.catalogue import CATALOGUE, SATISFACTION_BANDS
from metrics.schema import CHANNELS, ISSUE_TYPES

ROOT = Path(__file__).resolve().parents[1]
VIEWS = ROOT / "dashboard" / "views"
APP = ROOT / "dashboard" / "app.py"
PAGES = sorted(p.name for p in VIEWS.glob("*.py"))


def _start(page: Path, db: Path, monkeypatch, lang: str | None, *, errors_ok=False) -> AppTest:
    """Run a page (or the router) in `lang` (via ?lang=) on the store at `db`."""
    monkeypatch.setenv("CX_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(page), default_timeout=120)
    if lang:
        at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    if not errors_ok:
        assert not at.error, [e.value for e in at.error]
    return at


# -- the catalogues ------------------------------------------------------------------------


def test_catalogues_have_exactly_the_same_keys():
    en, sv = catalogue("en"), catalogue("sv")
    assert sorted(set(en) - set(sv)) == [], "keys only in en.toml"
    assert sorted(set(sv) - set(en)) == [], "keys only in sv.toml"
    assert len(en) > 400  # every page's strings, not a token set


def test_catalogues_have_the_same_placeholders_per_key():
    en, sv = catalogue("en"), catalogue("sv")
    differ = {k: (placeholders(en[k]), placeholders(sv[k])) for k in en if k in sv}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}


def test_placeholders_reads_names_not_format_specs():
    assert placeholders("n = {n:,} of {total} ({share:.1%})") == {"n", "total", "share"}
    assert placeholders("no fields") == set()


def test_swedish_catalogue_is_translated_not_copied():
    en, sv = catalogue("en"), catalogue("sv")
    same = [k for k in en if en[k] == sv[k]]
    # Names that read the same in both (NPS, CLV, Data, Team, …) are few; a copied section
    # would show up as hundreds.
    assert len(same) < 0.12 * len(en), same


def test_every_kpi_has_a_label_and_definition_in_both_languages():
    for name, kpi in CATALOGUE.items():
        assert translate("en", f"kpi.{name}.label") == kpi.label, name  # no drift
        for lang in ("en", "sv"):
            assert translate(lang, f"kpi.{name}.definition"), (lang, name)
    assert translate("sv", "kpi.fcr.label") == "Lösta vid första kontakt"
    assert translate("sv", "kpi.aht.label") == "Genomsnittlig hanteringstid"


def test_every_channel_issue_type_and_band_has_a_swedish_name():
    with use_language("sv"):
        assert [value_label("channel", c) for c in ("phone", "email", "chat")] == [
            "Telefon",
            "E-post",
            "Chatt",
        ]
        for dim, values in (
            ("channel", CHANNELS),
            ("issue_type", ISSUE_TYPES),
            ("satisfaction_band", SATISFACTION_BANDS),
        ):
            for v in values:
                assert i18n.has(f"value.{dim}.{v}"), (dim, v)
        # A value the vocabulary does not know (a team) is shown as it is.
        assert value_label("team", "Team Nord") == "Team Nord"


def test_every_literal_key_used_in_dashboard_exists():
    keys = set(catalogue("en"))
    literal, dynamic = set(), set()
    for path in (ROOT / "dashboard").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        literal |= set(re.findall(r'(?<![\w.])t\(\s*"([^"]+)"', text))
        dynamic |= set(re.findall(r'(?<![\w.])t\(\s*f"([^"]+)"', text))
    assert literal, "the scan found no t() calls"
    assert sorted(literal - keys) == []
    for template in dynamic:  # t(f"status.{s}.badge"): some key must fit the pattern
        pattern = re.sub(r"\\\{[^}]*\\\}", r"[^.]+", re.escape(template))
        assert any(re.fullmatch(pattern, k) for k in keys), template


def test_every_literal_t_call_passes_exactly_the_placeholders_of_its_string():
    """Error branches no page test reaches still format: a t("key", ...) call passes every
    {placeholder} its string needs and nothing else (checked on the source with ast)."""
    import ast

    en = catalogue("en")
    wrong = []
    for path in (ROOT / "dashboard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id not in ("t", "translate") or not node.args:
                continue
            key_arg = node.args[0] if node.func.id == "t" else node.args[1]
            if not (isinstance(key_arg, ast.Constant) and isinstance(key_arg.value, str)):
                continue
            given = {k.arg for k in node.keywords}
            if None in given:  # **kwargs: cannot be checked statically
                continue
            need = placeholders(en[key_arg.value])
            # Plotly's own %{...} templates are not Python placeholders.
            if "%{" in en[key_arg.value] and not given:
                continue
            if given != need:
                wrong.append((path.name, node.lineno, key_arg.value, sorted(given), sorted(need)))
    assert wrong == []


# -- t() -----------------------------------------------------------------------------------


def test_t_outside_streamlit_is_english_and_use_language_switches():
    assert t("nav.overview") == "Overview"
    with use_language("sv"):
        assert t("nav.overview") == "Översikt"
        assert t("overview.target", value="80 %") == "mål 80 %"
    assert i18n.current_language() == "en"


def test_use_language_refuses_an_unknown_language():
    with (
        pytest.raises(ValueError, match="language must be one of sv, en, got 'de'"),
        use_language("de"),
    ):
        pass


def test_missing_key_raises_under_tests():
    with pytest.raises(KeyError, match="no UI string 'overview.nope'"):
        t("overview.nope")


def test_missing_key_in_production_falls_back_to_english_with_a_log_line(monkeypatch, caplog):
    monkeypatch.setenv("CX_I18N_STRICT", "0")
    assert "zz.only_en" not in catalogue("sv")
    monkeypatch.setitem(catalogue("en"), "zz.only_en", "English {n}")
    with caplog.at_level(logging.WARNING, logger="cx.i18n"):
        assert translate("sv", "zz.only_en", n=3) == "English 3"
    assert "missing UI string 'zz.only_en' in sv" in caplog.text
    assert translate("sv", "zz.not_anywhere") == "zz.not_anywhere"


def test_month_and_date_names_follow_the_language():
    from datetime import date

    day = date(2026, 10, 1)
    assert i18n.date_text(day) == "1 Oct 2026" and i18n.month_text(day) == "October 2026"
    with use_language("sv"):
        assert i18n.date_text(day) == "1 okt 2026" and i18n.month_text(day) == "oktober 2026"
        assert i18n.date_text(date(2026, 5, 3), year=False) == "3 maj"


def test_figures_take_the_language_without_streamlit():
    import polars as pl

    from dashboard.figures.kpi import breakdown_figure, channel_mix_chart

    df = pl.DataFrame({"channel": ["email", "phone"], "value": [0.4, 0.6], "n": [40, 60]})
    with use_language("sv"):
        mix = channel_mix_chart(df)
        bars = breakdown_figure(df, "channel", label="CSAT (topp-2)", unit="share")
    assert mix["title"] == "Kanalfördelning"
    assert [r["channel"] for r in mix["data"]["values"]] == ["Telefon", "E-post"]
    assert bars.layout.title.text == "CSAT (topp-2) per kanal"
    assert list(bars.layout.yaxis.ticktext) == ["Telefon", "E-post"]
    assert list(bars.data[0].y) == ["phone", "email"]  # the data keeps the stored values


def test_sparkline_months_are_named_in_the_language():
    from datetime import date

    import polars as pl

    from dashboard.kpi_cards import spark_values

    df = pl.DataFrame(
        {
            "kpi": ["fcr", "fcr"],
            "period": [date(2026, 10, 1), date(2026, 5, 1)],
            "value": [2.0, 1.0],
        }
    )
    assert spark_values(df, "fcr") == ([1.0, 2.0], "May 2026 – Oct 2026")
    with use_language("sv"):
        assert spark_values(df, "fcr")[1] == "maj 2026 – okt 2026"


# -- every page in both languages ----------------------------------------------------------


@pytest.mark.parametrize("lang", ["sv", "en"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_in_both_languages_without_a_missing_key(
    page, lang, sample_store, monkeypatch
):
    # t() raises on a missing key under pytest, so a missing key is an exception here.
    at = _start(VIEWS / page, sample_store.path, monkeypatch, lang)
    assert at.title[0].value
    if lang == "sv":
        assert at.title[0].value == translate("sv", f"nav.{_NAV[page]}")


_NAV = {
    "audit.py": "audit",
    "overview.py": "overview",
    "explore.py": "explore",
    "churn.py": "churn",
    "experiment_list.py": "experiments",
    "plan.py": "plan",
    "calculator.py": "calculator",
    "data.py": "data",
    "targets.py": "targets",
    "settings.py": "settings_page",
}


def test_every_page_file_has_a_navigation_title():
    assert set(PAGES) == set(_NAV)


# -- the sidebar switch --------------------------------------------------------------------


def test_sidebar_switch_turns_the_app_swedish_and_keeps_it_in_the_url(sample_store, monkeypatch):
    at = _start(APP, sample_store.path, monkeypatch, None)
    assert at.title[0].value == "Overview"
    switch = at.sidebar.radio[0]
    assert switch.label == "Språk / Language" and switch.value == "en"
    switch.set_value("sv").run()
    assert not at.exception
    assert at.title[0].value == "Översikt"
    assert at.sidebar.caption[0].value.startswith("Inloggad som ")
    assert at.query_params["lang"] == ["sv"] or at.query_params["lang"] == "sv"
    assert at.sidebar.header[0].value == "Filter"
    at.sidebar.radio[0].set_value("en").run()
    assert at.title[0].value == "Overview"


def test_link_with_lang_sv_opens_the_app_in_swedish(sample_store, monkeypatch):
    at = _start(APP, sample_store.path, monkeypatch, "sv")
    assert at.title[0].value == "Översikt"
    assert at.sidebar.radio[0].value == "sv"


def test_language_setting_opens_swedish_and_the_url_overrides_it(sample_store, monkeypatch):
    import metrics.settings as ms

    monkeypatch.setattr(ms, "load_language", lambda store: "sv", raising=False)
    at = _start(VIEWS / "targets.py", sample_store.path, monkeypatch, None)
    assert at.title[0].value == "Mål"
    at = _start(VIEWS / "targets.py", sample_store.path, monkeypatch, "en")
    assert at.title[0].value == "Targets"


def test_a_changed_setting_is_followed_by_an_open_session(sample_store, monkeypatch):
    import metrics.settings as ms

    setting = {"lang": "en"}
    monkeypatch.setattr(ms, "load_language", lambda store: setting["lang"], raising=False)
    at = _start(APP, sample_store.path, monkeypatch, None)
    assert at.title[0].value == "Overview"
    setting["lang"] = "sv"  # the Settings page (or `cx settings set ui.language sv`) saved it
    st.cache_data.clear()
    at.run()
    assert at.title[0].value == "Översikt"
    at.sidebar.radio[0].set_value("en").run()  # the switch still overrides it
    assert at.title[0].value == "Overview"


def test_without_a_setting_or_choice_the_ui_is_english(sample_store, monkeypatch):
    at = _start(VIEWS / "targets.py", sample_store.path, monkeypatch, None)
    assert at.title[0].value == "Targets"


# -- Swedish page tests: what a Swedish user sees ------------------------------------------


@pytest.fixture
def sv(sample_store, monkeypatch):
    def run(page: str, **kw) -> AppTest:
        return _start(VIEWS / page, sample_store.path, monkeypatch, "sv", **kw)

    # AppTest calls a widget's format_func in the test's thread, outside the script run:
    # there the language comes from use_language, so options match what the page showed.
    with use_language("sv"):
        yield run


def test_overview_in_swedish(sv):
    at = sv("overview.py")
    assert at.title[0].value == "Översikt"
    labels = {m.label for m in at.metric}
    assert {"Lösta vid första kontakt", "Genomsnittlig hanteringstid", "Servicenivå"} <= labels
    assert at.caption[0].value.startswith("Aktuell period **1 sep 2026 – 30 sep 2026**")
    assert "jämfört med 2 aug – 31 aug 2026" in at.caption[0].value
    badges = " ".join(m.value for m in at.markdown)
    assert "mål " in badges and "n = " in badges
    assert at.subheader[0].value == "Missar målet"
    assert list(at.table[0].value.columns[:2]) == ["KPI", "kanal"]
    buttons = [b.proto.label for b in at.get("download_button")]
    assert "Ladda ner CSV" in buttons and "Ladda ner XLSX" in buttons
    assert at.sidebar.header[0].value == "Filter"
    assert at.sidebar.button(key="flt_reset").label == "Återställ filter"
    mix = at.get("vega_lite_chart")[-1].proto
    assert json.loads(mix.spec)["title"] == "Kanalfördelning"
    assert "Telefon" in pa.ipc.open_stream(mix.data.data).read_all()["channel"].to_pylist()


def test_explore_in_swedish(sv):
    at = sv("explore.py")
    assert at.title[0].value == "Utforska"
    assert at.selectbox(key="ex_kpi").label == "KPI"
    assert at.selectbox(key="ex_grain").label == "Tidsindelning"
    assert at.selectbox(key="ex_dim").label == "Dela upp per"
    assert [s.value for s in at.subheader][:2] == ["Trend", "Per kanal"]
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert " per kanal" in spec["layout"]["title"]["text"]
    assert "Telefon" in spec["layout"]["yaxis"]["ticktext"]
    assert [b.proto.label for b in at.get("download_button")][:2] == [
        "Ladda ner CSV",
        "Ladda ner XLSX",
    ]
    # Every chart gets Plotly's Swedish locale inline: date ticks and hovers say "maj", "okt".
    for chart in at.get("plotly_chart"):
        config = json.loads(chart.proto.config)
        assert config["locale"] == "sv", config
        words = config["locales"]["sv"]["format"]
        assert words["shortMonths"][4] == "maj" and words["days"][0] == "söndag"
        spec = json.loads(chart.proto.spec)
        assert spec["layout"]["separators"] == ", "  # the figure's own (numbers.localize)


def test_plotly_config_is_plotlys_default_in_english():
    from dashboard.i18n import use_language
    from dashboard.numbers import plotly_config

    with use_language("en"):
        assert plotly_config() == {}
    with use_language("sv"):
        assert plotly_config()["locales"]["sv"]["format"]["months"][9] == "oktober"


def test_targets_in_swedish(sv):
    at = sv("targets.py")
    assert at.title[0].value == "Mål"
    assert at.button(key="tgt_save").label == "Spara mål"
    assert at.button(key="tgt_reset").label == "Återställ till standard"
    assert at.subheader[0].value == "Ändra ett mål"


def test_calculator_in_swedish(sv):
    at = sv("calculator.py")
    assert at.title[0].value == "Snabbkalkylator"
    assert at.radio(key="family").label == "Vilken sorts mått?"
    labels = [m.label for m in at.metric]
    assert labels[0] == "Chans att varianten är bättre"
    # The default arms (100/1000 vs 120/1000): decimal comma, spaced per cent, p.e. for pp.
    from experiments.stats import BinaryStats, analyze_binary

    r = analyze_binary(BinaryStats(1000, 100), BinaryStats(1000, 120))
    p = f"{r.prob_variant_better * 100:.1f}".replace(".", ",")
    assert at.metric[0].value == f"{p} %"
    lift = f"{r.absolute_lift.mean * 100:+.2f}".replace(".", ",")
    assert at.metric[2].value == f"{lift} p.e."
    assert f"({p} %" in at.info[0].value or f"{p} % chans" in at.info[0].value
    assert at.info[0].value.startswith(("Varianten", "Ingen klar vinnare"))
    assert [s.value for s in at.subheader] == ["Kontroll", "Variant"]


def test_plan_in_swedish(sv):
    at = sv("plan.py")
    assert at.title[0].value == "Planera ett experiment"
    assert {"Urvalsstorlek per grupp", "Förväntad längd", "Säkerhet"} <= {
        m.label for m in at.metric
    }
    assert {b.label for b in at.button} >= {"Spara som utkast", "Starta"}
    assert any(c.value.startswith("Utgångsläge Lösta vid första kontakt") for c in at.caption)


def test_experiments_in_swedish(sv):
    at = sv("experiment_list.py")
    assert at.title[0].value == "Experiment"
    assert at.subheader[0].value.startswith("Beslut: ")
    assert at.text_input[0].label == "Sök bland tidigare experiment"
    assert "Effekt per segment" in [s.value for s in at.subheader]
    assert any(b.label == "Spara beslut" for b in at.button)
    table = at.dataframe[1].value
    assert set(table["role"]) <= {"primärt", "skyddsmått"} and "primärt" in set(table["role"])
    assert all(" till " in v for v in table["95 % interval"])
    header = " ".join(c.value for c in at.caption)
    assert "enheter" in header and "95 %-intervall " in header


def test_churn_in_swedish(sv):
    at = sv("churn.py")
    assert at.title[0].value == "Churn & CLV"
    subheaders = [s.value for s in at.subheader]
    assert subheaders[:2] == ["Churn per månad", "Nöjdhet och churn"]
    assert at.metric[0].label.startswith("Churn, ") and "2026" in at.metric[0].label
    assert at.caption[0].value.startswith("Data till och med ")
    assert any(b.label == "Markera som uppföljt" for b in at.button)
    assert at.sidebar.number_input[0].label == "Bruttomarginal för CLV"
    # The tables' bands and numbers in Swedish words (display values; the data keeps codes).
    shown = [
        pa.ipc.open_stream(d.proto.arrow_data.styler.display_values).read_all().to_pylist()
        for d in at.dataframe
    ]
    cells = {str(v) for table in shown for row in table for v in row.values()}
    assert {"mycket missnöjd", "≤ 2 år", "ingen avgift", "per kundmånad"} <= cells
    assert not {"very dissatisfied", "≤ 2 years", "none", "per customer-month"} & cells
    assert any(re.fullmatch(r"\d+,\d %", c) for c in cells)


def test_data_in_swedish(sv):
    at = sv("data.py")
    assert at.title[0].value == "Data"
    assert "Inläsningshistorik" in [s.value for s in at.subheader]


# -- Swedish flows: what a Swedish user reads after acting ----------------------------------


def test_targets_save_and_reset_in_swedish(sv, sample_store):
    at = sv("targets.py", errors_ok=True)
    at.selectbox(key="tgt_kpi").select("First contact resolution").run()
    at.number_input(key="tgt_value_fcr:None").set_value(85.0).run()
    at.button(key="tgt_save").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value == "Sparat: Lösta vid första kontakt mål 85."
    at.button(key="tgt_reset").click().run()
    assert (
        at.success[0].value
        == "Återställt: Lösta vid första kontakt använder sitt standardvärde igen."
    )


def test_experiment_decision_in_swedish(sv, sample_store):
    from experiments.registry import get_experiment

    at = sv("experiment_list.py")
    at.selectbox[0].select("callback_vs_queue").run()
    assert at.radio[0].label == "Beslut"
    assert at.radio[0].options == ["inför", "stoppa", "låt löpa vidare"]
    at.radio[0].set_value("ship")
    next(x for x in at.text_input if x.label == "Beslutat av").input("Ann")
    next(b for b in at.button if b.label == "Spara beslut").click().run()
    assert not at.exception and not at.error
    assert get_experiment(sample_store, "callback_vs_queue").decision == "ship"
    assert any("Sparat: inför av Ann." in s.value for s in at.success)


def test_data_ingest_report_in_swedish(sv):
    export = ROOT / "sample_data" / "exports" / "swedish_contacts.csv"
    at = sv("data.py")
    at.selectbox(key="data_preset").select("swedish").run()
    at.file_uploader[0].upload(export.name, export.read_bytes(), "text/csv").run()
    assert not at.exception and not at.error
    assert at.markdown[0].value.startswith("**CSV** · 10 rader · teckenkodning")
    assert at.button[0].label == "Läs in"
    ingest_on_page(at)
    assert not at.exception
    alert = (at.warning or at.success)[-1].value
    assert alert.startswith("Inläst i **contacts**: läste 10 rader: ")
    assert "personuppgiftskolumn 'Namn'" in at.code[-1].value
    assert "Ångra en inläsning" in [e.label for e in at.expander]
    assert any(b.label == "Ångra inläsningen" for b in at.button)


def test_calculator_lift_in_percentage_points_reads_pe_in_swedish(sv):
    at = sv("calculator.py")
    assert at.metric[2].label == "Skillnad (95 %-intervall)"
    assert at.metric[2].value.endswith(" p.e.")


def test_experiment_header_matches_the_readout_timeline_in_every_case():
    """header_text words readout_view.timeline's cases; in English it is the same text."""
    from datetime import date, timedelta
    from types import SimpleNamespace

    from dashboard.experiment_sections import header_text
    from experiments.readout_view import timeline, units_text

    today = date(2026, 10, 1)
    cases = [
        (None, None),
        (None, today + timedelta(days=9)),
        (today + timedelta(days=3), today + timedelta(days=30)),
        (today + timedelta(days=3), None),
        (today - timedelta(days=40), today - timedelta(days=2)),
        (today - timedelta(days=5), today + timedelta(days=20)),
        (today - timedelta(days=5), None),
    ]
    n = {"control": 1503, "callback": 1497}
    for start, end in cases:
        r = SimpleNamespace(
            experiment=SimpleNamespace(start_date=start, end_date=end), n_by_variant=n
        )
        expected = f"{timeline(r.experiment, today).text} · {units_text(n)}"
        assert header_text(r, today) == expected, (start, end)
        with use_language("sv"):
            swedish = header_text(r, today)
        assert swedish.endswith("control 1\u00a0503 · callback 1\u00a0497 enheter")
