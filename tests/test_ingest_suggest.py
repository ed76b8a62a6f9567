"""metrics/ingest/suggest.py: value shapes, name scores, column suggestions and the mapping
dict the Data page's editor builds; expectations worked out by hand from the samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.ingest import IngestError, preview_file
from metrics.ingest.head import file_head
from metrics.ingest.mapping import load_mapping
from metrics.ingest.suggest import (
    SHAPE_SHARE,
    Shape,
    build_mapping,
    name_score,
    ranked_sources,
    shapes_of,
    suggest_columns,
    suggest_constant,
    value_shape,
)

EXPORTS = Path(__file__).resolve().parents[1] / "sample_data" / "exports"


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["2026-03-05 14:02", "2026-03-06T10:00:00Z", "05/03/2026 09:15"], "datetime"),
        (["2026-03-05", "25/12/2010", "20100112"], "date"),
        (["14:02", "09:30", "23:59"], "time"),
        (["0:05:30", "00:12:00", "0:00:45"], "duration"),
        (["1:15:00", "25:10:00", "0:01:00"], "duration"),  # an hour past 23: not a time of day
        (["1899-12-31 00:05:30", "1899-12-30 00:00:45"], "duration"),  # Excel time cells
        (["ann@example.se", "bo@firma.com"], "email"),
        (["yes", "no", "Ja", "nej"], "bool"),
        (["Telefon", "Chatt", "e-mail", "phone"], "channel"),
        (["Fakturafråga", "billing", "technical"], "issue_type"),
        (["12", "300", "-4"], "integer"),
        (["12,5", "3.25", "1 234,50"], "number"),
        (["T-1001", "T-1002", "CC/77", "K501"], "id"),
        (["Gold", "Silver", "Gold", "Gold", "Silver", "Gold"], "category"),
        (["The agent was kind", "Slow answer", "Fine thanks", "Could be better"], "text"),
        ([None, "", "  "], "empty"),
    ],
)
def test_value_shape_of_hand_written_samples(values, kind):
    assert value_shape(values).kind == kind


def test_value_shape_tolerates_one_stray_value_in_five_but_not_two():
    dates = ["2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08"]
    assert SHAPE_SHARE == 0.8
    assert value_shape([*dates, "n/a"]).kind == "date"  # 4 of 5 = 0.8
    assert value_shape([*dates[:3], "n/a", "-"]).kind != "date"  # 3 of 5


def test_value_shape_integers_carry_their_range():
    assert value_shape(["9", "10", "0", "7"]) == Shape("integer", 0.0, 10.0, 1.0)


def test_name_score_alias_exact_contained_and_unrelated():
    assert name_score("Ticket ID", "contact_id") == 1.0  # a built-in alias
    assert name_score("created_at", "opened_at") == 1.0  # case and underscores ignored
    assert name_score("Wait (sec)", "wait_s") == 0.7  # holds the alias "wait"
    assert name_score("Client", "customer_id") == 0.7  # inside the alias "client id"
    assert name_score("Foo", "contact_id") == 0.0
    assert name_score("", "contact_id") == 0.0


def test_suggest_columns_by_name_and_by_shape_each_file_column_once():
    samples = {
        "Ärende": ["T1", "T2", "T3"],  # Swedish alias of contact_id
        "När": ["05/03/2026 14:02", "06/03/2026 10:00", "07/03/2026 11:00"],  # shape only
        "Väg": ["Telefon", "Chatt", "Telefon"],  # shape only: channel words
        "Väntan (s)": ["12", "30", "45"],  # no name, plain integers: not guessed
        "Kund": ["K1", "K2", "K1"],  # inside the alias "kundid"
        "Samtal": ["0:03:10", "0:01:00", "0:00:30"],  # durations, inside "samtalstid"
        # durations without a name: wait, first response and handle fit alike; the first
        # seconds column in the table's order takes it, and a file column is used once
        "Längd": ["0:00:20", "0:01:05", "0:00:10"],
    }
    got = suggest_columns("contacts", shapes_of(samples))
    assert {c: s.source for c, s in got.items()} == {
        "contact_id": "Ärende",
        "opened_at": "När",
        "channel": "Väg",
        "customer_id": "Kund",
        "handle_s": "Samtal",
        "wait_s": "Längd",
    }
    assert got["opened_at"].why == "shape" and got["contact_id"].why == "name and shape"
    assert got["channel"].score == 0.7 and got["opened_at"].score == 0.6


def test_suggest_columns_prefers_the_score_scale_the_range_fills():
    # 1-5 fits csat, ces (1-7) and nps (0-10); csat's span is the tightest fit.
    samples = {"Q1": ["1", "5", "3", "4"], "Q2": ["0", "10", "9", "6"], "Q3": ["1", "7", "2"]}
    got = {c: s.source for c, s in suggest_columns("surveys", shapes_of(samples)).items()}
    assert got["csat"] == "Q1" and got["nps"] == "Q2" and got["ces"] == "Q3"


def test_suggest_columns_doubts_a_name_over_values_that_do_not_fit():
    samples = {"Created": ["ann@example.se", "bo@firma.com"], "Logged": ["2026-03-05 10:00"] * 2}
    got = suggest_columns("contacts", shapes_of(samples))
    assert got["opened_at"].source == "Logged"  # 0.6 by shape beats 1.0 x 0.5 by name


def test_ranked_sources_puts_the_best_fit_first_then_file_order():
    samples = {"A": ["x y z"], "B": ["2026-03-05 10:00"], "C": ["q r"], "Created": ["2026-01-01"]}
    assert ranked_sources("contacts", "opened_at", shapes_of(samples)) == ["Created", "B", "A", "C"]


@pytest.mark.parametrize(
    ("file_name", "column", "want"),
    [
        ("phone_calls_march.csv", "channel", "phone"),
        ("Chatt-logg.xlsx", "channel", "chat"),
        ("export.csv", "channel", None),
        ("phone_calls.csv", "team", None),
    ],
)
def test_suggest_constant_reads_the_channel_from_the_file_name(file_name, column, want):
    assert suggest_constant("contacts", column, file_name) == want


def test_build_mapping_one_column_to_many_constants_formats_and_dayfirst():
    spec = build_mapping(
        "surveys",
        {"response_id": "Call Id", "contact_id": "Call Id", "answered_at": "When", "csat": "Sat"},
        {"comment": "phone survey"},
        formats={"answered_at": "%d/%m/%Y %H:%M"},
        dayfirst=True,
    )
    assert spec == {
        "table": "surveys",
        "dayfirst": True,
        "columns": {"Call Id": ["response_id", "contact_id"], "When": "answered_at", "Sat": "csat"},
        "constants": {"comment": "phone survey"},
        "formats": {"answered_at": "%d/%m/%Y %H:%M"},
    }
    preset = load_mapping(spec, "surveys")
    assert preset.aliases["response_id"] == ("Call Id",) == preset.aliases["contact_id"]
    # to_toml -> TOML -> the same Preset (the Data page's download, read by cx ingest).
    import tomllib

    again = load_mapping(tomllib.loads(preset.to_toml()), "surveys")
    assert (again.aliases, again.constants, again.formats, again.dayfirst) == (
        preset.aliases,
        preset.constants,
        preset.formats,
        True,
    )


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"formats": {"opened_at": "dd/mm/yyyy"}}, "[formats] opened_at = 'dd/mm/yyyy'"),
        ({"formats": {"wait_s": "%S"}}, "[formats] 'wait_s' is not a date or time column"),
        ({"constants": {"colour": "red"}}, "[constants] 'colour' is not a column of contacts"),
    ],
)
def test_build_mapping_refuses_a_bad_choice_in_one_line(kwargs, needle):
    sources = {"contact_id": "Ref"}
    constants = kwargs.pop("constants", None)
    with pytest.raises(IngestError) as err:
        build_mapping("contacts", sources, constants, **kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("file", "table", "preset"),
    [
        ("qualtrics_survey.csv", "surveys", "qualtrics"),  # three header rows
        ("customers.xlsx", "customers", None),
        ("swedish_contacts.csv", "contacts", "swedish"),  # cp1252, ';'
    ],
)
def test_file_head_has_the_headers_preview_maps(file, table, preset):
    data = (EXPORTS / file).read_bytes()
    head = file_head(data, file_name=file, table=table, preset=preset, rows=5)
    preview = preview_file(data, file_name=file, table=table, preset=preset)
    assert list(head) == [source for source, _ in preview.mapping]
    assert all(len(v) == min(5, preview.rows_read) for v in head.values())
