"""Alert lines and the Overview report in the reader's language: numbers through metrics.units."""

from __future__ import annotations

from metrics.alerts import Alert, no_alert_text

NBSP = "\u00a0"


def _alert(**kw) -> Alert:
    base = dict(
        kpi="frt_live_median",
        label="First response time (live)",
        channel="chat",
        value=45.4,
        target=30.0,
        unit="seconds",
        n=12345,
        p_misses=0.9996,
        off_by_tolerances=3.1,
    )
    return Alert(**{**base, **kw})


def test_alert_line_in_english() -> None:
    line = _alert().text("2026-09-01 – 2026-09-30", channel_label=str.title)
    assert line == (
        "First response time (live) (Chat): 45 s vs target 30 s, n = 12,345, P(misses by more "
        "than the tolerance) > 99 % — 2026-09-01 – 2026-09-30"
    )


def test_alert_line_in_swedish_with_a_share_and_all_channels() -> None:
    a = _alert(unit="share", value=0.708, target=0.8, channel=None, p_misses=0.93)
    line = a.text("p", lang="sv", label="Lösta vid första kontakt")
    assert line == (
        f"Lösta vid första kontakt (alla kanaler): 70,8 % mot målet 80,0 %, n = 12{NBSP}345, "
        "P(missar med mer än toleransen) = 93 % — p"
    )


def test_no_alert_line_in_both_languages() -> None:
    assert no_alert_text("x") == "x: no KPI misses its target (P ≥ 0.9)"
    assert no_alert_text("x", "sv") == "x: inget nyckeltal missar sitt mål (P ≥ 0,9)"


def test_overview_report_in_swedish_has_swedish_numbers(sample_store, tmp_path) -> None:
    from datetime import date

    from dashboard.cli.main import main
    from metrics.catalogue import CATALOGUE
    from metrics.periods import overview
    from metrics.units import format_count, format_value

    out = tmp_path / "oversikt.html"
    db = str(sample_store.path)
    assert main(["report", "overview", "--db", db, "--out", str(out), "--lang", "sv"]) == 0
    text = out.read_text(encoding="utf-8")
    compare, _ = overview(sample_store, date(2026, 9, 1), date(2026, 10, 1))
    for r in compare.filter(compare["kpi"].is_in(["fcr", "nps", "aht"])).iter_rows(named=True):
        shown = format_value(r["value"], CATALOGUE[r["kpi"]].unit, lang="sv")
        assert f"<td class='num'>{shown}</td>" in text, r["kpi"]
        assert f"<td class='num'>{format_count(r['n'], lang='sv')}</td>" in text
    assert "," in format_value(0.5, "share", lang="sv") and "Telefon" in text  # channel words
