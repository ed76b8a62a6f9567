"""`cx report overview` (self-contained HTML, the Overview's numbers) and `cx alerts check`."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from dashboard.cli.main import main
from dashboard.figures.kpi import format_value
from metrics.alerts import check_alerts
from metrics.catalogue import CATALOGUE
from metrics.periods import default_period, overview
from metrics.store import Store
from metrics.targets import set_target
from metrics.units import format_delta

PERIOD = (date(2026, 9, 1), date(2026, 10, 1))


def test_default_period_is_the_last_full_month_of_the_sample(sample_store: Store) -> None:
    assert default_period(sample_store) == PERIOD


def test_report_is_self_contained_and_shows_the_overview_numbers(
    sample_store: Store, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "overview.html"
    assert main(["report", "overview", "--db", str(sample_store.path), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"']?https?:", text)  # nothing fetched
    compare, _ = overview(sample_store, *PERIOD)
    for r in compare.filter(compare["kpi"].is_in(["fcr", "nps", "aht"])).iter_rows(named=True):
        assert f"<td class='num'>{format_value(r['value'], CATALOGUE[r['kpi']].unit)}</td>" in text
    assert "<h1>Overview</h1>" in text and "2026-09-01 – 2026-09-30" in text


def test_report_compares_with_the_window_the_page_would(
    sample_store: Store, tmp_path: Path, capsys
) -> None:
    """--compare year: the changes against September 2025, as the Overview's ?compare=year."""
    out = tmp_path / "year.html"
    args = ["report", "overview", "--db", str(sample_store.path), "--out", str(out)]
    assert main([*args, "--compare", "year", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert (said["compare"], said["compared_from"], said["compared_to"]) == (
        "year",
        "2025-09-01",
        "2025-10-01",
    )
    text = out.read_text(encoding="utf-8")
    assert "compared with 2025-09-01 – 2025-09-30" in text
    year, _ = overview(sample_store, *PERIOD, comparison="year")
    previous, _ = overview(sample_store, *PERIOD)
    fcr = year.filter(year["kpi"] == "fcr").row(0, named=True)
    before = previous.filter(previous["kpi"] == "fcr").row(0, named=True)
    assert fcr["delta"] != before["delta"]  # a different window, a different change
    assert format_delta(fcr["delta"], "share", lang="en", like=fcr["value"]) in text


def test_cli_choices_written_out_agree_with_the_library() -> None:
    """`cx report overview --compare` and `cx kpis --grain` spell their choices out (no heavy
    import at every command's start): they must stay the library's."""
    import argparse

    from dashboard.cli import kpis, report
    from metrics.catalogue import GRAINS
    from metrics.periods import COMPARISONS

    assert report.COMPARISONS == COMPARISONS
    parser = argparse.ArgumentParser()
    kpis.register(parser.add_subparsers())
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    grain = next(a for a in sub.choices["kpis"]._actions if a.dest == "grain")
    assert tuple(grain.choices) == GRAINS


def test_report_in_swedish_has_the_swedish_title(sample_store: Store, tmp_path: Path) -> None:
    out = tmp_path / "oversikt.html"
    args = ["report", "overview", "--db", str(sample_store.path), "--out", str(out), "--lang"]
    assert main([*args, "sv"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "<h1>Översikt</h1>" in text and 'lang="sv"' in text and "Nyckeltal" in text


def test_report_refuses_a_bad_out_path_in_one_line(sample_store: Store, capsys) -> None:
    rc = main(["report", "overview", "--db", str(sample_store.path), "--out", "/nope/x.html"])
    assert rc == 2 and "--out: the folder /nope does not exist" in capsys.readouterr().err


def test_alerts_list_probable_misses_and_exit_1(sample_store: Store, capsys) -> None:
    result = check_alerts(sample_store)
    assert result is not None and result.alerts
    compare, by_channel = overview(sample_store, *PERIOD)
    expected = {
        (r["kpi"], None) for r in compare.iter_rows(named=True) if r["status"] == "misses"
    } | {
        (r["kpi"], r["channel"])
        for r in by_channel.iter_rows(named=True)
        if r["status"] == "misses" and not CATALOGUE[r["kpi"]].implicit_dim
    }
    assert {(a.kpi, a.channel) for a in result.alerts} == expected
    assert all(a.p_misses >= 0.9 for a in result.alerts)
    assert main(["alerts", "check", "--db", str(sample_store.path), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["date_from"] == "2026-09-01" and len(payload["alerts"]) == len(expected)


def test_alerts_exit_0_when_every_target_is_met(sample_store: Store, capsys) -> None:
    # Targets every KPI meets: the worst possible value on each scale (or 0 / huge).
    for name, kpi in CATALOGUE.items():
        if kpi.band_targets or kpi.implicit_dim:
            continue
        lo, hi = kpi.scale or (0.0, 1e9)
        set_target(sample_store, name, lo if kpi.direction == "higher" else hi)
    set_target(sample_store, "frt_live_median", 1e9, scope=("channel", "chat"))
    assert main(["alerts", "check", "--db", str(sample_store.path)]) == 0
    assert "no KPI misses its target" in capsys.readouterr().out


@pytest.mark.parametrize("cmd", [["alerts", "check"], ["report", "overview", "--out", "x.html"]])
def test_missing_store_is_one_line(tmp_path: Path, capsys, cmd: list[str]) -> None:
    assert main([*cmd, "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no store at" in capsys.readouterr().err
