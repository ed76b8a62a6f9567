"""`cx kpis`: JSON/CSV/table output, --list, date bounds, errors, and the sample world."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from dashboard.cli.main import main
from metrics.catalogue import KPI_NAMES
from metrics.store import Store, open_store
from metrics.survey_links import refresh_survey_links


def _world(path: Path) -> None:
    """Two phone contacts (one escalated), one chat, and three survey answers."""
    with open_store(path) as s, s.write() as cur:
        cur.execute(
            "INSERT INTO contacts (contact_id, customer_id, channel, issue_type, opened_at, "
            "escalated) VALUES "
            "('c1', 'a', 'phone', 'billing', TIMESTAMP '2026-03-01 00:00:00', TRUE), "
            "('c2', 'b', 'phone', 'order', TIMESTAMP '2026-03-15 10:00:00', FALSE), "
            "('c3', 'b', 'chat', 'order', TIMESTAMP '2026-04-01 00:00:00', FALSE)"
        )
        cur.execute(
            "INSERT INTO surveys (response_id, contact_id, answered_at, nps, csat) VALUES "
            "('r1', 'c1', TIMESTAMP '2026-03-02 00:00:00', 10, 5), "
            "('r2', 'c2', TIMESTAMP '2026-03-16 00:00:00', 0, 2), "
            "('r3', 'c3', TIMESTAMP '2026-04-02 00:00:00', 9, 4)"
        )
        refresh_survey_links(cur)  # as ingest does after each batch


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["kpis", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cx.duckdb"
    _world(path)
    return path


def test_cli_kpis_json_has_contract_keys_by_dim_and_period(db: Path, capsys) -> None:
    code, out, _ = _run(
        capsys,
        "--db",
        str(db),
        "--kpi",
        "escalation_rate",
        "--by",
        "channel",
        "--grain",
        "month",
        "--format",
        "json",
    )
    assert code == 0
    rows = json.loads(out)
    assert set(rows[0]) == {
        "kpi",
        "value",
        "n",
        "ci_low",
        "ci_high",
        "target",
        "status",
        "p_meets",
        "p_misses",
        "small_sample",
        "reason",
        "channel",
        "period",
    }
    got = {(r["channel"], r["period"]): (r["value"], r["n"]) for r in rows}
    assert got == {("chat", "2026-04-01"): (0.0, 1), ("phone", "2026-03-01"): (0.5, 2)}
    assert all(r["small_sample"] is True and r["status"] is None for r in rows)


def test_cli_kpis_from_inclusive_to_exclusive_and_filter(db: Path, capsys) -> None:
    code, out, _ = _run(
        capsys,
        "--db",
        str(db),
        "--kpi",
        "escalation_rate",
        "--from",
        "2026-03-01",
        "--to",
        "2026-04-01",
        "--format",
        "json",
    )
    assert code == 0
    (row,) = json.loads(out)
    assert (row["n"], row["value"]) == (2, 0.5)
    code, out, _ = _run(
        capsys,
        "--db",
        str(db),
        "--kpi",
        "nps",
        "--filter",
        "channel=phone",
        "--filter",
        "channel=chat",
        "--filter",
        "issue_type=order",
        "--format",
        "json",
    )
    (row,) = json.loads(out)
    assert (row["n"], row["value"], row["ci_low"]) == (2, 0.0, pytest.approx(-100.0))


def test_cli_kpis_json_nulls_for_undefined_values(db: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(db), "--kpi", "aht", "--format", "json")
    (row,) = json.loads(out)
    assert row["value"] is None and row["n"] == 0 and row["ci_low"] is None


def test_cli_kpis_csv_and_table(db: Path, capsys) -> None:
    code, out, _ = _run(capsys, "--db", str(db), "--kpi", "nps", "--kpi", "csat", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["kpi"] for r in rows] == ["nps", "csat"]
    assert float(rows[0]["value"]) == pytest.approx(100 * (2 / 3 - 1 / 3))
    assert rows[1]["n"] == "3" and float(rows[1]["value"]) == pytest.approx(2 / 3)
    code, out, _ = _run(capsys, "--db", str(db), "--kpi", "nps", "--by", "channel")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["kpi", "value", "n"] and "channel" in lines[0]
    assert any(line.split()[0] == "nps" and "phone" in line for line in lines[1:])


def test_cli_kpis_list_prints_definitions_and_targets(capsys) -> None:
    code, out, _ = _run(capsys, "--list")
    assert code == 0
    for name in KPI_NAMES:
        assert f"\n{name}  (" in f"\n{out}"
    assert "Bain 2020" in out and "75-85 %" in out
    code, out, _ = _run(capsys, "--list", "--format", "json")
    assert [r["kpi"] for r in json.loads(out)] == list(KPI_NAMES)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kpi", "npz"], "unknown KPI npz; valid KPIs: nps, csat"),
        (["--by", "colour"], "unknown dimension colour; valid: channel, issue_type"),
        (["--filter", "planet=mars"], "unknown filter dimension planet"),
        (["--filter", "channel"], "--filter: expected DIM=VALUE, got 'channel'"),
        (["--from", "2026-13-01"], "--from: expected a date YYYY-MM-DD, got '2026-13-01'"),
        (["--kpi", "churn_rate", "--by", "channel"], "churn_rate cannot be cut or filtered by"),
    ],
)
def test_cli_kpis_bad_input_is_one_clear_line(
    db: Path, capsys, argv: list[str], message: str
) -> None:
    code, out, err = _run(capsys, "--db", str(db), *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("cx kpis: error: ")


def test_cli_kpis_missing_store_says_what_to_do(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "--db", str(tmp_path / "none.duckdb"))
    assert code == 2 and "no store at" in err and "cx sample" in err


def test_cli_kpis_sample_store_every_kpi_has_data(sample_store: Store, capsys) -> None:
    path = sample_store.path
    sample_store.close()
    code, out, err = _run(capsys, "--db", str(path), "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert {r["kpi"] for r in rows} == set(KPI_NAMES)
    empty = sorted({r["kpi"] for r in rows if not r["n"]})
    assert empty == [], f"KPIs without data in the sample world: {empty}"
    assert all(r["value"] is not None for r in rows)


def test_cli_kpis_quarter_grain_pools_the_quarter(db: Path, capsys) -> None:
    code, out, _ = _run(
        capsys,
        "--db",
        str(db),
        "--kpi",
        "escalation_rate",
        "--grain",
        "quarter",
        "--format",
        "json",
    )
    assert code == 0
    # March (phone, 1 of 2) is Q1; April (chat, 0 of 1) is Q2.
    got = {r["period"]: (r["value"], r["n"]) for r in json.loads(out)}
    assert got == {"2026-01-01": (0.5, 2), "2026-04-01": (0.0, 1)}
