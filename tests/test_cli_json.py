"""The README's promise: every `cx` command prints JSON with --json (kpis and reports too)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.cli.main import build_parser
from dashboard.cli.main import main as cx


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from _commands(sub, (*path, name))


def test_every_command_takes_json():
    commands = dict(_commands(build_parser()))
    assert len(commands) > 25 and ("kpis",) in commands and ("report", "overview") in commands
    lacking = [
        " ".join(path)
        for path, p in commands.items()
        if "--json" not in {o for a in p._actions for o in a.option_strings}
    ]
    assert lacking == []


def test_kpis_json_is_format_json(sample_store, capsys):
    args = ["kpis", "--db", str(sample_store.path), "--kpi", "nps", "--kpi", "fcr"]
    args += ["--from", "2026-09-01", "--to", "2026-10-01"]
    assert cx([*args, "--json"]) == 0
    by_flag = json.loads(capsys.readouterr().out)
    assert cx([*args, "--format", "json"]) == 0
    assert by_flag == json.loads(capsys.readouterr().out)
    assert sorted(r["kpi"] for r in by_flag) == ["fcr", "nps"]
    assert all(r["n"] > 0 for r in by_flag)


def test_kpis_list_json_lists_the_catalogue(capsys):
    assert cx(["kpis", "--list", "--json"]) == 0
    names = {r["kpi"] for r in json.loads(capsys.readouterr().out)}
    assert {"nps", "fcr", "csat", "channel_mix"} <= names


def test_report_overview_json_names_the_file_and_period(sample_store, tmp_path: Path, capsys):
    out = tmp_path / "overview.html"
    rc = cx(["report", "overview", "--db", str(sample_store.path), "--out", str(out), "--json"])
    assert rc == 0
    told = json.loads(capsys.readouterr().out)
    assert told["out"] == str(out) and out.read_text(encoding="utf-8").startswith("<!")
    assert told["date_from"] < told["date_to"] and told["language"] in ("en", "sv")


@pytest.mark.parametrize("flag", [["--json"], []])
def test_experiment_report_json_or_text(sample_store, tmp_path: Path, capsys, flag):
    out = tmp_path / "readout.html"
    args = ["experiment", "report", "callback_vs_queue", "--db", str(sample_store.path)]
    assert cx([*args, "--out", str(out), *flag]) == 0
    text = capsys.readouterr().out
    if flag:
        told = json.loads(text)
        assert told == {
            "experiment_id": "callback_vs_queue",
            "out": str(out),
            "bytes": out.stat().st_size,
        }
    else:
        assert text.startswith(f"wrote {out}")
