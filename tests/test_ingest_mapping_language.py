"""The mapping language: every key of issue 10's TOML, each with the values it stores."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from metrics.ingest import IngestError, ingest_file
from metrics.store import Store

SHAPES = Path(__file__).resolve().parent / "data" / "ingest" / "shapes"


def _rows(store: Store, sql: str) -> list[tuple]:
    return store.cursor().execute(sql).fetchall()


CALL_LOG = {
    "dayfirst": True,
    "columns": {"Call Id": ["contact_id", "agent_id"], "Talk": "handle_s"},
    "constants": {"channel": "phone"},
    "combine": {"opened_at": ["Date", "Time"]},
    "durations": {"wait_s": {"from": "Call Time", "to": "Time Answered"}},
}


def test_columns_one_to_many_constants_combine_and_durations(store):
    report = ingest_file(
        store,
        SHAPES / "call_log_parts.csv",
        table="contacts",
        mapping=CALL_LOG,
        max_reject_share=1.0,
    )
    assert (report.inserted, report.rejected) == (2, 1)
    assert _rows(
        store,
        "SELECT contact_id, agent_id, channel, opened_at, wait_s, handle_s FROM contacts "
        "ORDER BY 1",
    ) == [
        ("X1", "X1", "phone", datetime(2026, 3, 5, 14, 2), 45.0, 190.0),
        # 23:59:50 to 00:00:20 crosses midnight: 30 s, not -86,370 s
        ("X2", "X2", "phone", datetime(2026, 3, 25, 9, 0), 30.0, 120.0),
    ]
    (reason,) = [r["reason"] for r in report.reasons]
    assert reason.startswith("wait_s '10:00:00 → later' is not a number of seconds")


def test_constant_satisfies_a_required_column(store):
    body = b"contact_id,opened_at\nA1,2026-03-05 14:02\n"
    mapping = {"constants": {"channel": "chat"}}
    report = ingest_file(store, body, file_name="c.csv", table="contacts", mapping=mapping)
    assert report.inserted == 1
    assert _rows(store, "SELECT channel FROM contacts") == [("chat",)]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"combine": {"wait_s": ["Date", "Time"]}}, "[combine] wait_s is not a timestamp column"),
        ({"combine": {"opened_at": "Date"}}, 'expected opened_at = ["Date column"'),
        ({"durations": {"wait_s": {"from": "A"}}}, "[durations] wait_s; expected wait_s = {"),
        ({"constants": {"nope": 1}}, "[constants] 'nope' is not a column of contacts"),
        ({"formats": {"wait_s": "%d"}}, "[formats] 'wait_s' is not a date or time column"),
        ({"dayfirst": "yes"}, "dayfirst 'yes'; expected true or false"),
    ],
)
def test_bad_sections_say_what_to_write(store, mapping, message):
    with pytest.raises(IngestError) as err:
        ingest_file(store, SHAPES / "call_log_parts.csv", table="contacts", mapping=mapping)
    assert message in str(err.value)


def test_combine_naming_a_column_the_file_lacks_is_refused(store):
    mapping = {"combine": {"opened_at": ["Date", "Clock"]}, "constants": {"channel": "phone"}}
    with pytest.raises(IngestError) as err:
        ingest_file(store, SHAPES / "call_log_parts.csv", table="contacts", mapping=mapping)
    assert "made from the file column 'Clock', which the file does not have" in str(err.value)


def test_preset_and_mapping_combine_and_the_mapping_wins(store):
    path = Path(__file__).resolve().parents[1] / "sample_data" / "exports"
    report = ingest_file(
        store,
        path / "intercom_conversations.csv",
        table="contacts",
        preset="intercom",
        mapping={"dayfirst": True, "values": {"channel": {"Fax": "email"}}},
        max_reject_share=1.0,
    )
    # The preset still maps the headers and drops names; the mapping reads 03/06 as 3 June
    # (so row 8's 13/09 loads) and maps Fax, leaving only row 6's -5 s first response.
    assert (report.inserted, report.rejected) == (9, 1)
    got = dict(_rows(store, "SELECT contact_id, opened_at FROM contacts"))
    assert got["ic-201"] == datetime(2026, 6, 3, 14, 2)
    assert got["ic-208"] == datetime(2026, 9, 13, 13, 15)
    assert report.pii["User name"] == "dropped"


def test_filter_leaves_rows_out_counted_as_filtered_not_rejected(store):
    mapping = {"filter": {"Status": ["deleted", "spam", ""]}}
    report = ingest_file(
        store, SHAPES / "tickets_with_deleted.csv", table="contacts", mapping=mapping
    )
    assert (report.rows_read, report.inserted, report.rejected) == (2, 2, 0)
    assert _rows(store, "SELECT contact_id FROM contacts ORDER BY 1") == [("T1",), ("T5",)]
    assert "3 rows left out by [filter] on 'Status' (filtered, not rejected)" in report.warnings


@pytest.mark.parametrize(
    "name", ["zendesk", "zendesk_api", "intercom", "intercom_api", "qualtrics", "swedish"]
)
def test_presets_round_trip_through_toml(name):
    import tomllib
    from dataclasses import replace

    from metrics.ingest import PRESETS
    from metrics.ingest.mapping import load_mapping

    preset = PRESETS[name]
    back = load_mapping(tomllib.loads(preset.to_toml()), preset.table)  # None: any table
    assert replace(back, name=preset.name) == preset


def test_call_log_mapping_round_trips_through_toml():
    import tomllib

    from metrics.ingest.mapping import load_mapping

    mapping = load_mapping(CALL_LOG, "contacts")
    assert load_mapping(tomllib.loads(mapping.to_toml()), "contacts") == mapping


def test_readme_and_example_mapping_document_every_key():
    """Every key the loader accepts is in the reference table and in the example mapping."""
    import re

    from metrics.ingest.mapping import MAPPING_KEYS

    root = Path(__file__).resolve().parents[1]
    readme = (root / "metrics" / "ingest" / "README.md").read_text(encoding="utf-8")
    example = (root / "sample_data" / "exports" / "example_mapping.toml").read_text("utf-8")
    for key in MAPPING_KEYS:
        assert re.search(rf"^\| `\[?{key}[\].`]", readme, re.MULTILINE) or f"`{key}`" in readme, key
        pattern = rf"^#? ?(\[{key}[\].]|{key} = )"
        assert re.search(pattern, example, re.MULTILINE), f"{key} missing from example_mapping.toml"


def test_commented_sections_of_the_example_mapping_load():
    """The example's commented sections are valid mapping TOML: each [section] block,
    uncommented on its own (with its table), loads."""
    import tomllib

    from metrics.ingest.mapping import load_mapping

    root = Path(__file__).resolve().parents[1]
    text = (root / "sample_data" / "exports" / "example_mapping.toml").read_text("utf-8")
    blocks: list[list[str]] = []
    for line in text.splitlines():
        body = line[2:] if line.startswith("# ") else None
        if body is None or not body.strip():
            continue
        if body.startswith("["):
            blocks.append([body])
        elif blocks and (body[:1].isalpha() or body[:1] == '"') and " = " in body:
            blocks[-1].append(body)
    assert len(blocks) >= 10
    for block in blocks:
        spec = tomllib.loads("\n".join(block))
        loads = []
        for table in ("contacts", "invoices", "surveys"):
            try:
                loads.append(load_mapping(spec, table))
            except Exception:  # noqa: BLE001 - a section meant for another table
                continue
        assert loads, block
